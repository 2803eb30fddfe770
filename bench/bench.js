'use strict';
// bench.js -- kue's benchmark, side by side with Kue 0.11.6, Bull, BullMQ and
// bee-queue.  Started by bench/run.sh, which builds the C parts, installs the
// peers and starts a private redis-server; see the Benchmarks section of README.md for the method.
//
// Environment: KUE_BUILD (absolute build dir), BENCH_REDIS_PORT,
// BENCH_RESULTS (directory for the JSON lines), BENCH_QUICK=1,
// BENCH_SYSTEMS (comma list, default all), BENCH_RUNS (override).
const fs = require('fs');
const os = require('os');
const net = require('net');
const path = require('path');
const { spawn, execFileSync } = require('child_process');

const here = __dirname;
const Redis = require(path.join(here, 'node_modules', 'ioredis'));

const build = process.env.KUE_BUILD;
const port = +process.env.BENCH_REDIS_PORT;
const resultsDir = process.env.BENCH_RESULTS || path.join(here, 'results');
const quick = process.env.BENCH_QUICK === '1';
const nproc = os.cpus().length;
const kbench = path.join(build, 'bench', 'kbench');
const supBin = path.join(build, 'bin', 'kue-supervisor');
const plugDir = path.join(build, 'bench', 'plugins');

const P = quick
  ? { runs: 1, n: 4000, nSingle: 1000, nC1: 1000, m: 100, k: 40, lo: 200, hi: 1000, nMon: 500, nDrain: 20000 }
  : { runs: 3, n: 10000, nSingle: 2000, nC1: 2000, m: 200, k: 100, lo: 300, hi: 1800, nMon: 1000, nDrain: 20000 };
if (process.env.BENCH_RUNS) P.runs = +process.env.BENCH_RUNS;

const SYSTEMS = [
  { id: 'kue', label: 'kue', db: 1, key: 'q:jobs:complete', set: false },
  { id: 'kue-node', label: 'Kue 0.11.6', adapter: 'kue', db: 2, key: 'q:jobs:complete', set: false },
  { id: 'bull', label: 'Bull', adapter: 'bull', db: 3, key: 'bull:bench:completed', set: false },
  { id: 'bullmq', label: 'BullMQ', adapter: 'bullmq', db: 4, key: 'bull:bench:completed', set: false },
  { id: 'bee', label: 'bee-queue', adapter: 'bee', db: 5, key: 'bq:bench:succeeded', set: true },
].filter((s) => !process.env.BENCH_SYSTEMS || process.env.BENCH_SYSTEMS.split(',').includes(s.id));

const hr = () => Number(process.hrtime.bigint()) / 1e6;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => process.stderr.write(a.join(' ') + '\n');

fs.mkdirSync(resultsDir, { recursive: true });
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const rawPath = path.join(resultsDir, `bench-${stamp}.jsonl`);
const raw = fs.createWriteStream(rawPath);
const records = [];
function record(run, sys, metric, value, unit, extra) {
  if (value === null || value === undefined || Number.isNaN(value)) return;
  const r = { run, system: sys.id, metric, value, unit, ...(extra || {}) };
  records.push(r);
  raw.write(JSON.stringify(r) + '\n');
}

// ---- processes --------------------------------------------------------------

function run(cmd, args, env) {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let so = '', se = '';
    p.stdout.on('data', (d) => (so += d));
    p.stderr.on('data', (d) => (se += d));
    p.on('close', (code) => (code === 0 ? resolve(so) : reject(new Error(`${cmd} ${args.join(' ')}: exit ${code}\n${se}`))));
  });
}
const runJSON = async (cmd, args, env) => JSON.parse((await run(cmd, args, env)).trim().split('\n').pop());
const nodePeer = (sys, args) => runJSON(process.execPath, [path.join(here, 'peers.js'), sys.adapter, ...args],
  { BENCH_REDIS_PORT: String(port), BENCH_REDIS_DB: String(sys.db) });
const redisUrl = (sys) => `redis://127.0.0.1:${port}/${sys.db}`;
const kb = (sys, args, env) => runJSON(kbench, [args[0], redisUrl(sys), 'q', ...args.slice(1)], env);

function rssKiB(pid) {
  try {
    const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? +m[1] : null;
  } catch { return null; }
}
function memKiB(pid) {
  const o = {};
  try {
    const st = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    for (const k of ['VmRSS', 'RssAnon', 'RssFile']) { const m = new RegExp(k + ':\\s+(\\d+)').exec(st); if (m) o[k] = +m[1]; }
    const m = /Pss:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    if (m) o.Pss = +m[1];
  } catch { /* gone */ }
  return o;
}
function childrenOf(pid) {
  const out = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const st = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
      if (+f[1] === pid) out.push(+d);
    } catch { /* gone */ }
  }
  return out;
}
const cmdline = (pid) => { try { return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' '); } catch { return ''; } };

// The kue supervisor with one [type] section; returns { proc, exited }.
let supSeq = 0;
function supervisor(sys, type, processes, concurrency, env) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kue-bench-'));
  const ini = path.join(dir, 'bench.ini');
  fs.mkdirSync(path.join(dir, 'run'));
  fs.writeFileSync(ini, [
    '[supervisor]', `plugins = ${plugDir}`, `run_dir = ${dir}/run`, 'shutdown_timeout = 10s', 'log_level = warn',
    '[redis]', `url = ${redisUrl(sys)}`, 'prefix = q',
    `[type ${type}]`, `processes = ${processes}`, `concurrency = ${concurrency}`, '',
  ].join('\n'));
  const proc = spawn(supBin, ['-c', ini], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr.on('data', (d) => { err += d; if (err.length > 1e5) err = err.slice(-5e4); });
  const exited = new Promise((r) => proc.on('exit', (code, sig) => r({ code, sig, at: hr() })));
  supSeq++;
  return { proc, exited, dir, err: () => err };
}
async function stopSupervisor(s) {
  s.proc.kill('SIGTERM');
  const e = await Promise.race([s.exited, sleep(15000).then(() => null)]);
  if (!e) { s.proc.kill('SIGKILL'); await s.exited; }
  fs.rmSync(s.dir, { recursive: true, force: true });
}
// Wait until the supervisor has `want` worker children connected (CLIENT LIST by db).
async function waitWorkers(sys, s, want) {
  const end = hr() + 10000;
  while (hr() < end) {
    const kids = childrenOf(s.proc.pid).filter((p) => /worker/.test(cmdline(p)));
    if (kids.length >= want) {
      const cl = await admin.client('LIST');
      // each worker holds three connections (commands, blocking, events)
      const n = cl.split('\n').filter((l) => l.includes(` db=${sys.db} `)).length;
      if (n >= want * 2) return kids;
    }
    await sleep(20);
  }
  throw new Error(`supervisor did not start its workers:\n${s.err()}`);
}

async function peerWorkers(sys, procs, conc) {
  const kids = [];
  for (let i = 0; i < procs; i++) {
    const p = spawn(process.execPath, [path.join(here, 'peers.js'), sys.adapter, 'work', String(conc)], {
      env: { ...process.env, BENCH_REDIS_PORT: String(port), BENCH_REDIS_DB: String(sys.db) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    p.ready = new Promise((r) => p.stdout.on('data', (d) => { if (String(d).includes('ready')) r(); }));
    p.exited = new Promise((r) => p.on('exit', r));
    kids.push(p);
  }
  return kids;
}
async function stopPeers(kids) {
  for (const k of kids) k.kill('SIGTERM');
  await Promise.all(kids.map((k) => Promise.race([k.exited, sleep(5000).then(() => k.kill('SIGKILL'))])));
}

// ---- Redis ------------------------------------------------------------------

let admin;
const pollers = {};
let pollCount = 0;
async function poller(sys) {
  if (!pollers[sys.db]) {
    pollers[sys.db] = new Redis({ host: '127.0.0.1', port, db: sys.db, enableAutoPipelining: false });
    await pollers[sys.db].ping();
  }
  return pollers[sys.db];
}
// Poll the completed set: { first, cFirst, done } (ms, hr clock).
async function waitDone(sys, n, timeoutMs = 120000) {
  const r = await poller(sys);
  let first = null, cFirst = 0;
  const end = hr() + timeoutMs;
  for (;;) {
    const c = sys.set ? await r.scard(sys.key) : await r.zcard(sys.key);
    pollCount++;
    const t = hr();
    if (c > 0 && first === null) { first = t; cFirst = c; }
    if (c >= n) return { first, cFirst, done: t, n };
    if (t > end) throw new Error(`${sys.id}: ${c}/${n} jobs completed after ${timeoutMs} ms`);
    await sleep(1);
  }
}
const rate = (w) => (w.done > w.first ? (w.n - w.cFirst) / ((w.done - w.first) / 1000) : null);
async function flush(sys) { const r = await poller(sys); await r.flushdb(); }

async function info() {
  const txt = await admin.info('all');
  const calls = {};
  let cpu = 0;
  for (const line of txt.split('\r\n')) {
    let m = /^cmdstat_([^:]+):calls=(\d+)/.exec(line);
    if (m) calls[m[1]] = +m[2];
    m = /^used_cpu_(sys|user):([\d.]+)/.exec(line);
    if (m) cpu += +m[2];
  }
  return { calls, cpu };
}
function infoDelta(a, b, exclude) {
  let total = 0;
  for (const [c, v] of Object.entries(b.calls)) {
    let d = v - (a.calls[c] || 0);
    if (['info', 'config|resetstat', 'client|list', 'flushdb', 'select', 'ping'].includes(c)) continue;
    if (exclude[c]) d -= exclude[c];
    total += Math.max(0, d);
  }
  return { total, cpu: b.cpu - a.cpu };
}

// MONITOR: count commands sent by clients (not from scripts), except the poller's.
function monitor(skipPort) {
  const sock = net.connect(port, '127.0.0.1');
  const st = { client: 0, script: 0, byCmd: {} };
  let buf = '';
  sock.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\r\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const m = /^\+[\d.]+ \[\d+ ([^\]]+)\] "([^"]*)"/.exec(line);
      if (!m) continue;
      if (m[1] === 'lua') { st.script++; continue; }
      if (m[1].endsWith(`:${skipPort}`)) continue;
      const c = m[2].toLowerCase();
      if (['monitor', 'info', 'client', 'flushdb'].includes(c)) continue;
      st.client++;
      st.byCmd[c] = (st.byCmd[c] || 0) + 1;
    }
  });
  sock.write('MONITOR\r\n');
  return { st, stop: () => sock.destroy(), ready: sleep(100) };
}

// ---- phases -----------------------------------------------------------------

async function enqueue(sys, mode, n) {
  if (sys.id === 'kue') return (await kb(sys, ['enqueue', 'echo', mode, String(n), '50'])).secs;
  const r = await nodePeer(sys, ['enqueue', mode, String(n)]);
  return r.secs;
}
async function fill(sys, n) {
  if (sys.id === 'kue') await kb(sys, ['enqueue', 'echo', 'bulk', String(n)]);
  else await nodePeer(sys, ['fill', String(n)]);
}
// Start workers on jobs already waiting; returns the waitDone figures and RSS.
async function processJobs(sys, procs, conc, n) {
  if (sys.id === 'kue') {
    const s = supervisor(sys, 'echo', procs, conc);
    try {
      const w = await waitDone(sys, n);
      const kids = childrenOf(s.proc.pid);
      const rss = { master: rssKiB(s.proc.pid), workers: kids.map(rssKiB).filter((x) => x),
        detail: { master: memKiB(s.proc.pid), workers: kids.map(memKiB) } };
      return { w, rss };
    } finally { await stopSupervisor(s); }
  }
  const kids = await peerWorkers(sys, procs, conc);
  try {
    const w = await waitDone(sys, n);
    return { w, rss: { master: null, workers: kids.map((k) => rssKiB(k.pid)).filter((x) => x) } };
  } finally { await stopPeers(kids); }
}

async function latency(sys) {
  if (sys.id === 'kue') {
    const f = path.join(os.tmpdir(), `kue-bench-stamps-${process.pid}-${supSeq}`);
    fs.writeFileSync(f, '');
    const s = supervisor(sys, 'stamp', 1, 1, { KUE_BENCH_STAMPS: f });
    try {
      await waitWorkers(sys, s, 1);
      return await kb(sys, ['latency', 'stamp', String(P.m), f]);
    } finally { await stopSupervisor(s); fs.rmSync(f, { force: true }); }
  }
  return nodePeer(sys, ['latency', String(P.m)]);
}
async function delayed(sys) {
  if (sys.id === 'kue') {
    const f = path.join(os.tmpdir(), `kue-bench-stamps-${process.pid}-${supSeq}`);
    fs.writeFileSync(f, '');
    const s = supervisor(sys, 'stamp', 1, 50, { KUE_BENCH_STAMPS: f });
    try {
      await waitWorkers(sys, s, 1);
      return await kb(sys, ['delayed', 'stamp', String(P.k), String(P.lo), String(P.hi), f]);
    } finally { await stopSupervisor(s); fs.rmSync(f, { force: true }); }
  }
  return nodePeer(sys, ['delayed', String(P.k), String(P.lo), String(P.hi)]);
}
async function drain(sys) {
  if (sys.id === 'kue') {
    await fill(sys, P.nDrain);
    const s = supervisor(sys, 'echo', nproc, 50);
    const r = await poller(sys);
    while ((await r.zcard(sys.key)) < P.nDrain / 4) await sleep(1);
    const t = hr();
    s.proc.kill('SIGTERM');
    const e = await s.exited;
    fs.rmSync(s.dir, { recursive: true, force: true });
    const active = await r.zcard('q:jobs:active');
    return { secs: (e.at - t) / 1000, code: e.code, active_left: active };
  }
  return nodePeer(sys, ['drain', String(P.nDrain), '50']);
}
const q = (v, p) => (v.length ? v[Math.min(v.length - 1, Math.floor(p * v.length))] : null);

async function oneRun(runNo, sys) {
  const t0 = hr();
  // single adds
  await flush(sys);
  record(runNo, sys, 'enqueue_single', P.nSingle / await enqueue(sys, 'single', P.nSingle), 'jobs/s');
  // concurrent adds + one process at concurrency 50, with Redis counters around both
  await flush(sys);
  let pc0 = pollCount;
  const i0 = await info();
  record(runNo, sys, 'enqueue_concurrent', P.n / await enqueue(sys, 'concurrent', P.n), 'jobs/s');
  const p50 = await processJobs(sys, 1, 50, P.n);
  const i1 = await info();
  record(runNo, sys, 'process_1x50', rate(p50.w), 'jobs/s');
  const d = infoDelta(i0, i1, { [sys.set ? 'scard' : 'zcard']: pollCount - pc0 });
  record(runNo, sys, 'redis_cmds_per_job', d.total / P.n, 'cmds', { note: 'all commands, scripts included' });
  record(runNo, sys, 'redis_cpu_per_job', (d.cpu / P.n) * 1e6, 'us');
  // bulk adds
  await flush(sys);
  const bs = await enqueue(sys, 'bulk', P.n);
  if (bs !== null) record(runNo, sys, 'enqueue_bulk', P.n / bs, 'jobs/s');
  // one process at concurrency 1
  await flush(sys);
  await fill(sys, P.nC1);
  record(runNo, sys, 'process_1x1', rate((await processJobs(sys, 1, 1, P.nC1)).w), 'jobs/s');
  // all cores
  await flush(sys);
  await fill(sys, P.n);
  const a0 = await info();
  const pall = await processJobs(sys, nproc, 50, P.n);
  const a1 = await info();
  record(runNo, sys, 'redis_cpu_per_job_process', ((a1.cpu - a0.cpu) / P.n) * 1e6, 'us', { note: 'claim+complete only, all processes' });
  record(runNo, sys, 'process_all', rate(pall.w), 'jobs/s', { processes: nproc, concurrency: 50 });
  if (pall.rss.master) record(runNo, sys, 'rss_master', pall.rss.master / 1024, 'MiB', pall.rss.detail && { kib: pall.rss.detail.master });
  if (pall.rss.workers.length) record(runNo, sys, 'rss_worker', Math.max(...pall.rss.workers) / 1024, 'MiB', pall.rss.detail && { kib: pall.rss.detail.workers });
  // client commands per job (MONITOR; a small separate pass, as MONITOR slows Redis)
  await flush(sys);
  const pr = await poller(sys);
  const mon = monitor(pr.stream.localPort);
  await mon.ready;
  await enqueue(sys, 'concurrent', P.nMon);
  await processJobs(sys, 1, 50, P.nMon);
  await sleep(100);
  mon.stop();
  record(runNo, sys, 'client_cmds_per_job', mon.st.client / P.nMon, 'cmds',
    { script_cmds_per_job: mon.st.script / P.nMon, by_command: mon.st.byCmd });
  // latency through an idle worker
  await flush(sys);
  const lat = await latency(sys);
  record(runNo, sys, 'lat_start_p50', q(lat.start_ms, 0.5), 'ms', { samples: lat.start_ms.length });
  record(runNo, sys, 'lat_start_p99', q(lat.start_ms, 0.99), 'ms');
  record(runNo, sys, 'lat_complete_p50', q(lat.complete_ms, 0.5), 'ms', { samples: lat.complete_ms.length });
  record(runNo, sys, 'lat_complete_p99', q(lat.complete_ms, 0.99), 'ms');
  // promotion lag
  await flush(sys);
  const dl = await delayed(sys);
  record(runNo, sys, 'promo_p50', q(dl.lag_ms, 0.5), 'ms', { samples: dl.lag_ms.length, of: P.k });
  record(runNo, sys, 'promo_p99', q(dl.lag_ms, 0.99), 'ms');
  // drain under load
  await flush(sys);
  const dr = await drain(sys);
  record(runNo, sys, 'drain', dr.secs * 1000, 'ms', dr);
  await flush(sys);
  log(`  ${sys.label} run ${runNo}: ${((hr() - t0) / 1000).toFixed(1)} s`);
}

// ---- report -----------------------------------------------------------------

const METRICS = [
  ['enqueue_single', 'enqueue, single adds', 'jobs/s', +1],
  ['enqueue_concurrent', 'enqueue, 50 in flight', 'jobs/s', +1],
  ['enqueue_bulk', 'enqueue, bulk (1000/call)', 'jobs/s', +1],
  ['process_1x1', 'process, 1 proc x conc 1', 'jobs/s', +1],
  ['process_1x50', 'process, 1 proc x conc 50', 'jobs/s', +1],
  ['process_all', `process, ${nproc} procs x conc 50`, 'jobs/s', +1],
  ['lat_start_p50', 'enqueue -> start p50', 'ms', -1],
  ['lat_start_p99', 'enqueue -> start p99', 'ms', -1],
  ['lat_complete_p50', 'enqueue -> complete p50', 'ms', -1],
  ['lat_complete_p99', 'enqueue -> complete p99', 'ms', -1],
  ['promo_p50', 'promotion lag p50', 'ms', -1],
  ['promo_p99', 'promotion lag p99', 'ms', -1],
  ['drain', 'drain under load', 'ms', -1],
  ['client_cmds_per_job', 'client commands/job', '', -1],
  ['redis_cmds_per_job', 'Redis commands/job (all)', '', -1],
  ['redis_cpu_per_job', 'Redis CPU/job (enqueue+process)', 'us', -1],
  ['redis_cpu_per_job_process', `Redis CPU/job (process, ${nproc} procs)`, 'us', -1],
  ['rss_master', 'RSS master', 'MiB', -1],
  ['rss_worker', 'RSS worker (max)', 'MiB', -1],
];

function fmt(v) {
  if (v === null || v === undefined) return '-';
  const a = Math.abs(v);
  if (a >= 1000) return String(Math.round(v));
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  return v.toFixed(3);
}
const median = (v) => { const s = [...v].sort((a, b) => a - b); const n = s.length; return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2; };

function table(header) {
  const lines = [];
  const cols = SYSTEMS.map((s) => s.label);
  const rows = [['metric', 'unit', ...cols, 'kue vs best peer']];
  for (const [id, label, unit, dir] of METRICS) {
    const cells = [], meds = {};
    for (const s of SYSTEMS) {
      const v = records.filter((r) => r.system === s.id && r.metric === id).map((r) => r.value);
      if (!v.length) { cells.push('n/a'); continue; }
      const m = median(v);
      meds[s.id] = m;
      cells.push(v.length > 1 ? `${fmt(m)} (${fmt(Math.min(...v))}-${fmt(Math.max(...v))})` : fmt(m));
    }
    const peers = Object.entries(meds).filter(([k]) => k !== 'kue').map(([, v]) => v);
    let ratio = '';
    if (meds.kue !== undefined && peers.length) {
      const best = dir > 0 ? Math.max(...peers) : Math.min(...peers);
      const x = dir > 0 ? meds.kue / best : best / meds.kue;
      ratio = Number.isFinite(x) ? `${x >= 10 ? x.toFixed(0) : x.toFixed(1)}x ${x >= 1 ? 'better' : 'worse'}` : '';
    }
    rows.push([label, unit, ...cells, ratio]);
  }
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  lines.push(...header);
  lines.push('');
  rows.forEach((r, j) => {
    lines.push('| ' + r.map((c, i) => (i < 2 ? c.padEnd(w[i]) : c.padStart(w[i]))).join(' | ') + ' |');
    if (j === 0) lines.push('|' + w.map((x, i) => (i < 2 ? ':' + '-'.repeat(x + 1) : '-'.repeat(x + 1) + ':')).join('|') + '|');
  });
  return lines.join('\n');
}

async function main() {
  admin = new Redis({ host: '127.0.0.1', port });
  const ver = (p) => require(path.join(here, 'node_modules', p, 'package.json')).version;
  const redisVer = /redis_version:(\S+)/.exec(await admin.info('server'))[1];
  const memGiB = (os.totalmem() / 2 ** 30).toFixed(1);
  let cpuModel = os.cpus()[0].model.trim();
  const header = [
    `kue bench (${quick ? 'quick: 1 run' : `median of ${P.runs} runs, min-max in brackets`}), ${new Date().toISOString()}`,
    `machine: ${nproc} cpus (${cpuModel}), ${memGiB} GiB, Linux ${os.release()}`,
    `redis ${redisVer} (TCP loopback, no persistence), node ${process.version}, kue ${kueVersion()}, kue(node) ${ver('kue')}, bull ${ver('bull')}, bullmq ${ver('bullmq')}, bee-queue ${ver('bee-queue')}, ioredis ${ver('ioredis')}`,
    `N=${P.n} (single adds ${P.nSingle}, conc 1: ${P.nC1}), latency ${P.m} jobs, promotion ${P.k} jobs due in ${P.lo}-${P.hi} ms, drain with ${P.nDrain} queued`,
  ];
  raw.write(JSON.stringify({ header, params: P, nproc, mem_gib: +memGiB }) + '\n');
  for (let r = 1; r <= P.runs; r++) {
    for (const s of SYSTEMS) {
      try { await oneRun(r, s); } catch (e) { log(`  ${s.label} run ${r} failed: ${e.message}`); raw.write(JSON.stringify({ run: r, system: s.id, error: e.message }) + '\n'); }
    }
  }
  const t = table(header);
  console.log(t);
  fs.writeFileSync(path.join(resultsDir, `bench-${stamp}.txt`), t + '\n');
  log(`raw figures: ${rawPath}`);
  raw.end();
  admin.disconnect();
  for (const p of Object.values(pollers)) p.disconnect();
}

function kueVersion() {
  try { return /KUE_VERSION\s+"([^"]+)"/.exec(fs.readFileSync(path.join(here, '..', 'include', 'kue', 'kue.h'), 'utf8'))[1] + ' (' + execFileSync('git', ['-C', here, 'rev-parse', '--short', 'HEAD']).toString().trim() + ')'; } catch { return '?'; }
}

main().catch((e) => { log(e.stack || e); process.exit(1); });

'use strict';
// bench.js -- kue's benchmark, side by side with Kue 0.11.6, Bull, BullMQ and
// bee-queue.  Started by bench/run.sh, which builds the C parts, installs the
// peers and starts a private redis-server; see bench/METHOD.md for the method
// (and the Benchmarks section of README.md for the other phases).
//
// Environment: KUE_BUILD (absolute build dir), BENCH_REDIS_PORT,
// BENCH_RESULTS (directory for the JSON lines), BENCH_QUICK=1,
// BENCH_SYSTEMS (comma list, default all), BENCH_RUNS (override),
// BENCH_PROCS (process counts of the processing rows, default 1..nproc),
// BENCH_SCALE=0|1 (scale rows; default on in full mode),
// BENCH_SCALE_BACKLOGS, BENCH_SCALE_M, BENCH_SCALE_COMPLETED (0: no such row).
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

// n: enqueue phases; nProc: the processing phases (after a discarded warm-up
// of `warm` jobs per process), at each process count in `procs`.
const P = quick
  ? { runs: 1, n: 4000, nProc: 6000, warm: 2000, nSingle: 1000, nC1: 1000, m: 100, k: 40, lo: 200, hi: 1000, nMon: 500, nDrain: 20000 }
  : { runs: 3, n: 10000, nProc: 30000, warm: 5000, nSingle: 2000, nC1: 2000, m: 200, k: 100, lo: 300, hi: 1800, nMon: 1000, nDrain: 20000 };
P.procs = Array.from({ length: nproc }, (_, i) => i + 1);
if (process.env.BENCH_RUNS) P.runs = +process.env.BENCH_RUNS;
if (process.env.BENCH_PROCS) P.procs = process.env.BENCH_PROCS.split(',').map(Number);
// Scale rows (kue only; full mode, or BENCH_SCALE=1): `win` windows of
// `m` jobs processed with each backlog still waiting behind them.
const S = {
  on: process.env.BENCH_SCALE ? process.env.BENCH_SCALE === '1' : !quick,
  backlogs: (process.env.BENCH_SCALE_BACKLOGS || '10000,100000,1000000').split(',').map(Number),
  m: +(process.env.BENCH_SCALE_M || 15000), win: 3, completed: +(process.env.BENCH_SCALE_COMPLETED || 1000000),
};

// key: the completed set (all types); tkey: the one of the processed type.
const SYSTEMS = [
  { id: 'kue', label: 'kue', db: 1, key: 'q:jobs:complete', tkey: 'q:jobs:echo:complete', set: false },
  { id: 'kue-node', label: 'Kue 0.11.6', adapter: 'kue', db: 2, key: 'q:jobs:complete', tkey: 'q:jobs:bench:complete', set: false },
  { id: 'bull', label: 'Bull', adapter: 'bull', db: 3, key: 'bull:bench:completed', set: false },
  { id: 'bullmq', label: 'BullMQ', adapter: 'bullmq', db: 4, key: 'bull:bench:completed', set: false },
  { id: 'bee', label: 'bee-queue', adapter: 'bee', db: 5, key: 'bq:bench:succeeded', set: true },
].map((s) => ({ tkey: s.key, ...s })).filter((s) => !process.env.BENCH_SYSTEMS || process.env.BENCH_SYSTEMS.split(',').includes(s.id));

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
    // every complete job kept, as the peers keep theirs: the scale rows
    // count them, and removing them is not processing (bench/METHOD.md)
    '[retention]', 'keep_complete = 0', 'keep_complete_for = 0',
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

function parseInfo(txt) {
  const calls = {}, usec = {};
  let cpu = 0, sys = 0;
  for (const line of txt.split('\r\n')) {
    let m = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line);
    if (m) { calls[m[1]] = +m[2]; usec[m[1]] = +m[3]; }
    m = /^used_cpu_(sys|user):([\d.]+)/.exec(line);
    if (m) { cpu += +m[2]; if (m[1] === 'sys') sys += +m[2]; }
  }
  return { calls, usec, cpu, sys };
}
async function info() { return parseInfo(await admin.info('all')); }
// One atomic sample: Redis CPU and command counters, and how many jobs the
// completed set of `sys` holds at that instant (MULTI: nothing runs between).
async function sample(sys, key) {
  const r = await (await poller(sys)).multi().call('INFO', 'cpu', 'commandstats')[sys.set ? 'scard' : 'zcard'](key || sys.tkey).exec();
  return { ...parseInfo(r[0][1]), count: r[1][1], t: hr() };
}
// Sample every 10 ms while jobs complete: from the first sample that sees a
// completed job (start-up left out) to the first that sees `n`.
async function measureWindow(sys, n, from = 1, timeoutMs = 300000) {
  let a = null, samples = 0;
  const end = hr() + timeoutMs;
  for (;;) {
    const x = await sample(sys);
    if (a) samples++;
    if (!a && x.count >= from) a = x;
    else if (a && x.count >= n) return perJob(a, x, samples);
    if (hr() > end) throw new Error(`${sys.id}: ${x.count}/${n} jobs completed after ${timeoutMs} ms`);
    await sleep(10);
  }
}
// Per-job figures between two samples: Redis CPU (us) and commands, the
// sampling's own commands (MULTI, SELECT, INFO, ZCARD/SCARD, EXEC) left out.
function perJob(a, b, samples) {
  const n = b.count - a.count;
  if (n <= 0) return null;
  const own = { multi: 1, info: 1, exec: 1, zcard: 1, scard: 1 };
  let cmds = 0;
  const by = {};
  for (const [c, v] of Object.entries(b.calls)) {
    let d = v - (a.calls[c] || 0);
    if (own[c]) d -= samples;
    if (d <= 0) continue;
    cmds += d;
    by[c] = { calls: +(d / n).toFixed(3), us: +(((b.usec[c] || 0) - (a.usec[c] || 0)) / n).toFixed(3) };
  }
  return { n, secs: (b.t - a.t) / 1000, rate: n / ((b.t - a.t) / 1000), cpu_us: ((b.cpu - a.cpu) / n) * 1e6,
    cpu_sys_us: ((b.sys - a.sys) / n) * 1e6, cmds: cmds / n, by };
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
// Untimed prefill.  Kue has no bulk add: its jobs are saved by kbench's
// bulk save with type "bench", which writes what Kue writes.
async function fill(sys, n) {
  if (sys.id === 'kue') await kb(sys, ['enqueue', 'echo', 'bulk', String(n)]);
  else if (sys.id === 'kue-node') await kb(sys, ['enqueue', 'bench', 'bulk', String(n)]);
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

// Processing at its best, P processes x 50: a discarded warm-up, then n
// jobs saved before the workers start; the rate from the library's own
// completion events (first to last), Redis CPU and commands per job from
// samples around the same jobs.
async function waitCount(sys, n) {
  const r = await poller(sys);
  const end = hr() + 300000;
  while ((sys.set ? await r.scard(sys.tkey) : await r.zcard(sys.tkey)) < n) {
    if (hr() > end) throw new Error(`${sys.id}: warm-up did not finish`);
    await sleep(10);
  }
}
async function processBest(sys, procs, n) {
  if (sys.id === 'kue') return kueProcess(sys, procs, n);
  await flush(sys);
  const kids = [];
  for (let i = 0; i < procs; i++) {
    const p = spawn(process.execPath, [path.join(here, 'peers.js'), sys.adapter, 'bench', '50', String(P.warm)], {
      env: { ...process.env, BENCH_REDIS_PORT: String(port), BENCH_REDIS_DB: String(sys.db) },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let buf = '';
    const lines = [];
    let waiter = null;
    p.stdout.on('data', (d) => {
      buf += d;
      let j;
      while ((j = buf.indexOf('\n')) >= 0) { lines.push(buf.slice(0, j)); buf = buf.slice(j + 1); if (waiter) waiter(); }
    });
    p.next = async (ms) => {
      const end = hr() + ms;
      while (!lines.length) {
        if (hr() > end) throw new Error(`${sys.id}: worker process silent for ${ms} ms`);
        await Promise.race([new Promise((r) => { waiter = r; }), sleep(100)]);
      }
      return lines.shift();
    };
    p.exited = new Promise((r) => p.on('exit', r));
    kids.push(p);
  }
  try {
    for (const k of kids) if ((await k.next(120000)) !== 'warm') throw new Error(`${sys.id}: no warm-up`);
    await fill(sys, n);
    for (const k of kids) k.stdin.write('go\n');
    const m = await measureWindow(sys, n);
    for (const k of kids) k.stdin.write('report\n');
    const reps = [];
    for (const k of kids) reps.push(JSON.parse(await k.next(10000)));
    const count = reps.reduce((x, r) => x + r.count, 0);
    const used = reps.filter((r) => r.count > 0);
    const first = Math.min(...used.map((r) => r.first_ms)), last = Math.max(...used.map((r) => r.last_ms));
    const rss = { master: null, workers: kids.map((k) => rssKiB(k.pid)).filter((x) => x) };
    return { rate: count >= n && last > first ? (count - 1) / ((last - first) / 1000) : null, count, m, rss };
  } finally {
    for (const k of kids) k.kill('SIGTERM');
    await Promise.all(kids.map((k) => Promise.race([k.exited, sleep(5000).then(() => k.kill('SIGKILL'))])));
  }
}
// kue: the warm-up is a whole supervisor run over P.warm jobs (discarded);
// completion is the "complete" message on q:events (kbench watch).
async function kueProcess(sys, procs, n) {
  await flush(sys);
  await fill(sys, P.warm);
  const sw = supervisor(sys, 'echo', procs, 50);
  try { await waitCount(sys, P.warm); } finally { await stopSupervisor(sw); }
  await flush(sys);
  await fill(sys, n);
  const wp = spawn(kbench, ['watch', redisUrl(sys), 'q', 'echo', String(n)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let wout = '';
  wp.stdout.on('data', (d) => (wout += d));
  const watch = new Promise((res, rej) => wp.on('exit', (code) => (code === 0 ? res(JSON.parse(wout.trim())) : rej(new Error(`kbench watch: exit ${code}`)))));
  watch.catch(() => {});
  const end = hr() + 10000;
  while (+(await admin.pubsub('NUMSUB', 'q:events'))[1] < 1) {
    if (hr() > end) { wp.kill('SIGKILL'); throw new Error('kbench watch did not subscribe'); }
    await sleep(5);
  }
  const s = supervisor(sys, 'echo', procs, 50);
  try {
    const m = await measureWindow(sys, n);
    // every completion was published before the set reached n; the watcher
    // has at most its socket buffer left to read
    const ev = await Promise.race([watch, sleep(10000).then(() => { wp.kill('SIGKILL'); throw new Error('kbench watch missed completions'); })]);
    const kids = childrenOf(s.proc.pid);
    const rss = { master: rssKiB(s.proc.pid), workers: kids.map(rssKiB).filter((x) => x),
      detail: { master: memKiB(s.proc.pid), workers: kids.map(memKiB) } };
    const rate = ev.count >= n && ev.last_ms > ev.first_ms ? (ev.count - 1) / ((ev.last_ms - ev.first_ms) / 1000) : null;
    return { rate, count: ev.count, m, rss };
  } finally { await stopSupervisor(s); }
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
  // concurrent adds, with Redis counters around them
  await flush(sys);
  let pc0 = pollCount;
  const i0 = await info();
  record(runNo, sys, 'enqueue_concurrent', P.n / await enqueue(sys, 'concurrent', P.n), 'jobs/s');
  const i1 = await info();
  const de = infoDelta(i0, i1, { [sys.set ? 'scard' : 'zcard']: pollCount - pc0 });
  // bulk adds
  await flush(sys);
  const bs = await enqueue(sys, 'bulk', P.n);
  if (bs !== null) record(runNo, sys, 'enqueue_bulk', P.n / bs, 'jobs/s');
  // one process at concurrency 1
  await flush(sys);
  await fill(sys, P.nC1);
  record(runNo, sys, 'process_1x1', rate((await processJobs(sys, 1, 1, P.nC1)).w), 'jobs/s');
  // processing at its best, at each process count
  let best = null;
  for (const procs of P.procs) {
    const r = await processBest(sys, procs, P.nProc);
    record(runNo, sys, `process_p${procs}`, r.rate, 'jobs/s', { processes: procs, concurrency: 50, events: r.count,
      polled_rate: r.m && r.m.rate, redis_cpu_us: r.m && r.m.cpu_us, redis_cmds: r.m && r.m.cmds, by_command: r.m && r.m.by });
    if (r.rate && (!best || r.rate > best.rate)) best = { ...r, procs };
  }
  if (best) {
    record(runNo, sys, 'process_best', best.rate, 'jobs/s', { processes: best.procs });
    record(runNo, sys, 'redis_cpu_per_job_process', best.m.cpu_us, 'us', { processes: best.procs, note: 'claim+complete only' });
    record(runNo, sys, 'redis_cpu_per_job', de.cpu / P.n * 1e6 + best.m.cpu_us, 'us',
      { enqueue_us: de.cpu / P.n * 1e6, note: 'enqueue (50 in flight) + processing at the best process count' });
    record(runNo, sys, 'redis_cmds_per_job', de.total / P.n + best.m.cmds, 'cmds', { enqueue: de.total / P.n, note: 'all commands, scripts included' });
    if (best.rss.master) record(runNo, sys, 'rss_master', best.rss.master / 1024, 'MiB', best.rss.detail && { kib: best.rss.detail.master });
    if (best.rss.master && best.rss.detail.master.Pss) record(runNo, sys, 'pss_master', best.rss.detail.master.Pss / 1024, 'MiB');
    if (best.rss.master && best.rss.detail.master.RssAnon) record(runNo, sys, 'anon_master', best.rss.detail.master.RssAnon / 1024, 'MiB');
    if (best.rss.workers.length) record(runNo, sys, 'rss_worker', Math.max(...best.rss.workers) / 1024, 'MiB', best.rss.detail && { kib: best.rss.detail.workers });
  }
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
  if (sys.id === 'kue') {
    // what an idle wake-up costs on this Redis and host with no queue at all
    // (bench/kbench.c wakefloor): the part of the latency no queue can cut
    const wf = await kb(sys, ['wakefloor', 'bench', String(P.m)]);
    record(runNo, sys, 'lat_floor_p50', q(wf.wake_ms, 0.5), 'ms', { samples: wf.wake_ms.length });
    record(runNo, sys, 'lat_floor_p99', q(wf.wake_ms, 0.99), 'ms');
    // the wake-up plus the least one script writes for a job Kue sees
    // created and started (bench/kbench.c idlefloor): the floor of an idle
    // job's latency in Kue's format on this host
    const fl = await kb(sys, ['idlefloor', 'bench', String(P.m)]);
    record(runNo, sys, 'lat_idlefloor_p50', q(fl.idle_ms, 0.5), 'ms', { samples: fl.idle_ms.length });
    record(runNo, sys, 'lat_idlefloor_p99', q(fl.idle_ms, 0.99), 'ms');
  }
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

// ---- scale rows (kue) ----------------------------------------------------------

// Processing with a backlog: `backlog` + win x m jobs are saved (kbench's
// bulk save: what libkue writes), then nproc workers x 50 process; each
// window of m jobs is measured between two samples, so at least `backlog`
// jobs are still waiting behind every measured job.
const SCALE_KEYS = ['q:jobs', 'q:jobs:inactive', 'q:jobs:echo:inactive', 'q:jobs:active', 'q:jobs:echo:active',
  'q:jobs:complete', 'q:jobs:echo:complete'];
async function describe(r) {
  const o = {};
  for (const k of SCALE_KEYS) {
    const n = await r.zcard(k);
    o[k] = { n, enc: n ? await r.object('ENCODING', k) : null };
  }
  o['q:echo:jobs'] = { n: await r.llen('q:echo:jobs'), enc: await r.object('ENCODING', 'q:echo:jobs') };
  o.keys = await r.dbsize();
  o.used_memory_mib = +(/used_memory:(\d+)/.exec(await r.info('memory'))[1] / 2 ** 20).toFixed(1);
  return o;
}
// Wait (at most 60 s) until Redis has finished rehashing the keyspace: a
// save that takes it past a power of two (2^20 keys: the row with a
// million completed jobs) starts a rehash of every key, done a little per
// command and per cron tick; measured inside the windows, that one-time cost
// would be charged to the jobs processed then.  Needs DEBUG (the bench's
// redis-server has enable-debug-command local); returns the seconds waited,
// or null where DEBUG is refused.
async function keyspaceRehashed(r) {
  const t = hr();
  for (;;) {
    let s;
    try { s = String(await r.call('DEBUG', 'HTSTATS', String(r.options.db || 0))); } catch (e) { return null; }
    const main = s.split('[Expires HT]')[0];
    if (!/rehashing target/.test(main) || hr() - t > 60000) return (hr() - t) / 1000;
    await sleep(100);
  }
}
async function scaleRow(sys, label, backlog, procs) {
  const r = await poller(sys);
  const total = backlog + S.win * S.m;
  const tf = hr();
  await fill(sys, total);
  const fillSecs = (hr() - tf) / 1000;
  const rehashSecs = await keyspaceRehashed(r);
  const base = await r.zcard(sys.tkey);
  const s = supervisor(sys, 'echo', procs, 50);
  const wins = [];
  let desc = null;
  try {
    let a = null, samples = 0, k = 0;
    const end = hr() + 600000;
    while (k < S.win) {
      const x = await sample(sys);
      samples++;
      if (!a) { if (x.count >= base + 1) { a = x; samples = 0; } }
      else if (x.count >= base + (k + 1) * S.m) {
        wins.push(perJob(a, x, samples));
        if (!desc) desc = await describe(r);           // while the workers run
        a = await sample(sys); samples = 0; k++;
      }
      if (hr() > end) throw new Error(`scale ${label}: ${x.count - base} jobs done`);
      await sleep(10);
    }
    // what is left is processed too (it makes the completed jobs of the next row)
    const left = await r.zcard('q:jobs:echo:inactive');
    if (label.endsWith('+done')) await waitCount(sys, base + total);
    return { label, backlog, left, fill_secs: fillSecs, fill_rate: total / fillSecs, rehash_secs: rehashSecs, wins, desc };
  } finally { await stopSupervisor(s); }
}
async function scaleRows() {
  const sys = { id: 'kue', label: 'kue', db: 6, key: 'q:jobs:complete', tkey: 'q:jobs:echo:complete', set: false };
  const procs = nproc;
  const out = [];
  await flush(sys);
  for (let i = 0; i < S.backlogs.length; i++) {
    const b = S.backlogs[i];
    const last = i === S.backlogs.length - 1;
    await flush(sys);
    const t = hr();
    const row = await scaleRow(sys, `${b} waiting${last && S.completed ? '+done' : ''}`, b, procs);
    row.load = os.loadavg();
    out.push(row);
    log(`  scale ${b} waiting: ${((hr() - t) / 1000).toFixed(1)} s`);
  }
  if (S.completed) {
    // the completed jobs of the last row stay; a fresh small backlog on top
    const r = await poller(sys);
    let done = await r.zcard(sys.tkey);
    // Keep the completed jobs (and the keyspace) below 2^20 through the row:
    // a dict that crosses a power of two is rehashed once, a little per
    // operation, and that one-time cost would land in these windows
    // (bench/METHOD.md section 2).  The oldest ones are removed as Kue's
    // removal would (both complete sets, the global set, the hash).
    const room = 2 ** 20 - (S.backlogs[0] + S.win * S.m) - 4000;
    if (done > room) {
      const trim = `local n, out = tonumber(ARGV[1]), 0
        while out < n do
          local t = redis.call('ZPOPMIN', KEYS[1], math.min(1000, n - out))
          if #t == 0 then break end
          local zs, ks = {}, {}
          for i = 1, #t, 2 do
            zs[#zs + 1] = t[i]
            ks[#ks + 1] = 'q:job:' .. string.sub(t[i], string.find(t[i], '|', 1, true) + 1)
          end
          redis.call('ZREM', KEYS[2], unpack(zs)); redis.call('ZREM', KEYS[3], unpack(zs))
          redis.call('DEL', unpack(ks))
          out = out + #zs
        end
        return out`;
      for (let left = done - room; left > 0;) left -= Math.max(1, await r.eval(trim, 3, sys.tkey, sys.key, 'q:jobs', Math.min(left, 10000)));
      done = await r.zcard(sys.tkey);
    }
    const t = hr();
    const row = await scaleRow(sys, `${S.backlogs[0]} waiting, ${done} completed`, S.backlogs[0], procs);
    row.completed = done;
    row.load = os.loadavg();
    out.push(row);
    log(`  scale ${S.backlogs[0]} waiting + ${done} completed: ${((hr() - t) / 1000).toFixed(1)} s`
      + (row.rehash_secs ? ` (${row.rehash_secs.toFixed(1)} s waited for Redis to finish rehashing its keyspace)` : ''));
  }
  // the first row again: Redis CPU per job drifts over minutes on a shared
  // machine, so the growth is taken against the mean of both
  await flush(sys);
  const again = await scaleRow(sys, `${S.backlogs[0]} waiting (again, for drift)`, S.backlogs[0], procs);
  again.load = os.loadavg();
  out.push(again);
  await (await poller(sys)).flushdb();
  for (const row of out) raw.write(JSON.stringify({ scale: row }) + '\n');
  return out;
}
function scaleTable(rows) {
  const lines = [];
  const med = (v) => median(v.filter((x) => x !== null && x !== undefined));
  const rng = (v) => `${fmt(med(v))} (${fmt(Math.min(...v))}-${fmt(Math.max(...v))})`;
  const base = (med(rows[0].wins.map((w) => w.cpu_us)) + med(rows[rows.length - 1].wins.map((w) => w.cpu_us))) / 2;
  const t = [['kue, ' + nproc + ' procs x 50', 'jobs/s', 'Redis CPU/job us', 'vs first+last row', 'Redis cmds/job', 'script us/job (wall)', 'inactive / complete set', 'load avg']];
  for (const r of rows) {
    const cpu = r.wins.map((w) => w.cpu_us);
    const ev = r.wins.map((w) => (w.by.evalsha ? w.by.evalsha.us : 0) + (w.by.fcall ? w.by.fcall.us : 0));
    const d = r.desc || {};
    const enc = (k) => (d[k] ? `${d[k].enc || '-'}` : '-');
    t.push([r.label.replace('+done', ''), rng(r.wins.map((w) => w.rate)), rng(cpu),
      `${((med(cpu) / base - 1) * 100).toFixed(0)}%`, fmt(med(r.wins.map((w) => w.cmds))), fmt(med(ev)),
      `${enc('q:jobs:echo:inactive')} / ${enc('q:jobs:echo:complete')}`, r.load.map((x) => x.toFixed(2)).join(' ')]);
  }
  const w = t[0].map((_, i) => Math.max(...t.map((r) => r[i].length)));
  lines.push(`Scale rows (kue only): backlog + ${S.win} x ${S.m} jobs saved, then ${nproc} procs x 50; each window of ${S.m} jobs`
    + ' measured with that backlog still waiting (median of the windows, min-max); Redis CPU from INFO used_cpu_sys+user.');
  lines.push('');
  t.forEach((r, j) => {
    lines.push('| ' + r.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join(' | ') + ' |');
    if (j === 0) lines.push('|' + w.map((x, i) => (i === 0 ? ':' + '-'.repeat(x + 1) : '-'.repeat(x + 1) + ':')).join('|') + '|');
  });
  return lines.join('\n');
}

// ---- report -----------------------------------------------------------------

const METRICS = [
  ['enqueue_single', 'enqueue, single adds', 'jobs/s', +1],
  ['enqueue_concurrent', 'enqueue, 50 in flight', 'jobs/s', +1],
  ['enqueue_bulk', 'enqueue, bulk (1000/call)', 'jobs/s', +1],
  ['process_1x1', 'process, 1 proc x conc 1', 'jobs/s', +1],
  ...P.procs.map((n) => [`process_p${n}`, `process, ${n} proc${n > 1 ? 's' : ''} x conc 50`, 'jobs/s', +1]),
  ['process_best', 'process, best proc count (pN)', 'jobs/s', +1],
  ['lat_start_p50', 'enqueue -> start p50', 'ms', -1],
  ['lat_start_p99', 'enqueue -> start p99', 'ms', -1],
  ['lat_complete_p50', 'enqueue -> complete p50', 'ms', -1],
  ['lat_complete_p99', 'enqueue -> complete p99', 'ms', -1],
  ['lat_floor_p50', 'wake floor p50 (Redis, no queue)', 'ms', -1],
  ['lat_floor_p99', 'wake floor p99 (Redis, no queue)', 'ms', -1],
  ['lat_idlefloor_p50', "idle floor p50 (Kue's writes, 1 script)", 'ms', -1],
  ['lat_idlefloor_p99', "idle floor p99 (Kue's writes, 1 script)", 'ms', -1],
  ['promo_p50', 'promotion lag p50', 'ms', -1],
  ['promo_p99', 'promotion lag p99', 'ms', -1],
  ['drain', 'drain under load', 'ms', -1],
  ['client_cmds_per_job', 'client commands/job', '', -1],
  ['redis_cmds_per_job', 'Redis commands/job (all)', '', -1],
  ['redis_cpu_per_job', 'Redis CPU/job (enqueue+process)', 'us', -1],
  ['redis_cpu_per_job_process', 'Redis CPU/job (process, best)', 'us', -1],
  ['rss_master', 'RSS master', 'MiB', -1],
  ['pss_master', 'Pss master', 'MiB', -1],
  ['anon_master', 'RssAnon master', 'MiB', -1],
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
      let cell = v.length > 1 ? `${fmt(m)} (${fmt(Math.min(...v))}-${fmt(Math.max(...v))})` : fmt(m);
      if (id === 'process_best') {        // the process counts that won, per run
        const ps = records.filter((r) => r.system === s.id && r.metric === id).map((r) => r.processes);
        cell += ` p${[...new Set(ps)].sort().join('/')}`;
      }
      cells.push(cell);
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
    `method (process rows): ${P.nProc} no-op jobs saved first, each worker process warmed up on ${P.warm} discarded jobs; rate = (N-1)/(first to last completion)`
      + ' as the library reports it (kue, Kue: "complete" on q:events; Bull "completed", BullMQ Worker "completed", bee-queue "succeeded" in the workers);'
      + ` ${P.procs.join(', ')} processes x 50 each, best count reported`,
    `load average at start: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')} (shared machine)`,
  ];
  if (quick) header.push('QUICK MODE: short runs, one run each; the ratios are indicative only (use the full mode for figures)');
  raw.write(JSON.stringify({ header, params: P, nproc, mem_gib: +memGiB }) + '\n');
  for (let r = 1; r <= P.runs; r++) {
    for (const s of SYSTEMS) {
      try { await oneRun(r, s); } catch (e) { log(`  ${s.label} run ${r} failed: ${e.message}`); raw.write(JSON.stringify({ run: r, system: s.id, error: e.message }) + '\n'); }
    }
  }
  let t = table(header);
  t += '\nRedis CPU/job (process): kue\'s includes delivering its events to its one q:events subscriber (kbench watch),'
    + ' at most ~2 us/job (bench/METHOD.md); every Kue process subscribes to q:events itself.' + (S.on ? ' The scale rows below run without subscribers.' : '');
  t += `\nload average at end of the comparison: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`;
  if (S.on && SYSTEMS.some((x) => x.id === 'kue')) {
    try { t += '\n\n' + scaleTable(await scaleRows()); } catch (e) { log(`  scale rows failed: ${e.message}`); }
  }
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

'use strict';
// profile.js -- where kue's Redis CPU per processed job goes (bench/METHOD.md,
// "Profile").  Needs a build and `make bench` run once (kbench, plugins,
// node_modules).  Starts its own redis-server on a free loopback port.
//
//   KUE_BUILD=/abs/build node bench/profile.js jobs [BACKLOG [M [PROCS [SUB [COMPLETED]]]]]
//       BACKLOG + M jobs saved (kbench bulk), then PROCS workers x 50 of
//       kue-supervisor process M of them; prints Redis CPU per job, every
//       command's calls and usec per job (INFO commandstats, nested
//       commands included), the encodings of the sets, and, when `perf`
//       works, redis-server's hottest functions (perf record -e cpu-clock).
//       SUB=1 adds one subscriber on q:events over TCP (as the bench's rate
//       does), SUB=2 one over the unix socket;
//       COMPLETED jobs are saved and processed first, and kept.
//   KUE_BUILD=/abs/build node bench/profile.js micro
//       the cost of script machinery: EVALSHA of kue's prelude + "return 1"
//       against a bare "return 1" and against FCALL of a function library
//       loaded once; redis.call overhead; ZADD+ZPOPMIN against set size.
//   KUE_BUILD=/abs/build node bench/profile.js cold
//       what a function call costs Redis cold (calls 3 ms apart, as on an
//       idle queue) against back to back, by the nested commands it makes.
//   KUE_BUILD=/abs/build node bench/profile.js floor [BACKLOG [M]]
//       claim+complete without workers: kue's scripts against minimal
//       scripts that make only the writes Kue's wire format requires.
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawn, spawnSync, execFileSync } = require('child_process');
const Redis = require(path.join(__dirname, 'node_modules', 'ioredis'));

const build = process.env.KUE_BUILD;
if (!build) { console.error('set KUE_BUILD'); process.exit(2); }
const kbench = path.join(build, 'bench', 'kbench');
const hr = () => Number(process.hrtime.bigint()) / 1e6;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function parseInfo(txt) {
  const calls = {}, usec = {};
  let cpu = 0;
  for (const line of txt.split('\r\n')) {
    let m = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line);
    if (m) { calls[m[1]] = +m[2]; usec[m[1]] = +m[3]; }
    m = /^used_cpu_(sys|user):([\d.]+)/.exec(line);
    if (m) cpu += +m[2];
  }
  return { calls, usec, cpu };
}

async function startRedis(dir) {
  const port = await new Promise((res) => {
    const s = require('net').createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => res(p)); });
  });
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--dir', dir, '--logfile', path.join(dir, 'redis.log'), '--unixsocket', path.join(dir, 'redis.sock'), '--unixsocketperm', '700'],
  { stdio: 'ignore' });
  for (let i = 0; spawnSync('redis-cli', ['-p', String(port), 'ping']).status !== 0; i++) {
    if (i > 100) throw new Error('redis-server did not start');
    await sleep(50);
  }
  const r = new Redis({ host: '127.0.0.1', port });
  return { port, proc, r, stop: () => { r.disconnect(); proc.kill('SIGTERM'); } };
}

function perfWorks() {
  try { return spawnSync('perf', ['record', '-e', 'cpu-clock', '-o', '/dev/null', '--', 'true'], { stdio: 'ignore' }).status === 0; } catch { return false; }
}

// Self time by area: perf's per-symbol lines, with the addresses of static
// functions (no symbol in the stripped binary) given to the exported symbol
// just below them (redis-server is linked with -rdynamic).
function byArea(lines) {
  let syms = [];
  try {
    const bin = execFileSync('readlink', ['-f', execFileSync('which', ['redis-server']).toString().trim()]).toString().trim();
    syms = execFileSync('nm', ['-D', '-n', '--defined-only', bin], { maxBuffer: 64 << 20 }).toString().split('\n')
      .map((l) => l.split(' ')).filter((f) => f.length === 3 && /[tT]/.test(f[1])).map((f) => [parseInt(f[0], 16), f[2]]);
  } catch { /* no nm: addresses stay unnamed */ }
  const near = (a) => { let lo = 0, hi = syms.length - 1, best = null; while (lo <= hi) { const m = (lo + hi) >> 1; if (syms[m][0] <= a) { best = syms[m][1]; lo = m + 1; } else hi = m - 1; } return best; };
  const areas = [
    ['Lua VM and Lua C API (script bodies, redis.call argument/reply conversion)', /^(lua|luaV|luaH|luaD|luaC|luaF|luaS|luaO|luaK|luaL|luaG|luaT|luaE|luaX|luaY|luaZ|luaU|luaM|luaopen|str_|math_|tconcat|auxsort|ldb|scriptCall|evalGeneric|evalSha|freeLuaRedisArgv|luaRedis|luaReply|redisProtocolToLua|luaPush|luaSetGlobal|luaCreate|cjson|json_|strbuf|fpconv|lua_|lookupKeyByPattern)/],
    ['listpack sorted sets (zzl*) and listpacks (lp*), memcmp', /^(zzl|lp|__memcmp|memcmp|hashTypeGetFromListpack|sdscmp)/],
    ['skiplists (zsl*)', /^(zsl|zset)/],
    ['dicts (keyspace and set lookups, rehash), hashing', /^(dict|siphash|_dict)/],
    ['allocator', /^(malloc|free|realloc|zmalloc|zfree|zrealloc|zcalloc|je_|malloc_usable_size|calloc|__libc_)/],
    ['kernel (network, scheduling)', /^\[k\]/],
  ];
  const tot = {};
  for (const l of lines) {
    const m = /^\s*([\d.]+)%\s+(\[[.k]\])\s+(\S+)/.exec(l);
    if (!m) continue;
    let name = m[3];
    if (m[2] === '[k]') name = '[k]' + name;
    else if (/^0x/.test(name)) name = near(parseInt(name, 16)) || name;
    const area = (areas.find(([, re]) => re.test(name)) || ['other (command code, replies, strings, ...)'])[0];
    tot[area] = (tot[area] || 0) + +m[1];
  }
  return Object.entries(tot).sort((x, y) => y[1] - x[1]);
}

async function jobs(backlog, m, procs, sub, completed) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kue-profile-'));
  const rs = await startRedis(dir);
  const { r, port } = rs;
  const url = `redis://127.0.0.1:${port}/0`;
  let sup = null, perf = null, watcher = null;
  try {
    fs.mkdirSync(path.join(dir, 'run'));
    fs.writeFileSync(path.join(dir, 'p.ini'), ['[supervisor]', `plugins = ${path.join(build, 'bench', 'plugins')}`,
      `run_dir = ${dir}/run`, 'log_level = warn', '[redis]', `url = ${url}`, 'prefix = q',
      '[retention]', 'keep_complete = 0', 'keep_complete_for = 0',
      '[type echo]', `processes = ${procs}`, 'concurrency = 50', ''].join('\n'));
    if (completed) {           // jobs completed beforehand, kept in Redis
      execFileSync(kbench, ['enqueue', url, 'q', 'echo', 'bulk', String(completed)]);
      const s0 = spawn(path.join(build, 'bin', 'kue-supervisor'), ['-c', path.join(dir, 'p.ini')], { stdio: 'ignore' });
      while ((await r.zcard('q:jobs:echo:complete')) < completed) await sleep(100);
      s0.kill('SIGTERM');
      await new Promise((res) => s0.on('exit', res));
      console.log(`${completed} jobs completed beforehand`);
    }
    const base = await r.zcard('q:jobs:echo:complete');
    const t0 = hr();
    execFileSync(kbench, ['enqueue', url, 'q', 'echo', 'bulk', String(backlog + m)]);
    console.log(`saved ${backlog + m} jobs in ${((hr() - t0) / 1000).toFixed(1)} s; load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
    if (sub) {               // SUB=1: over TCP loopback, SUB=2: over the unix socket
      watcher = new Redis(sub === 2 ? { path: path.join(dir, 'redis.sock') } : { host: '127.0.0.1', port });
      await watcher.subscribe('q:events');
    }
    await r.config('RESETSTAT');
    if (process.env.PERF !== '0' && perfWorks()) {        // started first: perf takes a moment to attach
      // PERF_DWARF=1: call graphs from DWARF unwinding (redis-server has no frame pointers)
      const g = process.env.PERF_DWARF === '1' ? ['--call-graph', 'dwarf,16384', '-F', '499'] : ['-g', '-F', '1999'];
      perf = spawn('perf', ['record', '-e', 'cpu-clock', ...g, '-p', String(rs.proc.pid), '-o', path.join(dir, 'perf.data')],
        { stdio: 'ignore' });
      await sleep(1500);
    }
    const a = parseInfo(await r.info('all'));
    const aT = hr();
    sup = spawn(path.join(build, 'bin', 'kue-supervisor'), ['-c', path.join(dir, 'p.ini')], { stdio: 'ignore' });
    let done = 0, mid = null;
    while (done < m) {
      await sleep(20);
      done = (await r.zcard('q:jobs:echo:complete')) - base;
      if (!mid && done > m / 2) {
        mid = {};
        for (const k of ['q:jobs', 'q:jobs:inactive', 'q:jobs:echo:inactive', 'q:jobs:active', 'q:jobs:echo:active', 'q:jobs:complete', 'q:jobs:echo:complete', 'q:echo:jobs', 'q:job:1']) {
          mid[k] = `${await r.object('ENCODING', k)} (${k === 'q:echo:jobs' ? await r.llen(k) : k === 'q:job:1' ? await r.hlen(k) : await r.zcard(k)})`;
        }
      }
    }
    const b = parseInfo(await r.info('all'));
    done = (await r.zcard('q:jobs:echo:complete')) - base;
    const secs = (hr() - aT) / 1000;
    if (perf) { perf.kill('SIGINT'); await new Promise((res) => perf.on('exit', res)); }
    console.log(`backlog ${backlog}, processed ${done} jobs (${procs} procs x 50${sub ? `, one q:events subscriber (${sub === 2 ? 'unix socket' : 'TCP'})` : ''}) in ${secs.toFixed(2)} s`
      + ` (${Math.round(done / secs)} jobs/s from supervisor start); load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
    console.log(`Redis CPU per job: ${(((b.cpu - a.cpu) / done) * 1e6).toFixed(2)} us (INFO used_cpu_sys+user)`);
    console.log('encodings at half-way:', JSON.stringify(mid));
    console.log('\ncommand          calls/job   usec/job  usec/call   (commandstats; nested calls also inside evalsha/fcall)');
    const rows = Object.keys(b.calls).map((c) => [c, (b.calls[c] - (a.calls[c] || 0)) / done, (b.usec[c] - (a.usec[c] || 0)) / done])
      .filter((x) => x[1] > 0.0005 && !['info', 'config|resetstat', 'zcard', 'object|encoding', 'llen', 'hlen'].includes(x[0]))
      .sort((x, y) => y[2] - x[2]);
    let nested = 0;
    for (const [c, calls, us] of rows) {
      if (c !== 'evalsha' && c !== 'fcall') nested += us;
      console.log(`${c.padEnd(16)} ${calls.toFixed(3).padStart(9)} ${us.toFixed(3).padStart(10)} ${(us / calls).toFixed(3).padStart(10)}`);
    }
    console.log(`all but the script calls: ${nested.toFixed(2)} usec/job`);
    if (perf) {
      const rep = (args) => {
        const x = spawnSync('perf', ['report', '-i', path.join(dir, 'perf.data'), '--stdio', ...args], { encoding: 'utf8', maxBuffer: 256 << 20 });
        if (x.status !== 0 || x.error) console.log(`perf report: ${x.error || x.stderr}`);
        return x.stdout || '';
      };
      const self = rep(['--no-children', '--sort', 'sym', '-g', 'none']).split('\n').filter((l) => l && !l.startsWith('#'));
      console.log('\nperf: redis-server self time by area (cpu-clock samples)');
      for (const [area, pc] of byArea(self)) console.log(`${pc.toFixed(1).padStart(6)}%  ${area}`);
      console.log('\nperf: self time by function (top 30)');
      console.log(self.slice(0, 30).join('\n'));
      if (process.env.PERF_DWARF === '1') {
        console.log('\nperf: callers of memcmp');
        console.log(rep(['--no-children', '--sort', 'sym', '-S', '__memcmp_evex_movbe', '-G', '--percent-limit', '0.2'])
          .split('\n').filter((l) => l && !l.startsWith('#')).slice(0, 60).join('\n'));
      }
      console.log('\nperf: with callees (children), selected');
      const ch = rep(['--children', '--sort', 'sym', '-g', 'none']).split('\n');
      const want = /\b(processCommand|call|evalGenericCommand|evalShaCommand|luaCallFunction|luaRedisGenericCommand|luaRedisCallCommand|scriptCall|lua_pcall|luaV_execute|luaD_precall|zaddGenericCommand|zpopMinCommand|genericZpopCommand|zremCommand|hsetCommand|hmgetCommand|publishCommand|pubsubPublishMessage|saddCommand|sremCommand|ltrimCommand|lpopCommand|zslInsert|zslDelete|zsetAdd|zsetRemoveFromSkiplist|lookupKey|lookupKeyWrite|lookupKeyRead|dictFind|lpFind|lpSeek|hashTypeGetValue|hashTypeSet|luaCreateFunction|luaSetGlobalArray|luaPushArray|luaReplyToRedisReply|redisProtocolToLuaType|lua_createtable|luaH_new|luaC_step|luaC_fullgc|luaM_realloc_|je_malloc|malloc|free|readQueryFromClient|writeToClient|sendReplyToClient|_addReplyToBufferOrList|luaF_newLclosure|luaS_newlstr|luaH_resize|ldbIsEnabled|luaMaskCountHook|string_format|str_format|luaO_pushvfstring)\b/;
      console.log(ch.filter((l) => want.test(l) && /%/.test(l)).slice(0, 60).join('\n'));
    }
  } finally {
    if (sup) { sup.kill('SIGTERM'); await new Promise((res) => sup.on('exit', res)); }
    if (watcher) watcher.disconnect();
    rs.stop();
    await sleep(200);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// CPU per call of `args`, sent `n` times in pipelines of 100.
async function cpuPer(r, n, args) {
  const a = parseInfo(await r.info('cpu'));
  for (let i = 0; i < n; i += 100) {
    const p = r.pipeline();
    for (let j = 0; j < 100; j++) p.call(...args(i + j));
    await p.exec();
  }
  const b = parseInfo(await r.info('cpu'));
  return ((b.cpu - a.cpu) / n) * 1e6;
}

async function micro() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kue-profile-'));
  const rs = await startRedis(dir);
  const { r } = rs;
  try {
    const prelude = fs.readFileSync(path.join(__dirname, '..', 'libkue', 'lua', 'prelude.lua'), 'utf8');
    const bare = await r.script('LOAD', 'return 1');
    const withPrelude = await r.script('LOAD', prelude + '\nreturn 1');
    await r.call('FUNCTION', 'LOAD', 'REPLACE', '#!lua name=kbprof\nredis.register_function("noop", function(keys, args) return 1 end)');
    const N = 100000;
    const rows = [];
    const med = async (f) => { const v = []; for (let i = 0; i < 5; i++) v.push(await f()); v.sort((x, y) => x - y); return v[2]; };
    rows.push(['PING (a plain command, for scale)', await med(() => cpuPer(r, N, () => ['PING']))]);
    rows.push(['EVALSHA "return 1"', await med(() => cpuPer(r, N, () => ['EVALSHA', bare, '2', 'q:ids', 'q:fence', 'q']))]);
    rows.push(['EVALSHA prelude + "return 1"', await med(() => cpuPer(r, N, () => ['EVALSHA', withPrelude, '2', 'q:ids', 'q:fence', 'q']))]);
    rows.push(['FCALL noop (FUNCTION LOAD once)', await med(() => cpuPer(r, N, () => ['FCALL', 'noop', '2', 'q:ids', 'q:fence', 'q']))]);
    // redis.call overhead: one script doing 50 HGETs against 50 HGETs sent as commands
    await r.hset('h', 'f', 'v');
    const s50 = await r.script('LOAD', "for i = 1, 50 do redis.call('HGET', 'h', 'f') end return 1");
    const c50 = await med(() => cpuPer(r, N / 10, () => ['EVALSHA', s50, '0']));
    const h1 = await med(() => cpuPer(r, N, () => ['HGET', 'h', 'f']));
    rows.push(['HGET sent by a client', h1]);
    rows.push(['HGET through redis.call (50 per EVALSHA, per HGET)', (c50 - rows[1][1]) / 50]);
    // sorted sets: ZADD of a new tail member and ZPOPMIN against the set's size (score 0, members 0n|id as kue writes them)
    for (const size of [100, 10000, 100000, 1000000]) {
      await r.del('z');
      for (let i = 0; i < size; i += 10000) {
        const args = [];
        for (let j = i; j < Math.min(size, i + 10000); j++) args.push(0, `${String(String(j + 1e6).length).padStart(2, '0')}|${j + 1e6}`);
        await r.zadd('z', ...args);
      }
      let next = 2e6 + size;
      const enc = await r.object('ENCODING', 'z');
      // alternately: the set's size stays put
      const pair = await med(() => cpuPer(r, 20000, (i) => (i % 2 ? ['ZPOPMIN', 'z'] : ['ZADD', 'z', '0', `07|${next++}`])));
      rows.push([`ZADD of a tail member + ZPOPMIN, ${size} members (${enc}), per pair`, pair * 2]);
    }
    // kue's active sets: ~100 members with equal scores (2 processes x 50),
    // batches added and removed by claim/complete (25 here, so the set stays
    // <= 128 members and a listpack); listpack (the default) against skiplist
    for (const lp of [128, 0]) {
      await r.config('SET', 'zset-max-listpack-entries', String(lp));
      await r.del('act');
      let id = 1000000;
      const zid = (n) => `07|${n}`;
      const live = [];
      const a0 = [];
      for (let i = 0; i < 100; i++) { a0.push(0, zid(id)); live.push(id++); }
      await r.zadd('act', ...a0);
      const enc = await r.object('ENCODING', 'act');
      const per = await med(() => cpuPer(r, 2000, (i) => {
        if (i % 2 === 0) { const a = []; for (let j = 0; j < 25; j++) { a.push(0, zid(id)); live.push(id++); } return ['ZADD', 'act', ...a]; }
        return ['ZREM', 'act', ...live.splice(0, 25).map(zid)];
      }));
      rows.push([`active-like set, 100-125 members, equal scores (${enc}, still ${await r.object('ENCODING', 'act')} after): ZADD 25 + ZREM 25, per member added and removed`, per * 2 / 25]);
    }
    await r.config('SET', 'zset-max-listpack-entries', '128');
    // a job hash as kue writes it (14 fields): claim's HMGET of 10 fields
    await r.hset('job', 'state', 'inactive', 'updated_at', '1700000000000', 'max_attempts', '1', 'type', 'echo', 'created_at', '1700000000000',
      'promote_at', '1700000000000', 'priority', '0', 'data', '{"n":1}', 'started_at', '1700000000000', 'workerId', 'kue:host:123:echo:7',
      'duration', '0', 'progress', '100', 'attempts', '1', 'result', 'null');
    rows.push(['HMGET of 10 fields, 14-field listpack hash', await med(() => cpuPer(r, N, () => ['HMGET', 'job', 'type', 'state', 'priority', 'ttl', 'data', 'attempts', 'max_attempts', 'created_at', 'delay', 'backoff']))]);
    rows.push(['HSET of 4 fields, same hash', await med(() => cpuPer(r, N, () => ['HSET', 'job', 'state', 'active', 'updated_at', '1700000000001', 'started_at', '1700000000001', 'workerId', 'kue:host:123:echo:7']))]);
    rows.push(['PUBLISH, no subscriber', await med(() => cpuPer(r, N, () => ['PUBLISH', 'q:events', '{"id":123456,"event":"complete","args":["complete",null,null]}']))]);
    console.log(`load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}; median of 5 passes, pipelines of 100`);
    console.log('| operation | Redis CPU per call, us |\n|---|---|');
    for (const [k, v] of rows) console.log(`| ${k} | ${v.toFixed(2)} |`);
  } finally {
    rs.stop();
    await sleep(200);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// What a script costs when Redis comes to it cold (calls 3 ms apart, as an
// idle queue's enqueue and claim are) against back to back: FCALL usec per
// call from INFO commandstats (nested commands included), median of 5.
async function cold() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kue-profile-'));
  const rs = await startRedis(dir);
  const { r } = rs;
  const fns = [
    ['noop', 'return 1', 'FCALL of a function that calls nothing'],
    ['z1', "redis.call('ZADD', 'c:z1', 1, 'x') return 1", 'one ZADD'],
    ['z3', "for i = 1, 3 do redis.call('ZADD', 'c:z' .. i, 1, 'x') end return 1", '3 ZADDs (3 keys)'],
    ['z6', "for i = 1, 6 do redis.call('ZADD', 'c:z' .. i, 1, 'x') end return 1", '6 ZADDs (6 keys)'],
    ['mix4', "redis.call('ZADD', 'c:z1', 1, 'x') redis.call('SADD', 'c:s', 'x') redis.call('LPUSH', 'c:l', 'x') redis.call('LTRIM', 'c:l', 0, 5) return 1", 'ZADD, SADD, LPUSH, LTRIM'],
    ['z12', "for i = 1, 12 do redis.call('ZADD', 'c:z' .. i, 1, 'x') end return 1", '12 ZADDs (12 keys)'],
  ];
  try {
    let lib = '#!lua name=kbcold\n';
    for (const [k, body] of fns) lib += `redis.register_function('${k}', function(keys, args) ${body} end)\n`;
    await r.call('FUNCTION', 'LOAD', 'REPLACE', lib);
    const per = async (fn, gap) => {
      await r.config('RESETSTAT');
      for (let i = 0; i < 400; i++) { await r.fcall(fn, 0); if (gap) await sleep(gap); }
      const m = /cmdstat_fcall:calls=(\d+),usec=(\d+)/.exec(await r.info('commandstats'));
      return m[2] / m[1];
    };
    console.log(`load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}; median of 5 passes of 400 calls`);
    console.log('| function body | back to back, us | 3 ms apart, us | cold penalty, us |\n|---|---|---|---|');
    for (const [k, , what] of fns) {
      const hot = [], cld = [];
      for (let i = 0; i < 5; i++) { hot.push(await per(k, 0)); cld.push(await per(k, 3)); }
      hot.sort((x, y) => x - y); cld.sort((x, y) => x - y);
      console.log(`| ${what} | ${hot[2].toFixed(2)} | ${cld[2].toFixed(2)} | ${(cld[2] - hot[2]).toFixed(2)} |`);
    }
  } finally {
    rs.stop();
    await sleep(200);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// The scripts' cost without workers: BACKLOG + M jobs saved, then M jobs
// claimed and completed in batches of 50 by this process (2 batches in
// flight: the active sets hold <= 100 jobs, as with 2 workers x 50), with kue's own claim/complete scripts and with minimal scripts
// that make only the writes Kue's wire format requires (the state HSETs,
// the start/complete PUBLISHes, the sets of both states, global and per
// type), with and without the reads (HMGET) that validate each job.
const MIN_CLAIM = `
local P, t, n, wid = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local now = redis.call('TIME')[1] .. '000'
local top = redis.call('ZPOPMIN', P .. ':jobs:' .. t .. ':inactive', n)
local rem, act, tact, ids, rows = {}, {}, {}, {}, {}
for i = 1, #top, 2 do
  local z = top[i]
  local id = string.sub(z, 4)
  local v
  if READS == 'wide' then v = redis.call('HMGET', P .. ':job:' .. id, 'type', 'state', 'priority', 'ttl', 'data', 'attempts', 'max_attempts', 'created_at', 'delay', 'backoff')
  elseif READS == 'narrow' then redis.call('HMGET', P .. ':job:' .. id, 'state', 'type', 'priority', 'data') end
  if ROWS then rows[#rows + 1] = { id, v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10] } end
  redis.call('HSET', P .. ':job:' .. id, 'state', 'active', 'updated_at', now, 'started_at', now, 'workerId', wid)
  redis.call('PUBLISH', P .. ':events', '{"id":' .. id .. ',"event":"start","args":["start","' .. t .. '",null]}')
  rem[#rem + 1] = z; act[#act + 1] = '0'; act[#act + 1] = z; tact[#tact + 1] = '0'; tact[#tact + 1] = z; ids[#ids + 1] = id
end
if #ids > 0 then
  redis.call('ZREM', P .. ':jobs:inactive', unpack(rem))
  redis.call('ZADD', P .. ':jobs:active', unpack(act))
  redis.call('ZADD', P .. ':jobs:' .. t .. ':active', unpack(tact))
end
if ROWS then return rows end
return ids`;
const MIN_COMPLETE = `
local P, t = ARGV[1], ARGV[2]
local now = redis.call('TIME')[1] .. '000'
local rem, done = {}, {}
for i = 3, #ARGV do
  local id = ARGV[i]
  local z = string.format('%02d|%s', #id, id)
  if READS == 'wide' then redis.call('HMGET', P .. ':job:' .. id, 'type', 'state', 'priority', 'workerId', 'attempts', 'max_attempts', 'removeOnComplete')
  elseif READS == 'narrow' then redis.call('HMGET', P .. ':job:' .. id, 'state', 'workerId') end
  redis.call('HSET', P .. ':job:' .. id, 'state', 'complete', 'updated_at', now, 'duration', '0', 'progress', '100', 'attempts', '1')
  redis.call('PUBLISH', P .. ':events', '{"id":' .. id .. ',"event":"complete","args":["complete",null,null]}')
  rem[#rem + 1] = z; done[#done + 1] = '0'; done[#done + 1] = z
end
redis.call('ZREM', P .. ':jobs:active', unpack(rem))
redis.call('ZREM', P .. ':jobs:' .. t .. ':active', unpack(rem))
redis.call('ZADD', P .. ':jobs:complete', unpack(done))
redis.call('ZADD', P .. ':jobs:' .. t .. ':complete', unpack(done))
return #rem`;

async function floor(backlog, m) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kue-profile-'));
  const rs = await startRedis(dir);
  const { r, port } = rs;
  const lua = (f) => fs.readFileSync(path.join(__dirname, '..', 'libkue', 'lua', f), 'utf8');
  const variants = [
    ['kue claim.lua + complete.lua (prelude included)', lua('prelude.lua') + '\n' + lua('claim.lua'), lua('prelude.lua') + '\n' + lua('complete.lua'), true],
    ['the same, active sets skiplist-encoded (a placeholder member keeps them so; measurement only)', lua('prelude.lua') + '\n' + lua('claim.lua'), lua('prelude.lua') + '\n' + lua('complete.lua'), 'skiplist'],
    ['minimal writes + the same HMGETs + the same claim reply (9 values per job)', "local READS, ROWS = 'wide', true\n" + MIN_CLAIM, "local READS = 'wide'\n" + MIN_COMPLETE, 'rows'],
    ['minimal writes + the same HMGETs (10 and 7 fields)', "local READS, ROWS = 'wide', false\n" + MIN_CLAIM, "local READS = 'wide'\n" + MIN_COMPLETE, false],
    ['minimal writes + narrow HMGETs (4 and 2 fields, all present)', "local READS, ROWS = 'narrow', false\n" + MIN_CLAIM, "local READS = 'narrow'\n" + MIN_COMPLETE, false],
    ['minimal writes only (the wire-format floor)', 'local READS, ROWS = false, false\n' + MIN_CLAIM, 'local READS = false\n' + MIN_COMPLETE, false],
  ];
  const ROUNDS = +(process.env.ROUNDS || 5);
  const res = variants.map(() => []);
  let nestedPer = variants.map(() => 0);
  try {
    console.log(`backlog ${backlog}, ${m} jobs claimed and completed per variant, batches of 50; load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
    for (let round = 0; round < ROUNDS; round++) for (const [vi, [, cl, co, real]] of variants.entries()) {
      await r.flushall();
      execFileSync(kbench, ['enqueue', `redis://127.0.0.1:${port}/0`, 'q', 'echo', 'bulk', String(backlog + m)]);
      const shaC = await r.script('LOAD', cl), shaD = await r.script('LOAD', co);
      if (real === 'skiplist') {
        for (const k of ['q:jobs:active', 'q:jobs:echo:active']) {
          const a = [];
          for (let i = 0; i < 129; i++) a.push(-1, `00|placeholder${i}`);
          await r.zadd(k, ...a);
          await r.zrem(k, ...a.filter((_, i) => i % 2 && i > 1));
        }
      }
      await r.config('RESETSTAT');
      const a = parseInfo(await r.info('all'));
      let done = 0, slot = 0;
      const lane = async () => {
        while (done < m) {
          done += 50;
          const s0 = (slot++ % 2) * 50;
          const slots = Array.from({ length: 50 }, (_, i) => String(s0 + i + 1));
          let out;
          if (real === 'rows') out = (await r.evalsha(shaC, 2, 'q:ids', 'q:fence', 'q', 'echo', '50', 'kue:bench:4242:echo:1')).map((x) => x[0]);
          else if (real) out = (await r.evalsha(shaC, 2, 'q:ids', 'q:fence', 'q', 'echo', '50', 'bench', '4242', '60000', '50', ...slots)).map((x) => x[0]);
          else out = await r.evalsha(shaC, 2, 'q:ids', 'q:fence', 'q', 'echo', '50', 'kue:bench:4242:echo:1');
          if (!out.length) break;
          const args = [];
          const kueArgs = real && real !== 'rows';
          if (kueArgs) for (const id of out) args.push(id, '', '0', '');
          else args.push(...out);
          await r.evalsha(shaD, 2, 'q:ids', 'q:fence', 'q', ...(kueArgs ? args : ['echo', ...args]));
        }
      };
      await Promise.all([lane(), lane()]);    // <= 100 in flight, as 2 workers x 50
      const b = parseInfo(await r.info('all'));
      const n = await r.zcard('q:jobs:echo:complete');
      let nested = 0;
      for (const c of Object.keys(b.calls)) if (!['evalsha', 'info', 'config|resetstat', 'script|load', 'zcard'].includes(c)) nested += b.calls[c] - (a.calls[c] || 0);
      res[vi].push(((b.cpu - a.cpu) / n) * 1e6);
      nestedPer[vi] = nested / n;
    }
    console.log(`| variant | Redis CPU per job, us: min of ${ROUNDS} (the least disturbed) | median | max | nested commands per job |\n|---|---|---|---|---|`);
    for (const [vi, [name]] of variants.entries()) {
      const v = [...res[vi]].sort((x, y) => x - y);
      console.log(`| ${name} | ${v[0].toFixed(2)} | ${v[v.length >> 1].toFixed(2)} | ${v[v.length - 1].toFixed(2)} | ${nestedPer[vi].toFixed(2)} |`);
    }
    console.log(`load average at end ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  } finally {
    rs.stop();
    await sleep(200);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const [mode, ...a] = process.argv.slice(2);
if (mode === 'floor') {
  floor(+(a[0] || 100000), +(a[1] || 50000)).catch((e) => { console.error(e.stack || e); process.exit(1); });
} else
(mode === 'micro' ? micro() : mode === 'cold' ? cold() : jobs(+(a[0] || 100000), +(a[1] || 30000), +(a[2] || 2), +(a[3] || 0), +(a[4] || 0)))
  .catch((e) => { console.error(e.stack || e); process.exit(1); });

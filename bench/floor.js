'use strict';
// floor.js -- what Kue's wire format itself costs Redis per job (bench/floor.sh,
// bench/RESULTS.md "The wire-format floor").
//
// Minimal Lua scripts, one per transition, make only the writes that any
// implementation must make for Kue 0.11 to see a job saved, claimed and
// completed (docs/wire.md sections 2-6), batched as well as the format
// allows (one variadic command per sorted set per batch of 50):
//   create:   INCRBY P:ids; per job HSET of the 8 fields of a plain job and
//             PUBLISH enqueue; per batch ZADD P:jobs, P:jobs:inactive,
//             P:jobs:T:inactive, SADD P:job:types, LPUSH of the tokens
//   claim:    ZPOPMIN P:jobs:T:inactive n; per job HSET state updated_at
//             started_at workerId and PUBLISH start; per batch ZREM
//             P:jobs:inactive, ZADD P:jobs:active, P:jobs:T:active, LTRIM
//             of the tokens
//   complete: per job HSET state updated_at duration progress attempts and
//             PUBLISH complete; per batch ZREM P:jobs:active,
//             P:jobs:T:active, ZADD P:jobs:complete, P:jobs:T:complete,
//             INCRBY P:stats:work-time
// Variants: with the active sets as listpacks (<= 100 members, as 2
// workers x 50 leave them) or as skiplists (kue's claim converts them,
// libkue/lua/prelude.lua to_skiplist); and with the least validation a
// real implementation needs (HGET state at claim, HMGET state workerId at
// complete).  BACKLOG jobs stay waiting behind every measured job.
//
//   [KUE_LUA=dir[,dir...]] node bench/floor.js PORT [BACKLOG [M [ROUNDS]]]
// KUE_LUA adds kue's own enqueue/claim/complete scripts from each directory
// (libkue/lua of some commit) as variants, interleaved with the floor's.
const path = require('path');
const os = require('os');
const Redis = require(path.join(__dirname, 'node_modules', 'ioredis'));

const CREATE = `
local P, t, n = ARGV[1], ARGV[2], tonumber(ARGV[3])
local tm = redis.call('TIME')
local now = tostring(tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000))
local last = redis.call('INCRBY', P .. ':ids', n)
local z, tok = {}, {}
for i = 1, n do
  local id = tostring(last - n + i)
  redis.call('HSET', P .. ':job:' .. id, 'state', 'inactive', 'updated_at', now, 'max_attempts', '1',
    'type', t, 'created_at', now, 'promote_at', now, 'priority', '0', 'data', '{}')
  redis.call('PUBLISH', P .. ':events', '{"id":' .. id .. ',"event":"enqueue","args":["enqueue","' .. t .. '"]}')
  z[#z + 1] = '0'; z[#z + 1] = string.format('%02d|%s', #id, id); tok[i] = '1'
end
redis.call('ZADD', P .. ':jobs', unpack(z))
redis.call('ZADD', P .. ':jobs:inactive', unpack(z))
redis.call('ZADD', P .. ':jobs:' .. t .. ':inactive', unpack(z))
redis.call('SADD', P .. ':job:types', t)
redis.call('LPUSH', P .. ':' .. t .. ':jobs', unpack(tok))
return last`;

const CLAIM = `
local P, t, n, wid = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local tm = redis.call('TIME')
local now = tostring(tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000))
local top = redis.call('ZPOPMIN', P .. ':jobs:' .. t .. ':inactive', n)
local rem, act, ids = {}, {}, {}
for i = 1, #top, 2 do
  local z = top[i]
  local id = string.sub(z, 4)
  if not READS or redis.call('HGET', P .. ':job:' .. id, 'state') == 'inactive' then
    redis.call('HSET', P .. ':job:' .. id, 'state', 'active', 'updated_at', now, 'started_at', now, 'workerId', wid)
    redis.call('PUBLISH', P .. ':events', '{"id":' .. id .. ',"event":"start","args":["start","' .. t .. '",null]}')
    rem[#rem + 1] = z; act[#act + 1] = '0'; act[#act + 1] = z; ids[#ids + 1] = id
  end
end
if #ids > 0 then
  local ka, kt = P .. ':jobs:active', P .. ':jobs:' .. t .. ':active'
  local big, conv = string.rep('~', 1024), {}
  for _, k in ipairs({ ka, kt }) do
    if SKIP and redis.call('OBJECT', 'ENCODING', k) ~= 'skiplist' then
      redis.call('ZADD', k, 0, big); conv[#conv + 1] = k
    end
  end
  redis.call('ZREM', P .. ':jobs:inactive', unpack(rem))
  redis.call('ZADD', ka, unpack(act))
  redis.call('ZADD', kt, unpack(act))
  for _, k in ipairs(conv) do redis.call('ZREM', k, big) end
  redis.call('LTRIM', P .. ':' .. t .. ':jobs', #ids, -1)
end
return ids`;

const COMPLETE = `
local P, t, wid = ARGV[1], ARGV[2], ARGV[3]
local tm = redis.call('TIME')
local now = tostring(tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000))
local rem, done = {}, {}
for i = 4, #ARGV do
  local id = ARGV[i]
  local ok = true
  if READS then
    local v = redis.call('HMGET', P .. ':job:' .. id, 'state', 'workerId')
    ok = v[1] == 'active' and v[2] == wid
  end
  if ok then
    redis.call('HSET', P .. ':job:' .. id, 'state', 'complete', 'updated_at', now, 'duration', '0',
      'progress', '100', 'attempts', '1')
    redis.call('PUBLISH', P .. ':events', '{"id":' .. id .. ',"event":"complete","args":["complete",null,null]}')
    local z = string.format('%02d|%s', #id, id)
    rem[#rem + 1] = z; done[#done + 1] = '0'; done[#done + 1] = z
  end
end
if #rem > 0 then
  redis.call('ZREM', P .. ':jobs:active', unpack(rem))
  redis.call('ZREM', P .. ':jobs:' .. t .. ':active', unpack(rem))
  redis.call('ZADD', P .. ':jobs:complete', unpack(done))
  redis.call('ZADD', P .. ':jobs:' .. t .. ':complete', unpack(done))
  redis.call('INCRBY', P .. ':stats:work-time', '0')
end
return #rem`;

const cpuOf = (txt) => txt.split('\r\n').reduce((s, l) => {
  const m = /^used_cpu_(sys|user):([\d.]+)/.exec(l);
  return m ? s + +m[2] : s;
}, 0);
const cmdsOf = (txt) => txt.split('\r\n').reduce((s, l) => {
  const m = /^cmdstat_([^:]+):calls=(\d+)/.exec(l);
  return m && !['evalsha', 'info', 'config|resetstat', 'script|load', 'flushall', 'zcard', 'object|encoding'].includes(m[1]) ? s + +m[2] : s;
}, 0);

// kue's own scripts from a directory of libkue/lua sources (KUE_LUA=dir,...),
// driven as a worker drives them: claim n for slots, complete by id.
const fs = require('fs');
function kueVariant(dir) {
  const rd = (f) => fs.readFileSync(path.join(dir, f), 'utf8');
  // as libkue/scripts.c assembles the EVAL form: the prelude, then the
  // per-call kue_begin() every function starts with, then the body
  const pre = rd('prelude.lua') + '\n' + (/local function kue_begin/.test(rd('prelude.lua'))
    ? 'local __kue_err = kue_begin(KEYS, ARGV)\nif __kue_err then return __kue_err end\n' : '');
  const slots = (lane) => Array.from({ length: 50 }, (_, i) => String(lane * 50 + i + 1));
  const rec = ['echo', '{}', '0', '1', '0', '0', '', '', '0', '', '0', '', '0'];
  return {
    name: `kue's scripts (${dir})`, create: pre + rd('enqueue.lua'), claim: pre + rd('claim.lua'), complete: pre + rd('complete.lua'),
    createArgs: (n) => ['q', ...Array.from({ length: n }, () => rec).flat()],
    claimArgs: (n, lane) => ['q', 'echo', String(n), 'bench', '4242', '60000', '0', ...slots(lane)],
    ids: (reply) => reply.map((x) => x[0]),
    completeArgs: (ids) => ['q', ...ids.flatMap((id) => [id, '', '0', ''])],
  };
}
function floorVariant(name, head) {
  return {
    name, create: head + CREATE, claim: head + CLAIM, complete: head + COMPLETE,
    createArgs: (n) => ['q', 'echo', String(n)],
    claimArgs: (n, lane) => ['q', 'echo', String(n), `kue:bench:4242:echo:${lane + 1}`],
    ids: (reply) => reply,
    completeArgs: (ids, lane) => ['q', 'echo', `kue:bench:4242:echo:${lane + 1}`, ...ids],
  };
}

async function main() {
  const [port, backlog = 100000, m = 60000, rounds = 5] = process.argv.slice(2).map(Number);
  const r = new Redis({ host: '127.0.0.1', port });
  const variants = [
    ...(process.env.KUE_LUA || '').split(',').filter(Boolean).map(kueVariant),
    floorVariant('floor: writes only, active sets listpack', 'local READS, SKIP = false, false\n'),
    floorVariant('floor: writes only, active sets skiplist', 'local READS, SKIP = false, true\n'),
    floorVariant('floor + state checks, active sets skiplist', 'local READS, SKIP = true, true\n'),
  ];
  const res = variants.map(() => ({ create: [], proc: [], cmds: 0, pcmds: 0 }));
  const B = 50;
  const K = ['2', 'q:ids', 'q:fence'];
  console.log(`backlog ${backlog}, ${m} jobs created, claimed and completed per round, batches of ${B}, `
    + `2 batches in flight; load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  for (let round = 0; round < rounds; round++) {
    for (const [vi, v] of variants.entries()) {
      await r.flushall();
      const sc = await r.script('LOAD', v.create);
      const sl = await r.script('LOAD', v.claim);
      const sd = await r.script('LOAD', v.complete);
      const fill = async (count) => {
        for (let i = 0; i < count; i += 1000) {
          const p = r.pipeline();
          for (let j = 0; j < 1000; j += B) p.evalsha(sc, ...K, ...v.createArgs(B));
          const out = await p.exec();
          for (const [e] of out) if (e) throw e;
        }
      };
      await fill(backlog);            // untimed
      await r.config('RESETSTAT');
      let c0 = cpuOf(await r.info('cpu'));
      await fill(m);                  // the M measured jobs' creation
      let info = await r.info('all');
      res[vi].create.push(((cpuOf(info) - c0) / m) * 1e6);
      res[vi].cmds = cmdsOf(info) / m;
      // claim + complete of M jobs; the backlog stays behind them (FIFO)
      await r.config('RESETSTAT');
      c0 = cpuOf(await r.info('cpu'));
      let left = m;
      const lane = async (ln) => {
        while (left > 0) {
          left -= B;
          const ids = v.ids(await r.evalsha(sl, ...K, ...v.claimArgs(B, ln)));
          if (!ids.length) break;
          await r.evalsha(sd, ...K, ...v.completeArgs(ids, ln));
        }
      };
      await Promise.all([lane(0), lane(1)]);    // <= 100 in flight, as 2 workers x 50
      info = await r.info('all');
      const n = (await r.zcard('q:jobs:echo:complete'));
      if (n !== m) throw new Error(`${v.name}: ${n} of ${m} jobs completed`);
      res[vi].proc.push(((cpuOf(info) - c0) / n) * 1e6);
      res[vi].pcmds = cmdsOf(info) / n;
      console.log(`round ${round + 1}: ${v.name}: create ${res[vi].create[round].toFixed(2)}, `
        + `claim + complete ${res[vi].proc[round].toFixed(2)} us/job; load ${os.loadavg()[0].toFixed(2)}`);
    }
  }
  const st = (v) => { const s = [...v].sort((x, y) => x - y); return `${s[s.length >> 1].toFixed(2)} (${s[0].toFixed(2)}-${s[s.length - 1].toFixed(2)})`; };
  console.log(`\n| floor variant | create, us/job | claim + complete, us/job | nested commands/job (create; claim+complete) |\n|---|---|---|---|`);
  for (const [vi, { name }] of variants.entries()) {
    console.log(`| ${name} | ${st(res[vi].create)} | ${st(res[vi].proc)} | ${res[vi].cmds.toFixed(2)}; ${res[vi].pcmds.toFixed(2)} |`);
  }
  console.log(`\nmedian (min-max) of ${rounds} rounds, Redis used_cpu_sys+user per job; load average at end ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  r.disconnect();
}
main().catch((e) => { console.error(e.stack || e); process.exit(1); });

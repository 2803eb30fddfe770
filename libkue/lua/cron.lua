-- cron: enqueue the job of one due tick of a schedule, and record the
-- tick, in one step, for the leader only (docs/wire.md section 12).  A
-- tick at or before the recorded one is never enqueued again, so a leader
-- change can neither repeat nor skip a tick.
-- ARGV: prefix, token, name, tick_ms, mode, type, data, priority,
--       max_attempts, delay_ms, ttl_ms, backoff
--   mode 'run': enqueue the job and record the tick;
--        'skip': record the tick without a job (catch_up none/one);
--        'init': record now as the last tick unless one is recorded.
-- Returns {1, job id, tick} for a job made, {0, last tick, last job id}
-- otherwise, or the error FENCED.
local now = now_ms()
if leader_fenced(ARGV[2], now) then return err_reply('FENCED', 'not the leader') end
local name, tick, mode = ARGV[3], tonumber(ARGV[4]) or 0, ARGV[5]
local lk, jk = key('cron:last'), key('cron:job')
if mode == 'init' then
  redis.call('HSETNX', lk, name, fmt(now))
end
local last = tonumber(redis.call('HGET', lk, name) or '')
if mode == 'init' or (last and tick <= last) then
  return { 0, last or 0, tonumber(redis.call('HGET', jk, name) or '0') or 0 }
end
if mode == 'skip' then
  redis.call('HSET', lk, name, fmt(tick))
  return { 0, tick, tonumber(redis.call('HGET', jk, name) or '0') or 0 }
end
local t, data, prio = ARGV[6], ARGV[7], ARGV[8]
local delay = tonumber(ARGV[10]) or 0
local ttl = tonumber(ARGV[11]) or 0
local backoff = ARGV[12]
if delay ~= delay or delay < 0 then delay = 0 end
if delay > MAX_DELAY_MS then delay = MAX_DELAY_MS end
local id = fmt(redis.call('INCR', key('ids')))
local z = zid(id)
local nows = fmt(now)
local state = delay > 0 and 'delayed' or 'inactive'
local f = { 'state', state, 'updated_at', nows, 'max_attempts', ARGV[9], 'type', t,
            'created_at', nows, 'promote_at', fmt(now + delay), 'priority', prio,
            'data', data, 'cron', name, 'cron_tick', fmt(tick) }
if delay > 0 then f[#f + 1] = 'delay'; f[#f + 1] = fmt(delay) end
if ttl > 0 then f[#f + 1] = 'ttl'; f[#f + 1] = fmt(ttl) end
if backoff ~= '' then f[#f + 1] = 'backoff'; f[#f + 1] = backoff end
redis.call('HSET', key('job:' .. id), unpack(f))
redis.call('SADD', key('job:types'), t)
redis.call('ZADD', key('jobs'), prio, z)
redis.call('ZADD', key('jobs:' .. t .. ':' .. state), prio, z)
if state == 'delayed' then
  redis.call('ZADD', key('jobs:delayed'), fmt(now + delay), z)
  redis.call('PUBLISH', key('delayed'), fmt(now + delay))
else
  redis.call('ZADD', key('jobs:inactive'), prio, z)
  redis.call('LPUSH', key(t .. ':jobs'), 1)
  publish(id, 'enqueue', ',' .. jstr(t))
end
redis.call('HSET', lk, name, fmt(tick))
redis.call('HSET', jk, name, id)
return { 1, tonumber(id), tick }

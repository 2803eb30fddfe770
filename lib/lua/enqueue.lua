-- enqueue: save a new job (kue-wire.md 5.1, 5.2) in one step.
-- ARGV: prefix, type, data, priority, max_attempts, delay_ms, ttl_ms,
--       backoff, removeOnComplete, run_at_ms, nsearch, [code, count] x nsearch
-- Returns the new id.
local t, data, prio_s = ARGV[2], ARGV[3], ARGV[4]
local prio = tonumber(prio_s)
local delay = tonumber(ARGV[6]) or 0
local ttl = tonumber(ARGV[7]) or 0
local backoff, roc = ARGV[8], ARGV[9]
local run_at = tonumber(ARGV[10]) or 0
local now = now_ms()
if run_at > 0 then delay = run_at - now end
if delay < 0 then delay = 0 end

local id = fmt(redis.call('INCR', key('ids')))
local f = { 'max_attempts', ARGV[5], 'type', t, 'created_at', fmt(now),
            'promote_at', fmt(now + delay), 'priority', prio_s, 'data', data }
if delay > 0 then f[#f + 1] = 'delay'; f[#f + 1] = fmt(delay) end
if ttl > 0 then f[#f + 1] = 'ttl'; f[#f + 1] = fmt(ttl) end
if backoff ~= '' then f[#f + 1] = 'backoff'; f[#f + 1] = backoff end
if roc ~= '' then f[#f + 1] = 'removeOnComplete'; f[#f + 1] = roc end
redis.call('SADD', key('job:types'), t)
redis.call('ZADD', key('jobs'), prio, zid(id))
if delay > 0 then
  move(id, t, prio, false, 'delayed', now, now + delay, nil, f)
else
  move(id, t, prio, false, 'inactive', now, nil, nil, f)
end

local n = tonumber(ARGV[11]) or 0
for i = 0, n - 1 do
  local code, count = ARGV[12 + 2 * i], ARGV[13 + 2 * i]
  redis.call('ZADD', key('search:word:' .. code), count, id)
  redis.call('ZADD', key('search:object:' .. id), count, code)
end
return tonumber(id)

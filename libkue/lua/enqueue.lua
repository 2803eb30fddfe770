-- enqueue: save new jobs (docs/wire.md sections 2, 6) in one step.
-- ARGV: prefix, then one record per job:
--   type, data, priority, max_attempts, delay_ms, ttl_ms, backoff,
--   removeOnComplete, run_at_ms, nsearch, [code, count] x nsearch
-- The jobs get consecutive ids.  Each job costs its own HSET and "enqueue"
-- PUBLISH; the id counter, the type set, the global and per-type sets and
-- the wake-up tokens take one variadic command per key for the whole call.
-- Returns the first id.
local now = now_ms()
local nows = fmt(now)
local recs = {}
local b = 2
while b + 9 <= #ARGV do
  local n = tonumber(ARGV[b + 9]) or 0
  recs[#recs + 1] = b
  b = b + 10 + 2 * n
end
if #recs == 0 or b ~= #ARGV + 1 then return err_reply('INVALID', 'enqueue: malformed arguments') end

local last = redis.call('INCRBY', key('ids'), #recs)
local first = last - #recs + 1
local ix = ix_new()
local types, seen = {}, {}
local min_due
for i, r in ipairs(recs) do
  local id = fmt(first + i - 1)
  local z = zid(id)
  local t, data, prio_s = ARGV[r], ARGV[r + 1], ARGV[r + 2]
  -- the delay is stored as given (Kue keeps 1000.7), within [0, MAX_DELAY_MS]
  local delay_s = ARGV[r + 4]
  local delay = tonumber(delay_s) or 0
  local ttl = tonumber(ARGV[r + 5]) or 0
  local backoff, roc = ARGV[r + 6], ARGV[r + 7]
  local run_at = tonumber(ARGV[r + 8]) or 0
  if run_at > 0 then delay = run_at - now; delay_s = nil end
  if delay ~= delay or delay < 0 then delay = 0 end
  if delay > MAX_DELAY_MS then delay = MAX_DELAY_MS; delay_s = nil end
  delay_s = delay_s or fmt(delay)
  local state = delay > 0 and 'delayed' or 'inactive'
  local f = { 'state', state, 'updated_at', nows, 'max_attempts', ARGV[r + 3], 'type', t,
              'created_at', nows, 'promote_at', fmt(now + delay), 'priority', prio_s,
              'data', data }
  if delay > 0 then f[#f + 1] = 'delay'; f[#f + 1] = delay_s end
  if ttl > 0 then f[#f + 1] = 'ttl'; f[#f + 1] = fmt(ttl) end
  if backoff ~= '' then f[#f + 1] = 'backoff'; f[#f + 1] = backoff end
  if roc ~= '' then f[#f + 1] = 'removeOnComplete'; f[#f + 1] = roc end
  redis.call('HSET', key('job:' .. id), unpack(f))

  if not seen[t] then seen[t] = true; types[#types + 1] = t end
  ix_add(ix, key('jobs'), prio_s, z)
  ix_add(ix, key('jobs:' .. t .. ':' .. state), prio_s, z)
  if state == 'delayed' then
    local due = now + delay
    ix_add(ix, key('jobs:delayed'), fmt(due), z)
    if not min_due or due < min_due then min_due = due end
  else
    ix_add(ix, key('jobs:inactive'), prio_s, z)
    ix_token(ix, t)
    publish(id, 'enqueue', ',' .. jstr(t))
  end

  local n = tonumber(ARGV[r + 9]) or 0
  for k = 0, n - 1 do
    local code, count = ARGV[r + 10 + 2 * k], ARGV[r + 11 + 2 * k]
    redis.call('ZADD', key('search:word:' .. code), count, id)
    redis.call('ZADD', key('search:object:' .. id), count, code)
  end
end

redis.call('SADD', key('job:types'), unpack(types))
ix_flush(ix)
-- tell promoters (kue-supervisor) the earliest due time at once (our channel)
if min_due then redis.call('PUBLISH', key('delayed'), fmt(min_due)) end
return first

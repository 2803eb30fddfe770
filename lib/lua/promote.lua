-- promote: move due delayed jobs to inactive (kue-wire.md 5.7), re-checking
-- each job's state, in one atomic step: idempotent and safe to run from any
-- number of supervisors at once.  While a Kue process holds the unprefixed
-- promotion:lock it is mid-promotion, so this tick does nothing.
-- Each job costs its own HMGET, HSET and two events (promotion, enqueue);
-- the sets and tokens take one variadic command per key for the round.
-- ARGV: prefix, limit
-- Returns {promoted, next_due_ms or -1, locked (0/1), max_lag_ms}.
local limit = tonumber(ARGV[2]) or 1000
local dk = key('jobs:delayed')
local function next_due()
  local top = redis.call('ZRANGE', dk, 0, 0, 'WITHSCORES')
  if #top == 0 then return -1 end
  return tonumber(top[2])
end
if redis.call('EXISTS', 'promotion:lock') == 1 then return { 0, next_due(), 1, 0 } end
local now = now_ms()
local nows = fmt(now)
local due = redis.call('ZRANGEBYSCORE', dk, '-inf', now, 'WITHSCORES', 'LIMIT', 0, limit)
local n, lag = 0, 0
local out, gin, bytype, types
-- the index updates: one variadic command per key for up to 1000 jobs
-- (entries whose hash is gone or not delayed just leave P:jobs:delayed)
local function start()
  out, gin, bytype, types = {}, {}, {}, {}
end
local function flush()
  if #out > 0 then redis.call('ZREM', dk, unpack(out)) end
  if #gin > 0 then redis.call('ZADD', key('jobs:inactive'), unpack(gin)) end
  for _, t in ipairs(types) do
    local bt = bytype[t]
    redis.call('ZREM', key('jobs:' .. t .. ':delayed'), unpack(bt.out))
    redis.call('ZADD', key('jobs:' .. t .. ':inactive'), unpack(bt.add))
    local ones = {}
    for k = 1, #bt.out do ones[k] = 1 end
    redis.call('LPUSH', key(t .. ':jobs'), unpack(ones))
  end
  start()
end
start()
for i = 1, #due, 2 do
  local z = due[i]
  out[#out + 1] = z
  local id = string.sub(z, (string.find(z, '|', 1, true) or 0) + 1)
  local v = redis.call('HMGET', key('job:' .. id), 'type', 'state', 'priority')
  if v[1] and v[2] == 'delayed' then
    local t, p = v[1], prio_s(v[3])
    publish(id, 'promotion')
    redis.call('HSET', key('job:' .. id), 'state', 'inactive', 'updated_at', nows)
    gin[#gin + 1] = p; gin[#gin + 1] = z
    local bt = bytype[t]
    if not bt then bt = { out = {}, add = {} }; bytype[t] = bt; types[#types + 1] = t end
    bt.out[#bt.out + 1] = z
    bt.add[#bt.add + 1] = p; bt.add[#bt.add + 1] = z
    publish(id, 'enqueue', ',' .. jstr(t))
    n = n + 1
    local l = now - tonumber(due[i + 1])
    if l > lag then lag = l end
  end
  if #out >= 1000 then flush() end
end
flush()
return { n, next_due(), 0, lag }

-- promote: move due delayed jobs to inactive (kue-wire.md 5.7), re-checking
-- each job's state, in one atomic step: idempotent and safe to run from any
-- number of supervisors at once.  While a Kue process holds the unprefixed
-- promotion:lock it is mid-promotion, so this tick does nothing.
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
local due = redis.call('ZRANGEBYSCORE', dk, '-inf', now, 'WITHSCORES', 'LIMIT', 0, limit)
local n, lag = 0, 0
for i = 1, #due, 2 do
  local z = due[i]
  local id = string.sub(z, (string.find(z, '|', 1, true) or 0) + 1)
  local j = load(id)
  if not j or j.state ~= 'delayed' then
    redis.call('ZREM', dk, z)
  else
    publish(id, 'promotion')
    move(id, j.type, j.prio, 'delayed', 'inactive', now)
    n = n + 1
    local l = now - tonumber(due[i + 1])
    if l > lag then lag = l end
  end
end
return { n, next_due(), 0, lag }

-- promote: move due delayed jobs to inactive (docs/wire.md), re-checking
-- each job's state, in one atomic step: idempotent and safe to run from any
-- number of supervisors at once.  While a Kue process holds the unprefixed
-- promotion:lock it is mid-promotion, so this tick does nothing.
-- Each job costs its own HMGET, HSET and two events (promotion, enqueue);
-- the sets and tokens take one variadic command per key (ix_flush).  A job
-- of a type with a parked worker is handed off to it instead (prelude:
-- hand-off; docs/wire.md section 13): active at once, with a "start".
-- ARGV: prefix, limit, cluster ("cluster": the lock lives in another hash
-- slot, on another node, where a script cannot read it; docs/wire.md)
-- Returns {promoted, next_due_ms or -1, locked (0/1), max_lag_ms}.
local limit = tonumber(ARGV[2]) or 1000
local dk = key('jobs:delayed')
local function next_due()
  local top = redis.call('ZRANGE', dk, 0, 0, 'WITHSCORES')
  if #top == 0 then return -1 end
  return tonumber(top[2])
end
if ARGV[3] ~= 'cluster' and redis.call('EXISTS', 'promotion:lock') == 1 then
  return { 0, next_due(), 1, 0 }
end
local now = now_ms()
local nows = fmt(now)
local due = redis.call('ZRANGEBYSCORE', dk, '-inf', now, 'WITHSCORES', 'LIMIT', 0, limit)
local n, lag = 0, 0
local ix = ix_new()
for i = 1, #due, 2 do
  local z = due[i]
  -- every due entry leaves P:jobs:delayed (a stale one, whose hash is gone
  -- or not delayed, only that)
  ix_rem(ix, dk, z)
  local id = string.sub(z, (string.find(z, '|', 1, true) or 0) + 1)
  local jk = key('job:' .. id)
  local v = redis.call('HMGET', jk, 'type', 'state', 'priority', 'group')
  if v[1] and v[2] == 'delayed' then
    local t, p = v[1], prio_s(v[3])
    publish(id, 'promotion')
    ix_rem(ix, key('jobs:' .. t .. ':delayed'), z)
    -- a parked worker of the type takes it at once (prelude: hand-off);
    -- a job of a group goes through the claim's admission instead
    local pk = prefix_keys()
    local tk = type_keys(pk, t)
    local h = (not v[4] or v[4] == '') and handoff_take(pk, tk, t, now)
    if h then
      local f = redis.call('HMGET', jk, 'priority', 'ttl', 'attempts', 'max_attempts',
                           'created_at', 'delay', 'backoff', 'data')
      redis.call('HSET', jk, 'state', 'active', 'updated_at', nows, 'started_at', nows,
                 'workerId', h.wid)
      publish(id, 'enqueue', ',' .. jstr(t))
      handoff_give(pk, tk, h, id, z, now, f)
    else
      redis.call('HSET', jk, 'state', 'inactive', 'updated_at', nows)
      ix_add(ix, key('jobs:inactive'), p, z)
      ix_add(ix, key('jobs:' .. t .. ':inactive'), p, z)
      ix_token(ix, t)
      publish(id, 'enqueue', ',' .. jstr(t))
    end
    n = n + 1
    local l = now - tonumber(due[i + 1])
    if l > lag then lag = l end
  end
end
ix_flush(ix)
return { n, next_due(), 0, lag }

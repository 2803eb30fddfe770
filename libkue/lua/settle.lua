-- settle: the master settles every job a dead worker process held, at once.
-- ARGV: prefix, host, pid, cause, mode ('fail': failed attempt with the
--       cause, then the normal retry rules; 'requeue': back to inactive,
--       attempt not counted)
-- Returns the number of jobs settled.
local host, pid, cause, mode = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local hk = key('held:' .. host .. ':' .. pid)
local prefix = worker_stem(host .. ':' .. pid)
local now = now_ms()
local n = 0
for _, id in ipairs(redis.call('SMEMBERS', hk)) do
  local j = load(id)
  if j and j.state == 'active' and j.workerId and
     string.sub(j.workerId, 1, #prefix) == prefix then
    -- a cancelled job (cancel.lua) is not put back: it fails
    if mode == 'requeue' and not redis.call('ZSCORE', key('cancels'), id) then
      release(id, j.workerId)
      sched_leave(id, j)
      move(id, j.type, j.prio, 'active', 'inactive', now)
    else
      fail_job(id, j, cause, -1, now, '')
    end
    n = n + 1
  end
end
-- its wake list may hold a job handed off to it (held: settled above);
-- its registration in P:parked:<type>, if any, is dropped by the next save
-- that meets it, as the lease is gone
redis.call('DEL', hk, key('drained:' .. host .. ':' .. pid), key('wake:' .. host .. ':' .. pid))
redis.call('ZREM', key('leases'), host .. ':' .. pid)
return n

-- recover: settle the jobs of worker processes whose lease expired (their
-- host died with its supervisor, or lost Redis for longer than the lease):
-- each job still active under that process fails its attempt with the
-- cause "lease expired", then is retried or failed by the normal rules --
-- unless the process was being drained (P:drained:<host>:<pid>, set by its
-- master when the drain began): a drain never spends an attempt, so its
-- jobs go back to inactive as they are.
-- ARGV: prefix, limit (processes per call).  Returns the number of jobs.
local limit = tonumber(ARGV[2]) or 1000
local now = now_ms()
local owners = redis.call('ZRANGEBYSCORE', key('leases'), '-inf', now, 'LIMIT', 0, limit)
local n = 0
for _, owner in ipairs(owners) do
  redis.call('ZREM', key('leases'), owner)
  local hk = key('held:' .. owner)
  local dk = key('drained:' .. owner)
  local drained = redis.call('EXISTS', dk) == 1
  local prefix = worker_stem(owner)
  for _, id in ipairs(redis.call('SMEMBERS', hk)) do
    local j = load(id)
    if j and j.state == 'active' and j.workerId and
       string.sub(j.workerId, 1, #prefix) == prefix then
      if drained then
        release(id, j.workerId)
        sched_leave(id, j)
        move(id, j.type, j.prio, 'active', 'inactive', now)
      else
        fail_job(id, j, 'lease expired', -1, now, '')
      end
      n = n + 1
    end
  end
  redis.call('DEL', hk, dk, key('wake:' .. owner))    -- a hand-off there was held
end
return n

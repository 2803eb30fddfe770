-- cancel: cancel a job (kue cancel, PUT /job/:id/cancel, kue_job_cancel).
-- A queued job (inactive or delayed) fails at once with the error
-- 'cancelled' and is not retried.  An active job held by a kue worker is
-- marked in P:cancels (score: when its supervisor kills the worker, ms on
-- Redis's clock) and announced on P:control as "cancel <id>": the worker
-- calls the plugin's cancel hook, and the supervisor running that worker
-- kills it once the grace time is over.  While the mark is there, any
-- failure of the job is final, with the error 'cancelled' (prelude's
-- fail_job).  A complete or failed job is left as it is.
-- ARGV: prefix, id, grace_ms[, idform ('s': the event's id is a string)]
-- Returns {outcome, holder}: 'cancelled' (failed now), 'cancelling' (active:
-- its worker is told; holder its workerId), or the finished state
-- ('complete', 'failed'), nothing changed.
local id, grace = ARGV[2], tonumber(ARGV[3]) or 0
EV_ID_STR = ARGV[4] == 's'
local j = load(id)
if not j then return err_reply('NOTFOUND', 'job "' .. id .. '" doesnt exist') end
local now = now_ms()
if j.state == 'inactive' or j.state == 'delayed' then
  -- (the RPUSH first: Redis refuses the whole script when out of memory)
  redis.call('RPUSH', key('job:' .. id .. ':log'), 'cancelled')
  -- its wake-up token goes with it (as a claim takes one per job)
  if j.state == 'inactive' then redis.call('LPOP', key(j.type .. ':jobs')) end
  publish(id, 'error', ',"cancelled"')
  move(id, j.type, j.prio, j.state, 'failed', now, nil, nil,
       { 'error', 'cancelled', 'failed_at', fmt(now) })
  publish(id, 'failed', ',"cancelled",null')
  return { 'cancelled', '' }
end
if j.state == 'active' then
  if not j.workerId or string.sub(j.workerId, 1, 4) ~= 'kue:' then
    return err_reply('WRONGSTATE', 'job "' .. id .. '" is active but not held by a kue worker (' ..
                     'workerId ' .. tostring(j.workerId or 'none') .. ', a Node Kue worker?): ' ..
                     'it cannot be told to cancel it')
  end
  redis.call('ZADD', key('cancels'), now + math.max(0, grace), id)
  redis.call('PUBLISH', key('control'), 'cancel ' .. id)
  return { 'cancelling', j.workerId }
end
return { tostring(j.state or 'unknown'), '' }

-- set_state: move a job to one of the five states (Kue's
-- PUT /job/:id/state/:state, job.inactive(), ...).  Leaving active drops
-- the lease, so a worker still running it cannot report it afterwards.
-- An active job is running: queueing it again (inactive, or delayed, which
-- is promoted to inactive) would run it twice at once, so that move is
-- refused here, in the same step as the read (docs/data.md).
-- ARGV: prefix, id, state[, from[, idform]]: with `from`, move only a job
-- that is in that state (e.g. retry: failed -> inactive), checked in the
-- same step; idform 's' publishes the id as a string (Kue's HTTP API).
-- Returns 1 or an error.
local id, to, from = ARGV[2], ARGV[3], ARGV[4]
EV_ID_STR = ARGV[5] == 's'
local j = load(id)
if not j then return err_reply('NOTFOUND', 'job "' .. id .. '" doesnt exist') end
if from and from ~= '' and j.state ~= from then
  return err_reply('WRONGSTATE', 'job "' .. id .. '" is ' .. tostring(j.state or 'in no state') ..
                   ', not ' .. from)
end
if j.state == 'active' and (to == 'inactive' or to == 'delayed') then
  return err_reply('WRONGSTATE', 'job "' .. id .. '" is active: it is running and cannot be ' ..
                   'queued again until it completes or fails')
end
local now = now_ms()
if j.state == 'active' and to ~= 'active' then release(id, j.workerId) end
sched_set_state(id, j, to)
-- an operator's move overrides a pending cancel (cancel.lua)
if redis.call('ZSCORE', key('cancels'), id) then redis.call('ZREM', key('cancels'), id) end
move(id, j.type, j.prio, j.state, to, now, j.promote_at, j.ttln)
return 1

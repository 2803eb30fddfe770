-- set_state: move a job to one of the five states (Kue's
-- PUT /job/:id/state/:state, job.inactive(), ...).  Leaving active drops
-- the lease, so a worker still running it cannot report it afterwards.
-- ARGV: prefix, id, state[, from]: with `from`, move only a job that is in
-- that state (e.g. retry: failed -> inactive), checked in the same step.
-- Returns 1 or an error.
local id, to, from = ARGV[2], ARGV[3], ARGV[4]
local j = load(id)
if not j then return redis.error_reply('job "' .. id .. '" doesnt exist') end
if from and from ~= '' and j.state ~= from then
  return redis.error_reply('job "' .. id .. '" is ' .. tostring(j.state or 'in no state') ..
                           ', not ' .. from)
end
local now = now_ms()
if j.state == 'active' and to ~= 'active' then release(id, j.workerId) end
move(id, j.type, j.prio, j.state, to, now, j.promote_at, j.ttln)
return 1

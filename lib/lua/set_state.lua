-- set_state: move a job to one of the five states (Kue's
-- PUT /job/:id/state/:state, job.inactive(), ...).  Leaving active drops
-- the lease, so a worker still running it cannot report it afterwards.
-- ARGV: prefix, id, state.  Returns 1 or an error.
local id, to = ARGV[2], ARGV[3]
local j = load(id)
if not j then return redis.error_reply('job "' .. id .. '" doesnt exist') end
local now = now_ms()
if j.state == 'active' and to ~= 'active' then release(id, j.workerId) end
move(id, j.type, j.prio, j.state, to, now, j.promote_at, j.ttln)
return 1

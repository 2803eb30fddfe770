-- requeue: put an active job back to inactive without counting the
-- attempt (drain deadline, shutdown).
-- ARGV: prefix, id, W ('' = any holder).  Returns 1, or 0 when not held.
local id, wid = ARGV[2], ARGV[3]
local j = load(id)
if not held_by(j, wid) then return 0 end
release(id, j.workerId)
sched_leave(id, j)
move(id, j.type, j.prio, 'active', 'inactive', now_ms())
return 1

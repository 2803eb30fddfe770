-- fail: fail the current attempt of an active job held by worker W
-- (docs/wire.md 6, 7): error, log line, attempts, then retry now / retry
-- after backoff / failed for good.
-- ARGV: prefix, id, W ('' = any holder), error, fn_backoff_ms (-1 = none),
--       cause ('ttl' also publishes "ttl exceeded ack"; else '')
-- Returns {1, outcome, delay_ms} or {0, '', 0} when not held.
local id, wid, err = ARGV[2], ARGV[3], ARGV[4]
local j = load(id)
if not held_by(j, wid) then return { 0, '', 0 } end
return fail_job(id, j, err, tonumber(ARGV[5]), now_ms(), ARGV[6])

-- log: append a line to a job's log (docs/wire.md section 6).  A job that no
-- longer exists is not recreated (Kue #559).
-- ARGV: prefix, id, line.  Returns 1, or 0 when the job does not exist.
local jk = key('job:' .. ARGV[2])
if redis.call('EXISTS', jk) == 0 then return 0 end
redis.call('RPUSH', jk .. ':log', ARGV[3])
redis.call('HSET', jk, 'updated_at', fmt(now_ms()))
return 1

-- renew: extend the lease of a live worker process (one entry per
-- process, however many jobs it holds).
-- ARGV: prefix, lease_ms, host, pid.  Returns 1.
redis.call('ZADD', key('leases'), now_ms() + tonumber(ARGV[2]), ARGV[3] .. ':' .. ARGV[4])
return 1

-- renew: extend the leases of jobs a live worker still holds.
-- ARGV: prefix, lease_ms, id ...  Returns the number renewed (only ids
-- that still have a lease; a settled job is not given one back).
local deadline = now_ms() + tonumber(ARGV[2])
local n = 0
for i = 3, #ARGV do
  n = n + redis.call('ZADD', key('leases'), 'XX', 'CH', deadline, ARGV[i])
end
return n

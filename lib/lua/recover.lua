-- recover: settle jobs whose lease expired (their host or worker died
-- without its supervisor settling them): a failed attempt with the cause
-- "lease expired", then retried or failed by the normal rules.
-- ARGV: prefix, limit.  Returns the number settled.
local limit = tonumber(ARGV[2]) or 1000
local now = now_ms()
local ids = redis.call('ZRANGEBYSCORE', key('leases'), '-inf', now, 'LIMIT', 0, limit)
local n = 0
for _, id in ipairs(ids) do
  redis.call('ZREM', key('leases'), id)
  local j = load(id)
  if j and j.state == 'active' then
    fail_job(id, j, 'lease expired', -1, now, '')
    n = n + 1
  end
end
return n

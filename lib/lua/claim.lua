-- claim: take up to n jobs of a type, lowest score first (priority, then
-- FIFO by zid), and make them active for one worker process: started_at,
-- workerId, holder set, "start" event; the process's lease is extended.  Entries whose hash is gone
-- or whose state is not inactive are dropped from the per-type set (Kue's
-- index leaks, issues #661/#710) instead of being run.
-- ARGV: prefix, type, n, host, pid, lease_ms, tokens_taken, slot_1 .. slot_n
-- Returns an array of {id, field, value, ...} (the whole hash).
local t, n = ARGV[2], tonumber(ARGV[3])
local host, pid = ARGV[4], ARGV[5]
local lease, taken = tonumber(ARGV[6]), tonumber(ARGV[7])
local now = now_ms()
local ik = key('jobs:' .. t .. ':inactive')
local out = {}
local scanned = 0
while #out < n and scanned < n + 64 do
  scanned = scanned + 1
  local top = redis.call('ZRANGE', ik, 0, 0)
  if #top == 0 then break end
  local z = top[1]
  redis.call('ZREM', ik, z)
  local id = string.sub(z, (string.find(z, '|', 1, true) or 0) + 1)
  local h = redis.call('HGETALL', key('job:' .. id))
  local j = from_hash(h)
  if not j then
    drop(id, t, nil)
  elseif j.state == 'inactive' and j.type == t then
    local slot = ARGV[7 + #out + 1]
    local wid = 'kue:' .. host .. ':' .. pid .. ':' .. t .. ':' .. slot
    local nows = fmt(now)
    move(id, t, j.prio, 'inactive', 'active', now, nil, j.ttln,
         { 'started_at', nows, 'workerId', wid }, true)
    redis.call('SADD', key('held:' .. host .. ':' .. pid), id)
    publish(id, 'start', ',' .. jstr(t) .. ',null')
    -- reply with the hash as it is now, without reading it again
    local set = { state = 'active', updated_at = nows, started_at = nows, workerId = wid }
    for i = 1, #h, 2 do
      local v = set[h[i]]
      if v then h[i + 1] = v; set[h[i]] = nil end
    end
    for f, v in pairs(set) do h[#h + 1] = f; h[#h + 1] = v end
    table.insert(h, 1, id)
    out[#out + 1] = h
  end
end
if #out > 0 then redis.call('ZADD', key('leases'), now + lease, host .. ':' .. pid) end
for _ = 1, #out - taken do
  if not redis.call('LPOP', key(t .. ':jobs')) then break end
end
return out

-- leader: take, renew or give up the leader lease of the prefix
-- (docs/wire.md section 12).
-- ARGV: prefix, holder ("host:pid:started_ms"), lease_ms, mode ('' or 'release')
-- Returns {1, token, lease_ms} for the holder (a new token each time the
-- lease changes hands, INCR-like: HINCRBY on the persistent hash), or
-- {0, token, ms_left, holder} while another supervisor holds it.
local now = now_ms()
local k = key('leader')
local me, lease = ARGV[2], tonumber(ARGV[3]) or 5000
local v = redis.call('HMGET', k, 'holder', 'token', 'until')
local untl = tonumber(v[3]) or 0
if ARGV[4] == 'release' then
  if v[1] == me then
    redis.call('HSET', k, 'until', '0')
    redis.call('HDEL', k, 'holder')
    redis.call('PUBLISH', k, 'released')   -- followers ask at once
    return 1
  end
  return 0
end
if v[1] == me and untl >= now then
  redis.call('HSET', k, 'until', fmt(now + lease))
  return { 1, tonumber(v[2]) or 0, lease }
end
if not v[1] or untl < now then
  local tok = redis.call('HINCRBY', k, 'token', 1)
  redis.call('HSET', k, 'holder', me, 'until', fmt(now + lease), 'since', fmt(now))
  return { 1, tok, lease }
end
return { 0, tonumber(v[2]) or 0, untl - now, v[1] }

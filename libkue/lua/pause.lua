-- pause: pause or resume a job type on every host (kue pause / resume,
-- PUT /pause/:type, kue_type_pause).  P:paused is the set of paused types;
-- the claim script claims nothing of a paused type, so once this call has
-- answered no worker anywhere takes a job of the type.  "pause T" or
-- "resume T" on P:control tells idle workers at once.  Jobs can still be
-- saved; jobs in flight finish.
-- ARGV: prefix, type, '1' pause / '0' resume
-- Returns 1 when the state changed, 0 when it already was so.
local t, on = ARGV[2], ARGV[3] == '1'
local n
if on then n = redis.call('SADD', key('paused'), t)
else n = redis.call('SREM', key('paused'), t) end
redis.call('PUBLISH', key('control'), (on and 'pause ' or 'resume ') .. t)
return n

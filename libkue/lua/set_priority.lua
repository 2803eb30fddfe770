-- set_priority: change a job's priority and re-score every set it is in.
-- ARGV: prefix, id, priority.  Returns 1 or an error.
local id, ps = ARGV[2], ARGV[3]
local j = load(id)
if not j then return err_reply('NOTFOUND', 'job "' .. id .. '" doesnt exist') end
local prio = tonumber(ps)
local now = now_ms()
local z = zid(id)
redis.call('HSET', key('job:' .. id), 'priority', ps, 'updated_at', fmt(now))
redis.call('ZADD', key('jobs'), prio, z)
if j.state then
  if j.state ~= 'delayed' and j.state ~= 'active' then
    redis.call('ZADD', key('jobs:' .. j.state), prio, z)
  elseif j.state == 'active' then
    -- as Kue's re-save: without a ttl the score follows the priority, with
    -- one the deadline is refreshed
    redis.call('ZADD', key('jobs:active'), global_score('active', prio, nil, j.ttln, now), z)
  end
  redis.call('ZADD', key('jobs:' .. j.type .. ':' .. j.state), prio, z)
end
return 1

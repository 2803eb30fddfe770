-- progress: record progress of a job (docs/wire.md section 6).
-- ARGV: prefix, id, W ('' = any), percent, data_json ('' = none)
-- Returns 1, or 0 when the job is gone or (with W) not held by W.
local id, wid, pct, data = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local j = load(id)
if not j or (wid ~= '' and not held_by(j, wid)) then return 0 end
local now = now_ms()
local jk = key('job:' .. id)
redis.call('HSET', jk, 'progress', pct)
if data ~= '' then redis.call('HSET', jk, 'progress_data', data) end
redis.call('HSET', jk, 'updated_at', fmt(now))
if j.state == 'active' and j.ttln > 0 then
  redis.call('ZADD', key('jobs:active'), now + j.ttln, zid(id))
end
publish(id, 'progress', ',' .. pct .. ',' .. (data ~= '' and data or 'null'))
return 1

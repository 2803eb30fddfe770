-- complete: finish an active job held by worker W (kue-wire.md 5.4).
-- ARGV: prefix, id, W ('' = any holder), duration_ms, result_json ('' = none)
-- Returns 1, or 0 when the job is not held by W (a late or repeated report:
-- ignored, never completed twice).
local id, wid = ARGV[2], ARGV[3]
local dur, result = tonumber(ARGV[4]) or 0, ARGV[5]
local j = load(id)
if not held_by(j, wid) then return 0 end
local now = now_ms()
local extra = { 'duration', fmt(dur), 'progress', '100' }
if result ~= '' then extra[#extra + 1] = 'result'; extra[#extra + 1] = result end
local made = tonumber(j.attempts) or 0
if made < (tonumber(j.max_attempts) or 1) then      -- Kue's HINCRBY, folded in
  extra[#extra + 1] = 'attempts'; extra[#extra + 1] = fmt(made + 1)
end
move(id, j.type, j.prio, 'active', 'complete', now, nil, nil, extra)
release(id, j.workerId)
redis.call('INCRBY', key('stats:work-time'), fmt(dur))
publish(id, 'complete', ',' .. (result ~= '' and result or 'null') .. ',null')
if j.removeOnComplete and j.removeOnComplete ~= '' and j.removeOnComplete ~= 'false' then
  drop(id, j.type, nil)
  publish(id, 'remove', ',' .. jstr(j.type))
end
return 1

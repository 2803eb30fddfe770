-- complete: finish active jobs held by their workers (kue-wire.md 5.4),
-- several per call: a worker sends the completions of one loop iteration
-- together (one TIME, one script call).
-- ARGV: prefix, then per job: id, W ('' = any holder), duration_ms,
--       result_json ('' = none)
-- Returns one integer per job: 1, or 0 when the job is not held by W (a
-- late or repeated report: ignored, never completed twice).
local now = now_ms()
local out = {}
local work, done = 0, 0
for b = 2, #ARGV - 3, 4 do
  local id, wid = ARGV[b], ARGV[b + 1]
  local dur, result = tonumber(ARGV[b + 2]) or 0, ARGV[b + 3]
  local j = load(id)
  if not held_by(j, wid) then
    out[#out + 1] = 0
  else
    local extra = { 'duration', fmt(dur), 'progress', '100' }
    if result ~= '' then extra[#extra + 1] = 'result'; extra[#extra + 1] = result end
    local made = tonumber(j.attempts) or 0
    if made < (tonumber(j.max_attempts) or 1) then      -- Kue's HINCRBY, folded in
      extra[#extra + 1] = 'attempts'; extra[#extra + 1] = fmt(made + 1)
    end
    move(id, j.type, j.prio, 'active', 'complete', now, nil, nil, extra)
    release(id, j.workerId)
    work = work + dur
    done = done + 1
    publish(id, 'complete', ',' .. (result ~= '' and result or 'null') .. ',null')
    if j.removeOnComplete and j.removeOnComplete ~= '' and j.removeOnComplete ~= 'false' then
      drop(id, j.type, nil)
      publish(id, 'remove', ',' .. jstr(j.type))
    end
    out[#out + 1] = 1
  end
end
-- one INCRBY for the batch (also of 0: Kue creates the key on the first
-- completion, and /stats reports workTime 0 rather than null)
if done > 0 then redis.call('INCRBY', key('stats:work-time'), fmt(work)) end
return out

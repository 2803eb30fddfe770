-- complete: finish active jobs held by their workers (docs/wire.md section 6),
-- several per call: a worker sends the completions of one loop iteration
-- together (one TIME, one script call).  Each job costs its own HMGET,
-- HSET and PUBLISH; the index updates of the batch are one variadic
-- command per key (active sets out, complete sets in, holder sets).
-- ARGV: prefix, then per job: id, W ('' = any holder), duration_ms,
--       result_json ('' = none)
-- Returns one integer per job: 1, or 0 when the job is not held by W (a
-- late or repeated report: ignored, never completed twice).
local now = now_ms()
local nows = fmt(now)
local out = {}
local work, done = 0, 0
local pk = prefix_keys()
-- the batch's index changes: the global sets, then each type's, in the
-- order the types came (one variadic command per key at the end)
local rem_act, add_done = {}, {}
local per_type, types = {}, {} -- type -> { keys, removals, additions }
local byheld = {}              -- holder set key -> ids
local helds = {}
local gone = {}                -- removeOnComplete: {id, type}
local evk, jpre = pk.events, pk.job
local pcache, hcache = {}, {}  -- scores by stored priority; holder sets by workerId
local hstem, hstem_key         -- the last holder's kue:<host>:<pid>: and its set
for b = 2, #ARGV - 3, 4 do
  local id, wid = ARGV[b], ARGV[b + 1]
  local dur, result = tonumber(ARGV[b + 2]) or 0, ARGV[b + 3]
  local jk = jpre .. id
  -- unique_for is read only for a job with a unique key (most have none)
  local v = redis.call('HMGET', jk, 'type', 'state', 'priority', 'workerId', 'attempts',
                       'max_attempts', 'removeOnComplete', 'unique', 'group')
  -- held by W ('' accepts any holder) and still active
  if not v[1] or v[2] ~= 'active' or (wid ~= '' and v[4] ~= wid) then
    out[#out + 1] = 0
  else
    local ty, holder = v[1], v[4]
    local p = pcache[v[3] or '']
    if not p then p = prio_s(v[3]); pcache[v[3] or ''] = p end
    local z = zid_fast(id)
    local made = v[5] and tonumber(v[5]) or 0
    local durs = small_int(dur)
    -- Kue's HINCRBY of attempts, folded in while attempts < max_attempts
    local more = made < (v[6] and tonumber(v[6]) or 1)
    if result == '' and more then           -- the common case, without a table
      redis.call('HSET', jk, 'state', 'complete', 'updated_at', nows, 'duration', durs,
                 'progress', '100', 'attempts', small_int(made + 1))
    else
      local hset = { 'state', 'complete', 'updated_at', nows, 'duration', durs, 'progress', '100' }
      if result ~= '' then hset[#hset + 1] = 'result'; hset[#hset + 1] = result end
      if more then hset[#hset + 1] = 'attempts'; hset[#hset + 1] = small_int(made + 1) end
      redis.call('HSET', jk, unpack(hset))
    end
    rem_act[#rem_act + 1] = z
    add_done[#add_done + 1] = p; add_done[#add_done + 1] = z
    local tl = per_type[ty]
    if not tl then
      tl = { type_keys(pk, ty), {}, {} }
      per_type[ty] = tl
      types[#types + 1] = tl
    end
    local r, a = tl[2], tl[3]
    r[#r + 1] = z
    a[#a + 1] = p; a[#a + 1] = z
    -- the holder set: a batch's jobs are mostly one process's (its slots
    -- differ, its kue:<host>:<pid>: stem does not), so the last stem is
    -- tried first, without parsing
    local hk = nil
    if holder then
      if hstem and string.find(holder, hstem, 1, true) == 1 then hk = hstem_key
      else
        hk = hcache[holder]
        if hk == nil then hk = held_key(holder) or false; hcache[holder] = hk end
        if hk then hstem = string.match(holder, '^kue:[^:]*:%d+:'); hstem_key = hk end
      end
    end
    if hk then
      local hs = byheld[hk]
      if not hs then hs = {}; byheld[hk] = hs; helds[#helds + 1] = hk end
      hs[#hs + 1] = id
    end
    if v[8] or v[9] then
      local ufor = v[8] and redis.call('HGET', jk, 'unique_for') or nil
      sched_leave(id, { type = ty, unique = v[8], unique_for = ufor, group = v[9] }, 'complete')
    end
    work = work + dur
    done = done + 1
    -- publish(id, 'complete', ...), inlined
    redis.call('PUBLISH', evk, '{"id":' .. id .. ',"event":"complete","args":["complete",'
               .. (result ~= '' and result or 'null') .. ',null]}')
    local roc = v[7]
    if roc and roc ~= '' and roc ~= 'false' then
      gone[#gone + 1] = { id, ty }
    end
    out[#out + 1] = 1
  end
end
if done > 0 then
  ix_send('ZREM', pk.active, rem_act)
  ix_send('ZADD', pk.complete, add_done)
  for _, tl in ipairs(types) do
    ix_send('ZREM', tl[1].active, tl[2])
    ix_send('ZADD', tl[1].complete, tl[3])
  end
  for _, hk in ipairs(helds) do redis.call('SREM', hk, unpack(byheld[hk])) end
  -- one INCRBY for the batch (Kue creates the key on the first completion,
  -- and /stats reports workTime 0 rather than null)
  redis.call('INCRBY', pk.work_time, fmt(work))
  -- removeOnComplete: after the index updates, so nothing is left behind
  for _, g in ipairs(gone) do
    drop(g[1], g[2], nil)
    publish(g[1], 'remove', ',' .. jstr(g[2]))
  end
end
return out

-- enqueue: save new jobs (docs/wire.md sections 2, 6) in one step.
-- ARGV: prefix, then one record per job:
--   type, data, priority, max_attempts, delay_ms, ttl_ms, backoff,
--   removeOnComplete, run_at_ms, unique, unique_for_ms, group,
--   nsearch, [code, count] x nsearch
-- The jobs get consecutive ids.  Each job costs its own HSET and "enqueue"
-- PUBLISH; the id counter, the type set, the global and per-type sets and
-- the wake-up tokens take one variadic command per key for the whole call.
-- A job with a unique key ('' = none) whose key is held (docs/wire.md
-- section 11) is not saved: the holder's id stands for it.
-- Returns the first id; when a record has a unique key, an array with one
-- entry per record instead: the new job's id, or minus the holder's id.
local now = now_ms()
local nows = fmt(now)

-- One plain job (no delay or run_at, unique key, group or search words):
-- the common single save, made with the same writes in the same field
-- order as the general path below, without its batch bookkeeping (an
-- idle queue's enqueue -> start latency is mostly these two scripts).
if #ARGV == 14 and ARGV[14] == '0' and ARGV[11] == '' and ARGV[13] == ''
    and (ARGV[6] == '0' or ARGV[6] == '') and (ARGV[10] == '0' or ARGV[10] == '') then
  local t, prio_s = ARGV[2], ARGV[4]
  local pk = prefix_keys()
  local tk = type_keys(pk, t)
  local first = redis.call('INCRBY', pk.ids, 1)
  local id = fmt(first)
  local ttl = tonumber(ARGV[7]) or 0
  local backoff, roc = ARGV[8], ARGV[9]
  local jk = pk.job .. id
  local h = handoff_take(pk, tk, t, now)
  if h then
    -- a parked worker takes it at once (prelude: hand-off): the fields in
    -- the same order as a saved job's, then the claim's two
    local f = { 'state', 'active', 'updated_at', nows, 'max_attempts', ARGV[5], 'type', t,
                'created_at', nows, 'promote_at', nows, 'priority', prio_s, 'data', ARGV[3] }
    if ttl > 0 then f[#f + 1] = 'ttl'; f[#f + 1] = fmt(ttl) end
    if backoff ~= '' then f[#f + 1] = 'backoff'; f[#f + 1] = backoff end
    if roc ~= '' then f[#f + 1] = 'removeOnComplete'; f[#f + 1] = roc end
    f[#f + 1] = 'started_at'; f[#f + 1] = nows
    f[#f + 1] = 'workerId'; f[#f + 1] = h.wid
    redis.call('HSET', jk, unpack(f))
    redis.call('PUBLISH', pk.events, '{"id":' .. (EV_ID_STR and ('"' .. id .. '"') or id) .. tk.enqueue_tail)
    redis.call('SADD', pk.job_types, t)
    local z = zid_fast(id)
    redis.call('ZADD', pk.jobs, prio_s, z)
    handoff_give(pk, tk, h, id, z, now, { prio_s, ttl > 0 and fmt(ttl) or nil, nil, ARGV[5], nows,
                                          nil, backoff ~= '' and backoff or nil, ARGV[3] })
    return first
  end
  if ttl > 0 or backoff ~= '' or roc ~= '' then
    local f = { 'state', 'inactive', 'updated_at', nows, 'max_attempts', ARGV[5], 'type', t,
                'created_at', nows, 'promote_at', nows, 'priority', prio_s, 'data', ARGV[3] }
    if ttl > 0 then f[#f + 1] = 'ttl'; f[#f + 1] = fmt(ttl) end
    if backoff ~= '' then f[#f + 1] = 'backoff'; f[#f + 1] = backoff end
    if roc ~= '' then f[#f + 1] = 'removeOnComplete'; f[#f + 1] = roc end
    redis.call('HSET', jk, unpack(f))
  else
    redis.call('HSET', jk, 'state', 'inactive', 'updated_at', nows, 'max_attempts', ARGV[5],
               'type', t, 'created_at', nows, 'promote_at', nows, 'priority', prio_s, 'data', ARGV[3])
  end
  -- publish(id, 'enqueue', ',' .. jstr(t)), inlined
  redis.call('PUBLISH', pk.events, '{"id":' .. (EV_ID_STR and ('"' .. id .. '"') or id) .. tk.enqueue_tail)
  redis.call('SADD', pk.job_types, t)
  local z = zid_fast(id)
  redis.call('ZADD', pk.jobs, prio_s, z)
  redis.call('ZADD', tk.inactive, prio_s, z)
  redis.call('ZADD', pk.inactive, prio_s, z)
  redis.call('LPUSH', tk.tokens, 1)
  return first
end

local recs = {}
local b = 2
while b + 12 <= #ARGV do
  local n = tonumber(ARGV[b + 12]) or 0
  recs[#recs + 1] = b
  b = b + 13 + 2 * n
end
if #recs == 0 or b ~= #ARGV + 1 then return err_reply('INVALID', 'enqueue: malformed arguments') end

-- unique keys: which records stand for a job that already holds theirs
local held, uniq_any, fresh = {}, false, 0
local inbatch = {}
for i, r in ipairs(recs) do
  local u = ARGV[r + 9]
  if u ~= '' then
    uniq_any = true
    local bk = ARGV[r] .. '\0' .. u
    if inbatch[bk] then held[i] = inbatch[bk]
    else
      held[i] = uniq_holder(ARGV[r], u)
      if not held[i] then inbatch[bk] = i end
    end
  end
  if not held[i] then fresh = fresh + 1 end
end
local first = 1
if fresh > 0 then first = redis.call('INCRBY', key('ids'), fresh) - fresh + 1 end
local ids, out, nnew = {}, {}, 0
local ix = ix_new()
local types, seen = {}, {}
local min_due
-- keys and event text made once per call (per type for the type's own)
local pk = prefix_keys()
local kjobs, kinact, kdelayed, kev, jpre = pk.jobs, pk.inactive, key('jobs:delayed'), pk.events, pk.job
local tkeys, etails = {}, {}
for i, r in ipairs(recs) do
  local h = held[i]
  if type(h) == 'number' then h = ids[h] end
  if h then out[i] = -tonumber(h) else     -- (body of the new job's save, to the second 'end')
  local id = fmt(first + nnew)
  nnew = nnew + 1
  ids[i] = id
  out[i] = tonumber(id)
  local z = zid_fast(id)
  local t, data, prio_s = ARGV[r], ARGV[r + 1], ARGV[r + 2]
  -- the delay is stored as given (Kue keeps 1000.7), within [0, MAX_DELAY_MS]
  local delay_s = ARGV[r + 4]
  local delay = tonumber(delay_s) or 0
  local ttl = tonumber(ARGV[r + 5]) or 0
  local backoff, roc = ARGV[r + 6], ARGV[r + 7]
  local run_at = tonumber(ARGV[r + 8]) or 0
  if run_at > 0 then delay = run_at - now; delay_s = nil end
  if delay ~= delay or delay < 0 then delay = 0 end
  if delay > MAX_DELAY_MS then delay = MAX_DELAY_MS; delay_s = nil end
  delay_s = delay_s or fmt(delay)
  local state = delay > 0 and 'delayed' or 'inactive'
  local u, ufor, g = ARGV[r + 9], ARGV[r + 10], ARGV[r + 11]
  if delay <= 0 and not (ttl > 0) and backoff == '' and roc == '' and u == '' and g == '' then
    -- a plain job: the same fields, without a table
    redis.call('HSET', jpre .. id, 'state', state, 'updated_at', nows, 'max_attempts', ARGV[r + 3],
               'type', t, 'created_at', nows, 'promote_at', nows, 'priority', prio_s, 'data', data)
  else
    local f = { 'state', state, 'updated_at', nows, 'max_attempts', ARGV[r + 3], 'type', t,
                'created_at', nows, 'promote_at', delay > 0 and fmt(now + delay) or nows,
                'priority', prio_s, 'data', data }
    if delay > 0 then f[#f + 1] = 'delay'; f[#f + 1] = delay_s end
    if ttl > 0 then f[#f + 1] = 'ttl'; f[#f + 1] = fmt(ttl) end
    if backoff ~= '' then f[#f + 1] = 'backoff'; f[#f + 1] = backoff end
    if roc ~= '' then f[#f + 1] = 'removeOnComplete'; f[#f + 1] = roc end
    if u ~= '' then
      f[#f + 1] = 'unique'; f[#f + 1] = u
      redis.call('SET', uniq_key(t, u), id)
      if (tonumber(ufor) or 0) > 0 then f[#f + 1] = 'unique_for'; f[#f + 1] = ufor end
    end
    if g ~= '' then f[#f + 1] = 'group'; f[#f + 1] = g end
    redis.call('HSET', jpre .. id, unpack(f))
  end

  if not seen[t] then seen[t] = true; types[#types + 1] = t end
  local tk = tkeys[t]
  if not tk then tk = {}; tkeys[t] = tk end
  local kts = tk[state]
  if not kts then kts = key('jobs:' .. t .. ':' .. state); tk[state] = kts end
  ix_add(ix, kjobs, prio_s, z)
  ix_add(ix, kts, prio_s, z)
  if state == 'delayed' then
    local due = now + delay
    ix_add(ix, kdelayed, fmt(due), z)
    if not min_due or due < min_due then min_due = due end
  else
    ix_add(ix, kinact, prio_s, z)
    ix_token(ix, t)
    -- publish(id, 'enqueue', ',' .. jstr(t)), inlined
    local et = etails[t]
    if not et then et = ',"event":"enqueue","args":["enqueue",' .. jstr(t) .. ']}'; etails[t] = et end
    redis.call('PUBLISH', kev, '{"id":' .. (EV_ID_STR and ('"' .. id .. '"') or id) .. et)
  end

  local n = tonumber(ARGV[r + 12]) or 0
  for k = 0, n - 1 do
    local code, count = ARGV[r + 13 + 2 * k], ARGV[r + 14 + 2 * k]
    redis.call('ZADD', key('search:word:' .. code), count, id)
    redis.call('ZADD', key('search:object:' .. id), count, code)
  end
  end
end

if #types > 0 then redis.call('SADD', key('job:types'), unpack(types)) end
ix_flush(ix)
-- tell promoters (kue-supervisor) the earliest due time at once (our channel)
if min_due then redis.call('PUBLISH', key('delayed'), fmt(min_due)) end
if uniq_any then return out end
return first

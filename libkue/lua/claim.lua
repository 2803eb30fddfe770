-- claim: take up to n jobs of a type, lowest score first (priority, then
-- FIFO by zid), and make them active for one worker process: started_at,
-- workerId, holder set, "start" event; the process's lease is extended.
-- Entries whose hash is gone or whose state is not inactive are dropped from
-- the per-type set (Kue's index leaks, issues #661/#710) instead of being run.
-- The index updates of the whole batch are one variadic command per key
-- (ZREM/ZADD on the global and per-type sets, SADD of the holder set), so a
-- job costs only its own HMGET, HSET and PUBLISH.
-- ARGV: prefix, type, n, host, pid, lease_ms, tokens_taken, slot_1 .. slot_n,
--       rate_n, rate_period_ms, group_concurrency (0: no limit; docs/wire.md
--       section 11), park, unpark_slot
-- tokens_taken: wake-up tokens the worker's wait popped for this claim.
-- park '1': when fewer than n jobs are found, register the process as
-- parked (prelude: hand-off) with the first slot left over, which the
-- worker then offers first, as unpark_slot, in its next claim.  That claim
-- removes the registration, and when a save took it instead, returns the
-- job it handed off first.  n = 0 (the worker may take no job now): only
-- leave the list, and put such a job back in the queue (attempt not
-- counted).  Types with a rate limit or group concurrency never park.
-- Returns an array of {id, priority, ttl, data, attempts, max_attempts,
-- created_at, delay, backoff} (missing fields nil): what the worker and
-- its plugin use, read with one HMGET and returned by position.  When the
-- rate window is full, one integer follows the jobs: the ms until it has
-- room again.  When the type is paused: the string 'paused'.
local t, n = ARGV[2], tonumber(ARGV[3])
local host, pid = ARGV[4], ARGV[5]
local lease, taken = tonumber(ARGV[6]), tonumber(ARGV[7]) or 0
local rate_n, rate_p = tonumber(ARGV[8 + n]) or 0, tonumber(ARGV[9 + n]) or 0
local gc = tonumber(ARGV[10 + n]) or 0
local park, unpark = ARGV[11 + n] == '1', ARGV[12 + n] or '0'
local pk = prefix_keys()
local tk = type_keys(pk, t)
local cs = claim_strings(t, host, pid)
local out = {}
local jpre = pk.job
-- leave the parked list; a save that took the registration meanwhile left
-- its job in our wake list: it is ours already (active, held, leased)
if unpark ~= '0' then
  redis.call('LREM', tk.parked, 1, host .. '|' .. pid .. '|' .. unpark .. '|' .. ARGV[6])
  local m = redis.call('LPOP', cs.wake)
  local id = m and string.match(m, '^%d+%z(%d+)%z')
  if id then
    local v = redis.call('HMGET', jpre .. id, 'state', 'workerId', 'priority', 'ttl', 'data',
                         'attempts', 'max_attempts', 'created_at', 'delay', 'backoff')
    if v[1] == 'active' and v[2] and string.sub(v[2], 1, #cs.wid) == cs.wid then
      if n == 0 then
        -- the worker takes no job now (drain, pause, quiet): back to the
        -- queue, the attempt not counted
        local j = load(id)
        release(id, j.workerId)
        sched_leave(id, j)
        move(id, j.type, j.prio, 'active', 'inactive', now_ms())
      else
        -- it runs in the slot offered first (a registration whose claim
        -- reply was lost may have named another)
        local wid = cs.wid .. unpark
        if v[2] ~= wid then redis.call('HSET', jpre .. id, 'workerId', wid) end
        out[1] = { id, v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10] }
      end
    end
  end
end
-- a paused type (pause.lua) claims nothing: the tokens a wait took go
-- back, and the worker is told 'paused' so it stops asking
if redis.call('SISMEMBER', pk.paused, t) == 1 then
  for _ = 1, taken do redis.call('RPUSH', tk.tokens, 1) end
  if #out > 0 then return out end
  return 'paused'
end
if n == 0 and taken > 0 then
  for _ = 1, taken do redis.call('RPUSH', tk.tokens, 1) end      -- not used: back
  taken = 0
end
local now = now_ms()
local asked, rk = n, nil
if rate_n > 0 and rate_p > 0 then
  rk, n = rate_claim_room(t, n, rate_n, rate_p, now)
end
local nows = fmt(now)
local ik = tk.inactive
local ids = {}
-- the batch's index changes, one variadic command per key at the end
local kin, kact, ktact = pk.inactive, pk.active, tk.active
local rem_in, add_act, add_tact = {}, {}, {}
local prefix_wid = cs.wid
-- per job, the 'start' event's text after the id, and the job's scores
-- by stored priority (few distinct values: worked out once per call)
local evk, start_tail = pk.events, tk.start_tail
local pcache = {}
local scanned = 0
local gs = gc > 0 and grp_scan_new(t, gc, now) or nil
-- pop what is wanted; stale entries are skipped, up to 64 beyond n (with
-- group_concurrency: up to GRP_SCAN beyond n, and entries of groups at
-- their limit are parked instead of claimed)
while #out < n and scanned < n + (gs and GRP_SCAN or 64) do
  local want = n - #out
  local top = redis.call('ZPOPMIN', ik, want)
  if #top == 0 then break end
  for i = 1, #top, 2 do
    scanned = scanned + 1
    local z = top[i]
    -- 'NN|id': the id starts at 4 (a member of another shape: after its '|')
    local id = string.byte(z, 3) == 124 and string.sub(z, 4)
               or string.sub(z, (string.find(z, '|', 1, true) or 0) + 1)
    local jk = jpre .. id
    local v = redis.call('HMGET', jk, 'type', 'state', 'priority', 'ttl', 'data', 'attempts',
                         'max_attempts', 'created_at', 'delay', 'backoff', 'group')
    if not v[1] then
      drop(id, t, nil)
    elseif gs and v[2] == 'inactive' and v[1] == t and not grp_admit(gs, id, z, v[3], v[11]) then
      -- parked: its group is at its limit
    elseif v[2] == 'inactive' and v[1] == t then
      if v[11] and v[11] ~= '' and not gs then redis.call('SADD', grp_active_key(t, v[11]), id) end
      local wid = prefix_wid .. ARGV[7 + #out + 1]
      redis.call('HSET', jk, 'state', 'active', 'updated_at', nows, 'started_at', nows, 'workerId', wid)
      -- scores as strings (Redis formats Lua numbers with a slow %.17g)
      local pc = pcache[v[3] or '']
      if not pc then
        local ps = prio_s(v[3])
        pc = { ps, string.sub(ps, 1, 1) == '-' and ps or '-' .. ps }
        pcache[v[3] or ''] = pc
      end
      local p, g = pc[1], pc[2]
      local ttl = v[4] and tonumber(v[4]) or 0
      if ttl > 0 then g = fmt(now + math.min(ttl, MAX_TTL_MS)) end   -- never wraps
      rem_in[#rem_in + 1] = z
      add_act[#add_act + 1] = g; add_act[#add_act + 1] = z
      add_tact[#add_tact + 1] = p; add_tact[#add_tact + 1] = z
      ids[#ids + 1] = id
      redis.call('PUBLISH', evk, '{"id":' .. id .. start_tail)      -- publish(id, 'start', ...), inlined
      out[#out + 1] = { id, v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10] }
    end
  end
end
local parked = gs and gs.parked or 0
if #ids > 0 then
  -- a claim of a few jobs looks at the sets' encoding for one id in 16
  local probe = #ids >= 4 or (tonumber(ids[1]) or 0) % 16 == 0
  local conv_a = probe and to_skiplist(kact, #add_act / 2)
  local conv_t = probe and to_skiplist(ktact, #add_tact / 2)
  ix_send('ZREM', kin, rem_in)
  ix_send('ZADD', kact, add_act)
  ix_send('ZADD', ktact, add_tact)
  if conv_a then redis.call('ZREM', kact, SKIP_MEMBER) end
  if conv_t then redis.call('ZREM', ktact, SKIP_MEMBER) end
  redis.call('SADD', cs.held, unpack(ids))
  redis.call('ZADD', pk.leases, fmt(now + lease), cs.owner)
end
if #ids > 0 or parked > 0 then
  -- one wake-up token per job, less those the worker already took (all
  -- tokens are alike, so trimming k from the head pops k); parked jobs
  -- give theirs up too (a handed-off job never had one)
  local k = #ids + parked - taken
  if k > 0 then redis.call('LTRIM', tk.tokens, k, -1) end
end
if #out < asked then
  grp_revisit(t, gc)
  if park and rate_n == 0 and gc == 0 then
    redis.call('LPUSH', tk.parked, host .. '|' .. pid .. '|' .. ARGV[7 + #out + 1] .. '|' .. ARGV[6])
    redis.call('ZADD', pk.leases, fmt(now + lease), cs.owner)
  end
end
if rk then return rate_claim_done(rk, t, ids, asked, n, taken, parked, rate_n, rate_p, now, out) end
return out

-- prelude.lua: shared by every kue script.  It is the top level of kue's
-- Redis function library (FUNCTION LOAD once, then FCALL; Redis 7) and the
-- head of each script's EVAL source (older servers), so it only defines:
-- everything that depends on the call is set by kue_begin(), which runs
-- first in every call (libkue/scripts.c assembles both forms).
-- Keys are built from ARGV[1], the prefix, exactly as Kue 0.11 names them.
-- Every number written to Redis goes through fmt() so it is stored as a
-- plain decimal string, never in exponent notation.
local P
local function key(s) return P .. ':' .. s end
local function fmt(n) return string.format('%d', n) end
-- fmt() of the small counts written per job (attempts), made once each and
-- kept across calls
local SMALL = {}
local function small_int(n)
  local s = SMALL[n]
  if s then return s end
  s = fmt(n)
  if n >= 0 and n < 256 and n == math.floor(n) then SMALL[n] = s end
  return s
end

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Kue's sorted-set member: digit count (two chars, zero-padded) '|' id.
local function zid(id)
  return string.format('%02d|%s', #id, id)
end

-- zid() for the hot paths: the 'NN|' prefix of each id length, made once
-- per length (kept across calls: it depends on nothing else).
local ZPFX = {}
local function zid_fast(id)
  local n = #id
  local p = ZPFX[n]
  if not p then p = string.format('%02d|', n); ZPFX[n] = p end
  return p .. id
end

-- Events carry the id as a number, or, for an action that came through
-- Kue's HTTP API (a script given the 's' id form), as a string, as Kue does.
local EV_ID_STR = false
local function publish(id, event, rest)
  local jid = EV_ID_STR and ('"' .. id .. '"') or id
  redis.call('PUBLISH', key('events'),
    '{"id":' .. jid .. ',"event":"' .. event .. '","args":["' .. event .. '"' .. (rest or '') .. ']}')
end

-- Error replies start with a class word that libkue turns into
-- kue_errcode() and strips (NOTFOUND, WRONGSTATE, INVALID).
local function err_reply(class, msg) return redis.error_reply(class .. ' ' .. msg) end

-- The longest delay (ms) a job or a backoff may ask for: KUE_MAX_DELAY_MS
-- in include/kue/kue.h (ten years; larger values are clamped to it), and
-- the longest ttl, KUE_MAX_TTL_MS (a larger stored ttl counts as this).
local MAX_DELAY_MS = 315360000000
local MAX_TTL_MS = 315360000000

-- A string as JSON.stringify writes it (docs/data.md): the same escapes,
-- '/' and DEL left alone, and bytes that are not UTF-8 as U+FFFD, so every
-- event is valid JSON in valid UTF-8 (cjson escapes '/' and passes such
-- bytes through).
local JESC = { ['"'] = '\\"', ['\\'] = '\\\\', ['\b'] = '\\b', ['\f'] = '\\f',
               ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t' }
local function jesc(c) return JESC[c] or string.format('\\u%04x', string.byte(c)) end
local function utf8_fix(s)
  local out, i, n, start = {}, 1, #s, 1
  while i <= n do
    local c = string.byte(s, i)
    if c < 0x80 then
      i = i + 1
    else
      local need, lo, hi = 0, 0x80, 0xBF
      if c >= 0xC2 and c <= 0xDF then need = 1
      elseif c == 0xE0 then need = 2; lo = 0xA0
      elseif c == 0xED then need = 2; hi = 0x9F
      elseif c >= 0xE1 and c <= 0xEF then need = 2
      elseif c == 0xF0 then need = 3; lo = 0x90
      elseif c >= 0xF1 and c <= 0xF3 then need = 3
      elseif c == 0xF4 then need = 3; hi = 0x8F end
      local k = 1
      while k <= need do
        local x = string.byte(s, i + k)
        if not x or x < lo or x > hi then break end
        lo, hi = 0x80, 0xBF
        k = k + 1
      end
      if need > 0 and k > need then
        i = i + k
      else
        out[#out + 1] = string.sub(s, start, i - 1)
        out[#out + 1] = '\239\191\189'
        i = i + k
        start = i
      end
    end
  end
  out[#out + 1] = string.sub(s, start)
  return table.concat(out)
end
local function jstr_new(s)
  if not string.find(s, '[%z\1-\31"\\\128-\255]') then return '"' .. s .. '"' end
  if string.find(s, '[\128-\255]') then s = utf8_fix(s) end
  if string.find(s, '[%z\1-\31"\\]') then s = string.gsub(s, '[%z\1-\31"\\]', jesc) end
  return '"' .. s .. '"'
end
-- job types repeat (one "enqueue" event per job, the same few types call
-- after call): remembered, up to 256 short strings, then forgotten at once
local JCACHE, JCACHE_N = {}, 0
local function jstr(s)
  s = tostring(s)
  local c = JCACHE[s]
  if c then return c end
  c = jstr_new(s)
  if #s <= 128 then
    if JCACHE_N >= 256 then JCACHE, JCACHE_N = {}, 0 end
    JCACHE[s] = c
    JCACHE_N = JCACHE_N + 1
  end
  return c
end

local function first_line(s)
  local nl = string.find(s, '\n', 1, true)
  if nl then return string.sub(s, 1, nl - 1) end
  return s
end

-- Score of a job in the global set of a state (docs/wire.md section 3).
local function global_score(state, prio, promote_at, ttl, now)
  if state == 'delayed' then return tonumber(promote_at) or now end
  if state == 'active' then
    if ttl and ttl > 0 then return now + ttl end
    return -math.abs(prio)
  end
  return prio
end

-- Move job id of type t from state `from` (may be false) to `to`: ZREM from
-- the old global and per-type sets, HSET state (plus the field/value pairs
-- of `extra`, saving a command), ZADD to both new sets, and for inactive
-- push a wake-up token and publish "enqueue".  `popped`: the caller has
-- already removed the job from the old per-type set.
local function move(id, t, prio, from, to, now, promote_at, ttl, extra, popped)
  local z = zid(id)
  if from and from ~= '' then
    redis.call('ZREM', key('jobs:' .. from), z)
    if not popped then redis.call('ZREM', key('jobs:' .. t .. ':' .. from), z) end
  end
  if extra then
    redis.call('HSET', key('job:' .. id), 'state', to, 'updated_at', fmt(now), unpack(extra))
  else
    redis.call('HSET', key('job:' .. id), 'state', to, 'updated_at', fmt(now))
  end
  redis.call('ZADD', key('jobs:' .. to), global_score(to, prio, promote_at, ttl, now), z)
  redis.call('ZADD', key('jobs:' .. t .. ':' .. to), prio, z)
  if to == 'inactive' then
    redis.call('LPUSH', key(t .. ':jobs'), 1)
    publish(id, 'enqueue', ',' .. jstr(t))
  elseif to == 'delayed' then
    -- tell promoters (kue-supervisor) the due time at once, so they need
    -- not wait for their next poll (our channel; Kue only uses P:events)
    redis.call('PUBLISH', key('delayed'), fmt(global_score(to, prio, promote_at, ttl, now)))
  end
end

-- Batched index updates.  A script that changes many jobs collects, per
-- key, the members to remove and the score/member pairs to add, and the
-- wake-up tokens per type; ix_flush then sends one variadic command per
-- key (in chunks of IX_CHUNK values: Lua cannot unpack more than a few
-- thousand at once), removals before additions, keys in first-use order.
local IX_CHUNK = 1000             -- even, so no score/member pair is split
local function ix_new() return { keys = {}, rem = {}, add = {}, tokens = {}, ttypes = {} } end
local function ix_list(ix, k, kind)
  local l = ix[kind][k]
  if not l then
    if not ix.rem[k] and not ix.add[k] then ix.keys[#ix.keys + 1] = k end
    l = {}
    ix[kind][k] = l
  end
  return l
end
local function ix_rem(ix, k, z) local l = ix_list(ix, k, 'rem'); l[#l + 1] = z end
local function ix_add(ix, k, score, z)
  local l = ix_list(ix, k, 'add'); l[#l + 1] = score; l[#l + 1] = z
end
local function ix_token(ix, t)
  if not ix.tokens[t] then ix.tokens[t] = 0; ix.ttypes[#ix.ttypes + 1] = t end
  ix.tokens[t] = ix.tokens[t] + 1
end
local function ix_send(cmd, k, l)      -- nothing for an empty list
  for i = 1, #l, IX_CHUNK do redis.call(cmd, k, unpack(l, i, math.min(i + IX_CHUNK - 1, #l))) end
end
local function ix_flush(ix)
  for _, k in ipairs(ix.keys) do
    if ix.rem[k] then ix_send('ZREM', k, ix.rem[k]) end
    if ix.add[k] then ix_send('ZADD', k, ix.add[k]) end
  end
  for _, t in ipairs(ix.ttypes) do
    local ones = {}
    for i = 1, ix.tokens[t] do ones[i] = 1 end
    ix_send('LPUSH', key(t .. ':jobs'), ones)
  end
  ix.keys, ix.rem, ix.add, ix.tokens, ix.ttypes = {}, {}, {}, {}, {}
end

-- The active sets as skiplists.  A sorted set of up to 128 short members
-- is a listpack, and with the active sets' equal scores every ZADD and ZREM
-- scans it (bench/METHOD.md: 2.4 us per member added and removed at 100
-- members, against 0.4 as a skiplist).  Redis never turns a skiplist back
-- into a listpack while the set exists, and a member longer than
-- zset-max-listpack-value (64) converts it at once.  So a claim about to
-- add `adding` members to set k, leaving it with SKIP_MIN or more, adds
-- SKIP_MEMBER first when k is not a skiplist yet (or does not exist), and
-- removes it again after its own additions, in the same script: no client
-- ever sees the member (docs/wire.md section 3).  Returns whether it added.
-- (A claim of fewer than 4 jobs calls it for one id in 16 only.)
local SKIP_MIN = 32
local SKIP_MEMBER               -- made when first needed: most calls never do
local function to_skiplist(k, adding)
  local enc = redis.call('OBJECT', 'ENCODING', k)
  if enc == 'skiplist' then return false end
  local n = adding
  if enc then n = n + redis.call('ZCARD', k) end
  if n < SKIP_MIN then return false end
  SKIP_MEMBER = SKIP_MEMBER or '~kue:skiplist-encoding:' .. string.rep('~', 1000)
  redis.call('ZADD', k, 0, SKIP_MEMBER)
  return true
end

-- The workerId a claim writes is kue:<host>:<pid>:<type>:<n> (libkue/keys.h:
-- kue_worker_id); owner is <host>:<pid>, the stem every slot shares.
local function worker_stem(owner) return 'kue:' .. owner .. ':' end

-- The key names a prefix's calls use again and again, and per job type
-- its active and complete sets: made once, kept across calls (forgotten
-- all at once past 512 types).
local PKEYS, PKEYS_N = {}, 0
local function prefix_keys()
  local e = PKEYS[P]
  if e then return e end
  if PKEYS_N >= 512 then PKEYS, PKEYS_N = {}, 0 end
  e = { active = key('jobs:active'), complete = key('jobs:complete'), events = key('events'),
        job = key('job:'), work_time = key('stats:work-time'), ids = key('ids'), jobs = key('jobs'),
        inactive = key('jobs:inactive'), job_types = key('job:types'), paused = key('paused'),
        leases = key('leases'), types = {} }
  PKEYS[P] = e
  PKEYS_N = PKEYS_N + 1
  return e
end
local function type_keys(pk, t)
  local e = pk.types[t]
  if e then return e end
  if PKEYS_N >= 512 then PKEYS, PKEYS_N = {}, 0; pk = prefix_keys() end
  e = { active = key('jobs:' .. t .. ':active'), complete = key('jobs:' .. t .. ':complete'),
        inactive = key('jobs:' .. t .. ':inactive'), tokens = key(t .. ':jobs'),
        parked = key('parked:' .. t),
        enqueue_tail = ',"event":"enqueue","args":["enqueue",' .. jstr(t) .. ']}',
        start_tail = ',"event":"start","args":["start",' .. jstr(t) .. ',null]}' }
  pk.types[t] = e
  PKEYS_N = PKEYS_N + 1
  return e
end

-- The names only one worker process's claims of one type use (its wake
-- list, holder set, lease member and workerId stem), made on its first
-- claim and kept across calls (a worker claims again and again with the
-- same prefix, type, host and pid): by prefix, then pid, checked against
-- the host and type.  Forgotten all at once past 512.  The prefix's and the
-- type's own names come from prefix_keys() and type_keys().
local CLAIMC, CLAIMC_N = {}, 0
local function claim_strings(t, host, pid)
  local byp = CLAIMC[P]
  local e = byp and byp[pid]
  if e and e.host == host and e.t == t then return e end
  if CLAIMC_N >= 512 then CLAIMC, CLAIMC_N = {}, 0 end
  byp = CLAIMC[P]
  if not byp then byp = {}; CLAIMC[P] = byp end
  local owner = host .. ':' .. pid
  e = { host = host, t = t, owner = owner, wake = key('wake:' .. owner),
        held = key('held:' .. owner), wid = worker_stem(owner) .. t .. ':' }
  byp[pid] = e
  CLAIMC_N = CLAIMC_N + 1
  return e
end

-- ---- hand-off (docs/wire.md section 13) ----
-- A worker process whose claim found fewer jobs than it had slots parks:
-- the claim LPUSHes "host|pid|slot|lease_ms" to P:parked:<type> and renews
-- the process's lease, and the worker waits (BLPOP) on its own list
-- P:wake:<host>:<pid> before the type's tokens.  A one-job save, or a
-- promotion, that finds a parked worker, no inactive job of the type and
-- the type not paused makes the job active for that worker in the same
-- call (the claim's writes) and pushes what the worker needs to its list:
-- an idle queue's job then costs one script, not two, before its handler
-- starts.  A registration whose process has no live lease (it exited and
-- was settled, or its host is gone) is dropped on the way.
-- Returns { host, pid, slot, lease, cs = claim_strings(..), wid }, or nil.
local function handoff_take(pk, tk, t, now)
  for _ = 1, 8 do
    local reg = redis.call('RPOP', tk.parked)
    if not reg then return nil end
    local host, pid, slot, lease = string.match(reg, '^(.+)|(%d+)|(%d+)|(%d+)$')
    if host then
      local ls = redis.call('ZSCORE', pk.leases, host .. ':' .. pid)
      if ls and tonumber(ls) > now then
        if redis.call('EXISTS', tk.inactive) == 1 or redis.call('SISMEMBER', pk.paused, t) == 1 then
          redis.call('RPUSH', tk.parked, reg)      -- not this job's: it stays parked
          return nil
        end
        local cs = claim_strings(t, host, pid)
        return { slot = slot, lease = tonumber(lease), cs = cs, wid = cs.wid .. slot }
      end
    end
  end
  return nil
end

-- The holder set of a worker identity kue:<host>:<pid>:<type>:<n>.
local function held_key(wid)
  if not wid then return nil end
  local host, pid = string.match(wid, '^kue:([^:]*):(%d+):')
  if not host then return nil end
  return key('held:' .. host .. ':' .. pid)
end

-- Forget the holder of a job leaving `active`.  (Leases belong to worker
-- processes, not jobs: P:leases scores each host:pid by its deadline.)
local function release(id, wid)
  local hk = held_key(wid)
  if hk then redis.call('SREM', hk, id) end
end

-- A job's priority as a score string: the stored text when it is a plain
-- integer (Redis formats Lua numbers with a slow %.17g), else its value.
local function prio_s(p)
  if p and string.find(p, '^-?%d+$') then return p end
  local n = tonumber(p)
  if not n or n ~= n or n == math.huge or n == -math.huge then return '0' end
  if n == math.floor(n) and math.abs(n) < 1e15 then return fmt(n) end
  return string.format('%.17g', n)
end

-- The rest of a hand-off to h (handoff_take), once the job's hash says
-- active with h.wid: the active sets (scores and encoding as the claim
-- makes them), holder set, lease, "start" event, and the message the
-- worker runs the job from: the claim reply's fields after the slot,
-- NUL-separated, data last (it may hold any byte), '' for a field the job
-- lacks (parsed by worker/fetch.c).  f: priority, ttl, attempts,
-- max_attempts, created_at, delay, backoff, data (strings or nil).
local function handoff_give(pk, tk, h, id, z, now, f)
  local p = prio_s(f[1])
  local g = string.sub(p, 1, 1) == '-' and p or '-' .. p
  local ttl = tonumber(f[2]) or 0
  if ttl > 0 then g = fmt(now + math.min(ttl, MAX_TTL_MS)) end
  local probe = (tonumber(id) or 0) % 16 == 0
  local conv_a = probe and to_skiplist(pk.active, 1)
  local conv_t = probe and to_skiplist(tk.active, 1)
  redis.call('ZADD', pk.active, g, z)
  redis.call('ZADD', tk.active, p, z)
  if conv_a then redis.call('ZREM', pk.active, SKIP_MEMBER) end
  if conv_t then redis.call('ZREM', tk.active, SKIP_MEMBER) end
  redis.call('SADD', h.cs.held, id)
  redis.call('ZADD', pk.leases, fmt(now + h.lease), h.cs.owner)
  redis.call('PUBLISH', pk.events, '{"id":' .. id .. tk.start_tail)
  redis.call('LPUSH', h.cs.wake, table.concat({ h.slot, id, f[1] or '', f[2] or '', f[3] or '',
      f[4] or '', f[5] or '', f[6] or '', f[7] or '', f[8] or '' }, '\0'))
end

-- ---- scheduling: unique keys, groups, rate windows (docs/wire.md section 11)
-- Kue knows none of these; the keys carry the type's length so that a
-- type containing ':' cannot collide with another type's key.
local function uniq_key(t, u) return key('unique:' .. #t .. ':' .. t .. ':' .. u) end
local function grp_active_key(t, g) return key('group:' .. #t .. ':' .. t .. ':' .. g .. ':active') end
local function grp_wait_key(t, g) return key('group:' .. #t .. ':' .. t .. ':' .. g .. ':waiting') end
local function grp_list_key(t) return key('groups:' .. t) end
local function rate_key(t) return key('rate:' .. t) end
local function rate_stats_key() return key('stats:rate-limited') end

-- The id holding unique key u of type t, or nil when the key is free.  A
-- key with an expiry is a kept one (unique_for after completion) and holds
-- as is; otherwise its job must still be inactive, delayed or active with
-- that key, so a key whose job went away behind our back (a Node Kue
-- process completed or removed it) is free.
local function uniq_holder(t, u)
  local uk = uniq_key(t, u)
  local id = redis.call('GET', uk)
  if not id then return nil end
  if redis.call('PTTL', uk) > 0 then return id end
  local v = redis.call('HMGET', key('job:' .. id), 'type', 'state', 'unique')
  if v[1] == t and v[3] == u and (v[2] == 'inactive' or v[2] == 'delayed' or v[2] == 'active') then
    return id
  end
  return nil
end

-- Free job id's unique key (j: type, unique, unique_for), if it holds it;
-- `completed`: keep it for unique_for ms instead (a throttle).
local function uniq_release(id, j, completed)
  if not j.unique or j.unique == '' then return end
  local uk = uniq_key(j.type, j.unique)
  if redis.call('GET', uk) ~= id then return end
  local keep = completed and tonumber(j.unique_for) or 0
  if keep and keep > 0 then redis.call('PEXPIRE', uk, fmt(math.min(keep, MAX_DELAY_MS)))
  else redis.call('DEL', uk) end
end

-- Put up to k parked jobs of group g back in the type's inactive set, with
-- a wake-up token each (entries that are no longer inactive jobs of that
-- group are dropped).  Returns how many.  `tidy`: also forget the group in
-- P:groups:T when it has nothing parked (a leave with nothing parked, the
-- common case, costs one ZPOPMIN).
local function grp_unpark(t, g, k, tidy)
  local wk = grp_wait_key(t, g)
  local top = redis.call('ZPOPMIN', wk, k)
  if #top == 0 then
    if tidy then redis.call('ZREM', grp_list_key(t), g) end
    return 0
  end
  local moved = 0
  for i = 1, #top, 2 do
    local z = top[i]
    local id = string.sub(z, (string.find(z, '|', 1, true) or 0) + 1)
    local v = redis.call('HMGET', key('job:' .. id), 'state', 'group', 'type', 'priority')
    if v[1] == 'inactive' and v[2] == g and v[3] == t then
      redis.call('ZADD', key('jobs:' .. t .. ':inactive'), prio_s(v[4]), z)
      redis.call('LPUSH', key(t .. ':jobs'), 1)
      moved = moved + 1
    end
  end
  if #top < 2 * k or redis.call('EXISTS', wk) == 0 then redis.call('ZREM', grp_list_key(t), g) end
  return moved
end

-- Job id (j: type, group) leaves active: its group has room again, so two
-- of its parked jobs (if any) go back to the queue -- two, so that a raised
-- group_concurrency fills up; a claim parks the surplus again.
local function grp_leave(id, j)
  if not j.group or j.group == '' then return end
  redis.call('SREM', grp_active_key(j.type, j.group), id)
  grp_unpark(j.type, j.group, 2)
end

-- Everything a job leaving `active` for good or for a retry must undo:
-- its group slot; its unique key when it is done (`done`: 'complete' or
-- 'failed'; a retry keeps the key).
local function sched_leave(id, j, done)
  grp_leave(id, j)
  if done then uniq_release(id, j, done == 'complete') end
end

-- Group limits in claim (group_concurrency gc > 0).  A claim reads at most
-- n + GRP_SCAN entries of the queue; an entry whose group has gc active
-- jobs is parked (moved to the group's waiting set, its token given up)
-- so that it does not stand in front of the other groups again.  A job of
-- the group leaving active brings parked ones back (grp_leave), and a claim
-- that found fewer jobs than it wanted looks at GRP_REVISIT parked groups,
-- least recently looked at first, and brings back as many as each has
-- room for (a raised or removed limit; a slot freed behind our back).
local GRP_SCAN, GRP_REVISIT, GRP_VERIFY = 100, 4, 16
local function grp_scan_new(t, gc, now)
  return { t = t, gc = gc, now = now, count = {}, checked = {}, verify = GRP_VERIFY, parked = 0 }
end

-- Drop members of group g's active set that are no longer active jobs of
-- that group (moved by a Node Kue process, say); at most GRP_VERIFY per
-- claim.  Returns the count left.
local function grp_verify(s, g, ak, c)
  if s.checked[g] or c > s.verify then return c end
  s.checked[g] = true
  s.verify = s.verify - c
  for _, id in ipairs(redis.call('SMEMBERS', ak)) do
    local v = redis.call('HMGET', key('job:' .. id), 'state', 'group', 'type')
    if v[1] ~= 'active' or v[2] ~= g or v[3] ~= s.t then
      redis.call('SREM', ak, id)
      c = c - 1
    end
  end
  return c
end

-- May inactive job id (member z, priority p, group g) be claimed?  Yes:
-- it takes a slot of its group.  No: it is parked.
local function grp_admit(s, id, z, p, g)
  if not g or g == '' then return true end
  local ak = grp_active_key(s.t, g)
  local c = s.count[g] or redis.call('SCARD', ak)
  if c >= s.gc then c = grp_verify(s, g, ak, c) end
  if c >= s.gc then
    s.count[g] = c
    redis.call('ZADD', grp_wait_key(s.t, g), prio_s(p), z)
    redis.call('ZADD', grp_list_key(s.t), 'NX', s.now, g)
    s.parked = s.parked + 1
    return false
  end
  s.count[g] = c + 1
  redis.call('SADD', ak, id)
  return true
end

-- A claim that found fewer jobs than it wanted: bring back parked jobs of
-- groups with room (gc 0: the limit is gone, bring them all back, GRP_SCAN
-- per group and call).
local function grp_revisit(t, gc)
  local lk = grp_list_key(t)
  local gl = redis.call('ZRANGE', lk, 0, GRP_REVISIT - 1)
  if #gl == 0 then return end
  local now = now_ms()
  for _, g in ipairs(gl) do
    local room = GRP_SCAN
    if gc > 0 then room = math.min(room, gc - redis.call('SCARD', grp_active_key(t, g))) end
    if room > 0 then grp_unpark(t, g, room, true) end
    redis.call('ZADD', lk, 'XX', now, g)
  end
end

-- Rate limit of a type: a sliding window, P:rate:T holding one member per
-- claimed job scored by its claim time, so that no window of rate_p ms
-- holds more than rate_n starts.  Returns the key and how many of the n
-- wanted may start now.
local function rate_claim_room(t, n, rate_n, rate_p, now)
  local rk = rate_key(t)
  redis.call('ZREMRANGEBYSCORE', rk, '-inf', now - rate_p)
  local room = rate_n - redis.call('ZCARD', rk)
  if room < 0 then room = 0 end
  return rk, math.min(n, room)
end

-- After the claim: record its starts; when the window cut it short, give
-- back the token the worker's wait took, count it in P:stats:rate-limited
-- and append the ms until the window has room.
local function rate_claim_done(rk, t, ids, asked, n, taken, parked, rate_n, rate_p, now, out)
  if #ids > 0 then
    local m = {}
    for i, id in ipairs(ids) do m[2 * i - 1] = now; m[2 * i] = id .. ':' .. now end
    redis.call('ZADD', rk, unpack(m))
    redis.call('PEXPIRE', rk, rate_p)
  end
  if n >= asked or #ids < n then return out end
  if taken > #ids + parked then redis.call('LPUSH', key(t .. ':jobs'), 1) end
  redis.call('HINCRBY', rate_stats_key(), t, 1)
  local oldest = redis.call('ZRANGE', rk, 0, 0, 'WITHSCORES')
  local wait = 1
  if oldest[2] then wait = math.max(1, tonumber(oldest[2]) + rate_p - now + 1) end
  out[#out + 1] = wait
  return out
end

-- A job moved by hand (set_state) from its state to `to`: group slot taken
-- or given back; the unique key freed when it is done, taken again when it
-- is queued again (if no other job holds it meanwhile).
local function sched_set_state(id, j, to)
  if j.state == to then return end
  if j.group and j.group ~= '' then
    if j.state == 'active' then grp_leave(id, j)
    elseif to == 'active' then redis.call('SADD', grp_active_key(j.type, j.group), id) end
  end
  if j.unique and j.unique ~= '' then
    if to == 'complete' or to == 'failed' then
      uniq_release(id, j, to == 'complete')
    elseif (j.state == 'complete' or j.state == 'failed') and not uniq_holder(j.type, j.unique) then
      redis.call('SET', uniq_key(j.type, j.unique), id)
    end
  end
end

-- A job being removed: its group slot or its parked entry, its unique key.
local function sched_forget(id, j)
  if j.group and j.group ~= '' then
    if j.state == 'active' then grp_leave(id, j)
    else redis.call('ZREM', grp_wait_key(j.type, j.group), zid(id)) end
  end
  uniq_release(id, j, false)
end

local JOB_FIELDS = { 'type', 'state', 'priority', 'workerId', 'attempts', 'max_attempts',
                     'backoff', 'delay', 'ttl', 'promote_at', 'removeOnComplete',
                     'unique', 'unique_for', 'group' }
-- The fields above as a table (nil when the hash has no type).
local function load(id)
  local v = redis.call('HMGET', key('job:' .. id), unpack(JOB_FIELDS))
  if not v[1] then return nil end
  local j = {}
  for i, f in ipairs(JOB_FIELDS) do j[f] = v[i] or nil end
  j.prio = tonumber(j.priority) or 0
  j.ttln = tonumber(j.ttl) or 0
  return j
end

-- Drop a job and every index entry (Kue's remove plus what removeBadJob
-- cleans, for the job's type and for all five states).
local STATES = { 'inactive', 'active', 'complete', 'failed', 'delayed' }
local function drop(id, t, wid)
  local z = zid(id)
  for _, s in ipairs(STATES) do
    redis.call('ZREM', key('jobs:' .. s), z)
    if t then redis.call('ZREM', key('jobs:' .. t .. ':' .. s), z) end
  end
  redis.call('ZREM', key('jobs'), z)
  redis.call('DEL', key('job:' .. id), key('job:' .. id .. ':log'))
  release(id, wid)
  local ok = key('search:object:' .. id)
  local codes = redis.call('ZREVRANGEBYSCORE', ok, '+inf', '-inf')
  for _, c in ipairs(codes) do redis.call('ZREM', key('search:word:' .. c), id) end
  if #codes > 0 then redis.call('DEL', ok) end
end

-- drop() for many jobs of type t at once (retention): the same keys, one
-- variadic command per index for the batch; ids' holders are not touched
-- (the callers drop only finished jobs, which have none).
local function drop_many(ids, t)
  if #ids == 0 then return end
  local zs, ks = {}, {}
  for i, id in ipairs(ids) do
    zs[i] = zid(id)
    ks[#ks + 1] = key('job:' .. id); ks[#ks + 1] = key('job:' .. id .. ':log')
    local ok = key('search:object:' .. id)
    local codes = redis.call('ZRANGE', ok, 0, -1)
    for _, c in ipairs(codes) do redis.call('ZREM', key('search:word:' .. c), id) end
    if #codes > 0 then ks[#ks + 1] = ok end
  end
  for _, st in ipairs(STATES) do
    ix_send('ZREM', key('jobs:' .. st), zs)
    ix_send('ZREM', key('jobs:' .. t .. ':' .. st), zs)
  end
  ix_send('ZREM', key('jobs'), zs)
  for i = 1, #ks, IX_CHUNK do redis.call('DEL', unpack(ks, i, math.min(i + IX_CHUNK - 1, #ks))) end
end

-- Kue's backoff delay for the attempt just failed (docs/wire.md section 7),
-- within [0, MAX_DELAY_MS] (docs/data.md: a stored 1e308 or NaN cannot wrap
-- promote_at).
local backoff_raw
local function backoff_delay(j, attempts, fn_ms)
  local d = backoff_raw(j, attempts, fn_ms)
  if d ~= d or d < 0 then return 0 end
  if d > MAX_DELAY_MS then return MAX_DELAY_MS end
  return math.floor(d)
end
backoff_raw = function(j, attempts, fn_ms)
  local base = tonumber(j.delay) or 0
  local b = j.backoff
  if b == 'true' then return base end
  local ok, obj = pcall(cjson.decode, b)
  if ok and type(obj) == 'table' then
    local d = tonumber(obj.delay) or base
    if obj.type == 'exponential' then
      local v = d / 2 * (2 ^ attempts - 1)
      local m = tonumber(obj.maxDelay)
      if m and m - d / 2 < v then v = m - d / 2 end
      if v ~= v or v > MAX_DELAY_MS then return MAX_DELAY_MS end
      return math.floor(v + 0.5)
    end
    return d
  end
  -- a JavaScript function stored by Node Kue: the handler's backoff hook
  -- answered fn_ms (>= 0), else the job's delay field
  if fn_ms and fn_ms >= 0 then return fn_ms end
  return base
end

-- Fail the current attempt of an active job (Kue's failedAttempt): record
-- the error, count the attempt, then retry now, retry later (backoff) or
-- fail for good.  Returns {1, outcome, delay}.
local function fail_job(id, j, err, fn_ms, now, cause)
  local jk = key('job:' .. id)
  -- a job cancelled while active (cancel.lua) fails for good, whoever
  -- reports it and whatever the handler said (read first: the first write
  -- stays the RPUSH, so Redis refuses the script whole when out of memory)
  local cancelled = redis.call('ZSCORE', key('cancels'), id) ~= false
  if cancelled then err = 'cancelled' end
  local msg = first_line(err)
  redis.call('RPUSH', jk .. ':log', msg)
  if cancelled then redis.call('ZREM', key('cancels'), id) end
  publish(id, 'error', ',' .. jstr(err))
  -- count the attempt while attempts < max_attempts (as Kue's HINCRBY),
  -- written with the state change
  local made = tonumber(j.attempts) or 0
  local max = tonumber(j.max_attempts) or 1
  local extra = { 'error', err, 'failed_at', fmt(now) }
  if made < max then
    made = made + 1
    extra[5] = 'attempts'; extra[6] = fmt(made)
  end
  move(id, j.type, j.prio, j.state, 'failed', now, nil, nil, extra)
  release(id, j.workerId)
  sched_leave(id, j, max - made <= 0 and 'failed' or nil)
  if cause == 'ttl' then publish(id, 'ttl exceeded ack') end
  if max - made <= 0 or cancelled then
    publish(id, 'failed', ',' .. jstr(msg) .. ',null')
    return { 1, 'failed', 0 }
  end
  if not j.backoff or j.backoff == '' then
    move(id, j.type, j.prio, 'failed', 'inactive', now)
    publish(id, 'failed attempt', ',' .. jstr(msg) .. ',' .. fmt(made))
    return { 1, 'inactive', 0 }
  end
  local d = backoff_delay(j, made, fn_ms)
  if d < 0 then d = 0 end
  local pa = now + d
  redis.call('HSET', jk, 'delay', fmt(d), 'promote_at', fmt(pa))
  move(id, j.type, j.prio, 'failed', 'delayed', now, pa)
  publish(id, 'failed attempt', ',' .. jstr(msg) .. ',' .. fmt(made))
  return { 1, 'delayed', d }
end

-- Is job j held by worker wid ('' accepts any holder)?
local function held_by(j, wid)
  return j and j.state == 'active' and (wid == '' or j.workerId == wid)
end

-- The leader lease of this prefix (docs/wire.md section 12): P:leader is
-- a hash {holder, token, until, since}.  A leader-only script takes the
-- fencing token its caller got with the lease and refuses to act when it
-- is no longer the current, unexpired one.
local function leader_fenced(tok, now)
  local v = redis.call('HMGET', key('leader'), 'token', 'until')
  return v[1] ~= tok or (tonumber(v[2]) or 0) < now
end

-- The start of every call: the per-call state, and the declared KEYS.
-- Every call declares KEYS P:ids and P:fence, in the queue's cluster slot
-- (libkue/keys.h: KUE_SCRIPT_NKEYS): a call whose KEYS name another queue
-- would be routed by Redis Cluster to the wrong node.  Returns an error
-- reply to give back, or nil.
local KB_P, KB_IDS, KB_FENCE          -- the last prefix and its two keys
local function kue_begin(keys, argv)
  P = argv[1]
  EV_ID_STR = false
  if type(P) ~= 'string' then
    return redis.error_reply('INVALID the declared keys do not match the prefix ' .. tostring(P))
  end
  if P ~= KB_P then KB_P, KB_IDS, KB_FENCE = P, key('ids'), key('fence') end
  if keys[1] ~= KB_IDS or keys[2] ~= KB_FENCE then
    return redis.error_reply('INVALID the declared keys do not match the prefix ' .. tostring(P))
  end
end

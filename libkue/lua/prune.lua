-- prune: retention (docs/wire.md section 12).  Removes complete and
-- failed jobs past their type's limits, whole (the prelude's drop_many(),
-- drop() for a batch: hash, log, every index entry, search entries),
-- within a time budget, for the leader only.
-- ARGV: prefix, token, budget_us, first type index (0-based, in sorted
--       order), default keep_complete, keep_complete_for_ms, keep_failed,
--       keep_failed_for_ms, then per-type overrides: type, the same four.
--       A count or age of 0 is no limit of that kind.
-- Returns {next type index (-1: every type done), type, state, n, ...}, or
-- the error FENCED when the token is not the current leader's.
-- (The checks stop at a third of the budget: removing the batch takes
-- about twice as long.)
-- Order: a job's age is its id (ids grow with creation); the oldest ids
-- are found per distinct priority score (at most MAX_GROUPS scores), so
-- no call reads more than MAX_GROUPS x BATCH members.
local MAX_GROUPS, BATCH = 16, 256
local t0 = redis.call('TIME')
local start_us = tonumber(t0[1]) * 1000000 + tonumber(t0[2])
local now = math.floor(start_us / 1000)
if leader_fenced(ARGV[2], now) then return err_reply('FENCED', 'not the leader') end
local budget = tonumber(ARGV[3]) or 1000
local first = tonumber(ARGV[4]) or 0
local def = { tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]) }
local over = {}
for i = 9, #ARGV - 4, 5 do
  over[ARGV[i]] = { tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3]),
                    tonumber(ARGV[i + 4]) }
end
local function elapsed()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2]) - start_us
end

-- up to n oldest members (by id) of sorted set k
local function oldest(k, n)
  local res, lo = {}, '-inf'
  for _ = 1, MAX_GROUPS do
    local f = redis.call('ZRANGEBYSCORE', k, lo, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
    if #f == 0 then break end
    local ms = redis.call('ZRANGEBYSCORE', k, f[2], f[2], 'LIMIT', 0, n)
    for _, z in ipairs(ms) do res[#res + 1] = z end
    lo = '(' .. f[2]
  end
  local ids = {}
  for i, z in ipairs(res) do ids[i] = string.sub(z, 4) end
  table.sort(ids, function(a, b) return #a < #b or (#a == #b and a < b) end)
  return ids
end

local out = { -1 }
local types = redis.call('SMEMBERS', key('job:types'))
table.sort(types)
local spent = false
for ti = first + 1, #types do
  local t = types[ti]
  local lim = over[t] or def
  for si, state in ipairs({ 'complete', 'failed' }) do
    local keep, keep_for = lim[si * 2 - 1] or 0, lim[si * 2] or 0
    local k = key('jobs:' .. t .. ':' .. state)
    local excess = keep > 0 and (redis.call('ZCARD', k) - keep) or 0
    local n = 0
    if excess > 0 or keep_for > 0 then
      local cut = now - keep_for
      local gone = {}
      for i, id in ipairs(oldest(k, BATCH)) do
        local v = redis.call('HMGET', key('job:' .. id), 'state', 'updated_at')
        local old = keep_for > 0 and (tonumber(v[2]) or 0) < cut
        if not (i <= excess or old) then break end
        -- only a job the hash says is finished (or a bare index entry):
        -- never an active, inactive or delayed one whose entry is stale
        if v[1] == state or not v[1] then
          gone[#gone + 1] = id
        else
          redis.call('ZREM', k, zid(id))
        end
        if i % 16 == 0 and elapsed() > budget / 3 then spent = true; break end
      end
      drop_many(gone, t)
      n = #gone
    end
    if n > 0 then out[#out + 1] = t; out[#out + 1] = state; out[#out + 1] = n end
    if spent or (n > 0 and elapsed() > budget) then spent = true; break end
  end
  if spent then out[1] = ti - 1; break end
end
return out

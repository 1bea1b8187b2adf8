-- allocate_batch: the allocations of several callers (concurrent calls a client
-- coalesced), each served exactly as allocate.lua would serve it alone, in the order
-- given (their arrival): its live lease back, a hand-off, the free queue's head, its
-- own refusal, or its place among the orders waiting. The settings are read, the
-- fence checked and the pool settled once for all; one stream entry records every
-- change of the batch.
-- KEYS: the pool's keys (includes/keys.lua); writes as allocate.
-- ARGV: per caller, six: 1 owner  2 ttl_ms (0 = the pool's lease_ttl)  3 correlation_id
--       ('' = none)  4 user_id ('' = none)  5 wait_ms (0 = do not wait)  6 priority
--       ('normal' or 'high')
-- Reply: per caller, in order, allocate.lua's reply, or an error reply for a caller whose
--   arguments are bad (the others are served): {reply_1, reply_2, ...}
--   | {'nopool'} | a layout or 'walletpool-fenced' error for the whole batch.
-- A 'queued' caller's entry id is the batch's entry.
-- The common case goes at once (all_at_once): every caller's arguments good, each
-- owner named once and holding no lease, no order waiting, a free wallet for each.
-- The loop would then lease the free queue's head to each caller in turn with the next
-- token; all_at_once makes the same leases, changes and replies in a few calls.
--- @include "allocate_one"
--- @include "bulk"
--- @include "clock"
--- @include "conf"
--- @include "emit"
--- @include "fail"
--- @include "fence"
--- @include "fmt"
--- @include "int_arg"
--- @include "keys"
--- @include "layout"
--- @include "lease_heads"
--- @include "lease_store"
--- @include "limits"
--- @include "settle"
--- @include "stream_top"
--- @include "tokens"
--- @include "valid_id"

if #ARGV == 0 or #ARGV % 6 ~= 0 then return fail('allocate_batch takes six arguments a caller') end
-- every caller's arguments are checked before the first write; a bad one refuses that
-- caller alone
local n = #ARGV / 6
local replies, ttls, waits = {}, {}, {}
for i = 1, n do
  local at = 6 * (i - 1)
  local owner, ttl, cid, uid = ARGV[at + 1], ARGV[at + 2], ARGV[at + 3], ARGV[at + 4]
  local wait, priority = ARGV[at + 5], ARGV[at + 6]
  ttls[i] = int_arg(ttl, 0, MAX_TTL_MS)
  waits[i] = int_arg(wait, 0, MAX_TTL_MS)
  if not valid_id(owner, false) then replies[i] = fail('bad owner')
  elseif not valid_id(cid, true) or not valid_id(uid, true) then
    replies[i] = fail('bad correlation or user id')
  elseif ttls[i] == nil then replies[i] = fail('bad ttl')
  elseif waits[i] == nil then replies[i] = fail('bad wait')
  elseif priority ~= 'normal' and priority ~= 'high' then replies[i] = fail('bad priority')
  end
end

local conf = read_conf('hot')
if not conf.exists then return {'nopool'} end
if outdated(conf) then return layout_error(conf) end
local now = now_ms(conf)
if fenced(conf, now) then return fenced_error() end
settle(conf, now, false)

-- The replies when the whole batch can be served at once (see the header), else nil
-- (nothing written).
local function all_at_once()
  local fields, seen = {}, {}
  for i = 1, n do
    local owner = ARGV[6 * i - 5]
    if replies[i] or seen[owner] then return nil end
    seen[owner] = true
    fields[i] = owner_field(owner)
  end
  if redis.call('EXISTS', K.waiters) == 1 then return nil end
  local free = redis.call('LLEN', K.free)
  if free < n then return nil end
  for _, address in ipairs(bulk_read('HMGET', K.leases, fields)) do
    if address then return nil end  -- a lease, live or expired: the loop settles it
  end
  local popped = n == 1 and {redis.call('LPOP', K.free)} or redis.call('LPOP', K.free, n)
  local last = next_tokens(conf, now, n)
  local leased_at, expires, leases = fmt(now), {}, {}
  for i = 1, n do
    local at = 6 * (i - 1)
    local ttl_ms = ttls[i] == 0 and conf.lease_ttl_ms or ttls[i]
    expires[ttl_ms] = expires[ttl_ms] or fmt(now + ttl_ms)
    leases[i] = {o = ARGV[at + 1], t = fmt(last - n + i), e = expires[ttl_ms], l = leased_at,
                 c = ARGV[at + 3], u = ARGV[at + 4]}
  end
  write_leases(conf, popped, leases, 'allocated')
  local out, below = {}, 0
  for i, lease in ipairs(leases) do
    -- low_water(conf, 1) after the i-th pop: the free queue then holds free - i
    local low = -1
    if conf.min_free > 0 and free - i < conf.min_free then
      low, below = free - i, below + 1
    end
    out[i] = {'ok', popped[i], lease.t, lease.e, lease.l, lease.c, lease.u, 1, low,
              conf.min_free}
  end
  if below > 0 then redis.call('HINCRBY', K.conf, 'low_water_count', below) end
  return out
end

local at_once = all_at_once()
if at_once then
  flush_events(now)
  return at_once
end

local queued = {}
for i = 1, n do
  if replies[i] == nil then
    local at = 6 * (i - 1)
    local ttl_ms = ttls[i] == 0 and conf.lease_ttl_ms or ttls[i]
    local reply, waits_now = allocate_one(conf, now, ARGV[at + 1], ttl_ms, ARGV[at + 3],
                                          ARGV[at + 4], waits[i], ARGV[at + 6] == 'high')
    replies[i] = reply
    if waits_now then queued[#queued + 1] = reply end
  end
end
local id = flush_events(now)
if #queued > 0 then
  id = id or stream_top()
  for _, reply in ipairs(queued) do reply[4] = id end
end
return replies

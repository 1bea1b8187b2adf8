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
--- @include "allocate_one"
--- @include "clock"
--- @include "conf"
--- @include "emit"
--- @include "fail"
--- @include "fence"
--- @include "int_arg"
--- @include "layout"
--- @include "limits"
--- @include "settle"
--- @include "stream_top"
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

-- release_batch: the releases of several callers (concurrent calls a client coalesced),
-- each lease checked by owner and fencing token and ended exactly as release.lua ends
-- it, in order, each followed by the hand-off to the orders waiting; a lost one does
-- not stop the others. One stream entry records every change.
-- KEYS: the pool's keys (includes/keys.lua); writes as release.
-- ARGV: per caller, three: 1 address  2 owner  3 token
-- Reply: per caller, in order, release.lua's reply, or an error reply for a caller whose
--   arguments are bad (the others are served): {reply_1, reply_2, ...}
--   | a layout or 'walletpool-fenced' error for the whole batch.
-- With no order waiting, each wallet named once and no expired lease among them, the
-- releases go at once: the loop would end each in turn and hand nothing off, and one
-- release_leases of them all ends them in the same order with the same changes and
-- replies. (An expired lease would go back before the others, and a wallet named twice
-- would show a lost release the state the loop had left it in then: those batches go
-- call by call.)
--- @include "clock"
--- @include "conf"
--- @include "emit"
--- @include "fail"
--- @include "fence"
--- @include "int_arg"
--- @include "keys"
--- @include "layout"
--- @include "lease_store"
--- @include "release_leases"
--- @include "state_of"
--- @include "valid_address"
--- @include "valid_id"
--- @include "waiters"

if #ARGV == 0 or #ARGV % 3 ~= 0 then return fail('release_batch takes three arguments a caller') end
local replies, addresses, owners, tokens, at = {}, {}, {}, {}, {}
for i = 1, #ARGV / 3 do
  local address, owner, token = ARGV[3 * i - 2], ARGV[3 * i - 1], ARGV[3 * i]
  if not valid_address(address) then replies[i] = fail('bad address')
  elseif not valid_id(owner, false) then replies[i] = fail('bad owner')
  elseif int_arg(token, 1, 2^53) == nil then replies[i] = fail('bad token')
  else
    local j = #addresses + 1
    addresses[j], owners[j], tokens[j], at[j] = address, owner, token, i
  end
end
if #addresses == 0 then return replies end

local conf = read_conf('hot')
if outdated(conf) then return layout_error(conf) end
local now = now_ms(conf)
if fenced(conf, now) then return fenced_error() end

-- The replies of the whole batch, when it can go at once (see the header), else nil
-- (nothing written).
local function all_at_once()
  local seen = {}
  for _, address in ipairs(addresses) do
    if seen[address] then return nil end
    seen[address] = true
  end
  if redis.call('EXISTS', K.waiters) == 1 then return nil end
  local stored = load_leases(addresses)
  for _, lease in ipairs(stored) do
    if lease and tonumber(lease.e) <= now then return nil end
  end
  local outcomes = release_leases(conf, now, addresses, owners, tokens, stored)
  for j, outcome in ipairs(outcomes) do
    if outcome:sub(1, 5) == 'lost:' then
      replies[at[j]] = {'lost', outcome:sub(6), '', state_of(addresses[j])}
    else
      replies[at[j]] = {'ok', outcome}
    end
  end
  return replies
end

if all_at_once() then
  flush_events(now)
  return replies
end

-- Each release in turn, then the hand-off, exactly as release.lua makes it alone (a
-- lease that expired goes back where its expiry puts it, between the others, as it
-- would between calls).
for j, address in ipairs(addresses) do
  local outcomes, stored = release_leases(conf, now, {address}, {owners[j]}, {tokens[j]})
  hand_off(conf, now)  -- the wallet goes to the first order waiting, if any
  local outcome = outcomes[1]
  if outcome == 'lost:expired' then
    replies[at[j]] = {'lost', 'expired', stored[1].e}
  elseif outcome:sub(1, 5) == 'lost:' then
    replies[at[j]] = {'lost', outcome:sub(6), '', state_of(address)}
  else
    replies[at[j]] = {'ok', outcome}
  end
end
flush_events(now)
return replies

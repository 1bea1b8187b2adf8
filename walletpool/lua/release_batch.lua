-- release_batch: the releases of several callers (concurrent calls a client coalesced),
-- each lease checked by owner and fencing token exactly as release.lua checks it, in
-- order; a lost one does not stop the others. Freed wallets go to the orders waiting,
-- head first, as they would after each release. One stream entry records every change.
-- KEYS: the pool's keys (includes/keys.lua); writes as release.
-- ARGV: per caller, three: 1 address  2 owner  3 token
-- Reply: per caller, in order, release.lua's reply, or an error reply for a caller whose
--   arguments are bad (the others are served): {reply_1, reply_2, ...}
--   | a layout or 'walletpool-fenced' error for the whole batch.
-- A wallet named twice: the second release finds what the first left, as it would alone.
--- @include "clock"
--- @include "conf"
--- @include "emit"
--- @include "fail"
--- @include "fence"
--- @include "int_arg"
--- @include "layout"
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

-- Releases of distinct wallets go together, then the hand-off, as after each one alone;
-- a wallet named again starts another run, so that its second release finds what the
-- first left (the wallet free, or handed to an order waiting).
local function run(first, last)
  local outcomes, stored = release_leases(conf, now, {unpack(addresses, first, last)},
                                          {unpack(owners, first, last)},
                                          {unpack(tokens, first, last)})
  hand_off(conf, now)  -- the freed wallets go to the orders waiting, if any
  for k, outcome in ipairs(outcomes) do
    local j, reply = first + k - 1, nil
    if outcome == 'lost:expired' then
      reply = {'lost', 'expired', stored[k].e}
    elseif outcome:sub(1, 5) == 'lost:' then
      reply = {'lost', outcome:sub(6), '', state_of(addresses[j])}
    else
      reply = {'ok', outcome}
    end
    replies[at[j]] = reply
  end
end

local first, named = 1, {}
for j, address in ipairs(addresses) do
  if named[address] then
    run(first, j - 1)
    first, named = j, {}
  end
  named[address] = true
end
run(first, #addresses)
flush_events(now)
return replies

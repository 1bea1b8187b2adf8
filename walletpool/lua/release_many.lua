-- release_many: release several leases of one pool in one atomic step. Each lease is
-- checked on its own exactly as by release; a lost one does not stop the others. One
-- stream entry records every change the call made.
-- KEYS: the pool's keys (includes/keys.lua); writes as release (and hands freed wallets
--       to orders waiting).
-- ARGV: triples 1 address  2 owner  3 token, repeated
-- Reply: {'ok', then per lease: new_state | 'lost:expired' | 'lost:stale' | 'lost:none'}
-- A pool fenced for healing (includes/fence.lua) is refused with a 'walletpool-fenced'
-- error before anything but the fence is written.
--- @include "clock"
--- @include "conf"
--- @include "emit"
--- @include "fail"
--- @include "fence"
--- @include "int_arg"
--- @include "layout"
--- @include "release_leases"
--- @include "valid_address"
--- @include "valid_id"
--- @include "waiters"

if #ARGV % 3 ~= 0 then return fail('release_many takes address, owner, token triples') end
local addresses, owners, tokens = {}, {}, {}
for i = 1, #ARGV, 3 do
  if not valid_address(ARGV[i]) then return fail('bad address') end
  if not valid_id(ARGV[i + 1], false) then return fail('bad owner') end
  if int_arg(ARGV[i + 2], 1, 2^53) == nil then return fail('bad token') end
  addresses[#addresses + 1], owners[#owners + 1], tokens[#tokens + 1] = ARGV[i], ARGV[i + 1], ARGV[i + 2]
end

local conf = read_conf('hot')
if outdated(conf) then return layout_error(conf) end
local now = now_ms(conf)
if fenced(conf, now) then return fenced_error() end
local reply = {'ok'}
for _, outcome in ipairs(release_leases(conf, now, addresses, owners, tokens)) do
  reply[#reply + 1] = outcome
end
hand_off(conf, now)  -- freed wallets go to the orders waiting, if any
flush_events(now)
return reply

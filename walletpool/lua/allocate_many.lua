-- allocate_many: lease free wallets to several owners in one atomic step, FIFO.
-- KEYS: the pool's keys (includes/keys.lua); writes as allocate.
-- ARGV: 1 ttl_ms (0 = the pool's lease_ttl)  2 correlation_id  3 user_id
--       4 partial (1 = serve as many owners as possible, 0 = all or none)  5.. owners
-- Reply: {'ok', served, then per served owner: owner, address, token, expires_at_ms,
--         leased_at_ms, correlation_id, user_id, fresh; then low_water, min_free}
--   (low_water as in allocate.lua)
--      | {'exhausted', free, leased, cooling} (partial = 0 and too few free wallets)
--      | {'nopool'}
-- An owner named twice, or already holding a live lease, gets that one lease. One stream
-- entry records every change the call made.
-- A pool fenced for healing (includes/fence.lua) is refused with a 'walletpool-fenced'
-- error before anything but the fence is written.
--- @include "clock"
--- @include "conf"
--- @include "emit"
--- @include "exhausted"
--- @include "fail"
--- @include "fence"
--- @include "int_arg"
--- @include "keys"
--- @include "layout"
--- @include "lease_heads"
--- @include "lease_reply"
--- @include "limits"
--- @include "live_lease_of"
--- @include "low_water"
--- @include "settle"
--- @include "valid_id"
--- @include "waiters"

local ttl_ms = int_arg(ARGV[1], 0, MAX_TTL_MS)
local cid, uid, partial = ARGV[2], ARGV[3], ARGV[4]
if ttl_ms == nil then return fail('bad ttl') end
if not valid_id(cid, true) or not valid_id(uid, true) then return fail('bad correlation or user id') end
if partial ~= '0' and partial ~= '1' then return fail('bad partial flag') end
for i = 5, #ARGV do
  if not valid_id(ARGV[i], false) then return fail('bad owner') end
end

local conf = read_conf('hot')
if not conf.exists then return {'nopool'} end
if outdated(conf) then return layout_error(conf) end
if ttl_ms == 0 then ttl_ms = conf.lease_ttl_ms end
local now = now_ms(conf)
if fenced(conf, now) then return fenced_error() end
settle(conf, now, false)
hand_off(conf, now)  -- orders waiting go before this batch

-- Each owner once, in order of first mention; settle their own leases and find who
-- still needs a wallet.
local held, order, needy = {}, {}, {}
for i = 5, #ARGV do
  local owner = ARGV[i]
  if held[owner] == nil then
    order[#order + 1] = owner
    held[owner] = false
  end
end
-- Owners of `owners` holding a live lease keep it (`fresh` 1: handed to them in this
-- call); returns the others, in order.
local function without_a_lease(owners, fresh)
  local without = {}
  for i, live in ipairs(live_leases_of(conf, now, owners)) do
    if live then
      held[owners[i]] = {live[1], live[2], fresh}
    else
      without[#without + 1] = owners[i]
    end
  end
  return without
end
needy = without_a_lease(order, 0)
if #needy > redis.call('LLEN', K.free) then
  settle(conf, now, true)
  -- its hand-off may have served an owner of this call that was waiting: that owner
  -- holds the wallet handed to it (fresh), and needs no other
  needy = without_a_lease(needy, 1)
  if partial == '0' and #needy > redis.call('LLEN', K.free) then
    flush_events(now)
    return exhausted()
  end
end

local popped, leases = lease_heads(conf, now, needy, ttl_ms, cid, uid)
for i, address in ipairs(popped) do held[needy[i]] = {address, leases[i], 1} end

local reply, served = {'ok', 0}, 0
for _, owner in ipairs(order) do
  local h = held[owner]
  if h then
    served = served + 1
    reply[#reply + 1] = owner
    for _, v in ipairs(lease_reply(h[1], h[2])) do reply[#reply + 1] = v end
    reply[#reply + 1] = h[3]
  end
end
reply[2] = served
reply[#reply + 1] = low_water(conf, #popped)
reply[#reply + 1] = conf.min_free
flush_events(now)
return reply

-- withdraw: an order stops waiting (its call timed out or was cancelled).
-- KEYS: the pool's keys (includes/keys.lua); writes waiters, tickets, events, conf
--       (handoffs_reported), and what a release writes when it gives a handed wallet back.
-- ARGV: 1 owner  2 give_back ('1': a wallet already handed to the order is released at
--       once, as the caller will not use it; '0': the caller takes it)  3 joined_ms
--       (when the order joined: a lease of the owner leased since is the one handed)
-- Reply: {'withdrawn', free, leased, cooling} (it was waiting: no wallet was handed to
--        it) | {'none', free, leased, cooling} (no ticket, no lease) | {'returned', new_state} (give_back: the handed wallet went
--        back, to the next order waiting or the free queue)
--      | {'leased', address, token, expires_at_ms, leased_at_ms, correlation_id, user_id,
--         fresh} (the owner holds a lease: fresh = 1 for the one handed to it)
--      | {'nopool'}
-- The check and the withdrawal are one step, so a wallet is handed to the order before
-- it withdraws (the caller gets it or gives it back) or never.
-- A pool fenced for healing (includes/fence.lua) is refused with a 'walletpool-fenced'
-- error before anything but the fence is written.
--- @include "clock"
--- @include "conf"
--- @include "counts"
--- @include "emit"
--- @include "fail"
--- @include "fence"
--- @include "int_arg"
--- @include "layout"
--- @include "live_lease_of"
--- @include "release_leases"
--- @include "valid_id"
--- @include "waiters"

local owner, give_back, joined = ARGV[1], ARGV[2], int_arg(ARGV[3], 0, 1e14)
if not valid_id(owner, false) then return fail('bad owner') end
if give_back ~= '0' and give_back ~= '1' then return fail('bad give_back flag') end
if joined == nil then return fail('bad joined_ms') end
local conf = read_conf()
if not conf.exists then return {'nopool'} end
if outdated(conf) then return layout_error(conf) end
local now = now_ms(conf)
if fenced(conf, now) then return fenced_error() end

local ticket = read_ticket(owner)
if ticket then
  drop_waiter(owner, ticket, give_back == '1' and 'cancelled' or 'withdrawn')
  flush_events(now)
  return {'withdrawn', counts()}
end
local address, lease = live_lease_of(conf, now, owner)
local reply
if not address then
  reply = {'none', counts()}
elseif give_back == '1' and tonumber(lease.l) >= joined then
  local outcomes = release_leases(conf, now, {address}, {owner}, {lease.t})
  hand_off(conf, now)
  reply = {'returned', outcomes[1]}
else
  reply = {'leased', address, lease.t, lease.e, lease.l, lease.c, lease.u,
           tonumber(lease.l) >= joined and 1 or 0}
  reported(reply[8])
end
flush_events(now)
return reply

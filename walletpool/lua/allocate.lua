-- allocate: lease the head of a pool's free queue to an owner (pop-and-lock).
-- KEYS: the pool's keys (includes/keys.lua); writes free, leases, expiry, seq, events, uses
--       (while the pool has a max_uses) and cooling when it settles cooled wallets.
-- ARGV: 1 owner  2 ttl_ms (0 = the pool's lease_ttl)  3 correlation_id ('' = none)
--       4 user_id ('' = none)
-- Reply: {'ok', address, token, expires_at_ms, leased_at_ms, correlation_id, user_id, fresh,
--         low_water, min_free} | {'exhausted', free, leased, cooling} | {'nopool'}
--   low_water: the free count when this allocation left fewer than min_free (counted in
--   conf low_water_count), else -1. Each 'exhausted' reply is counted in exhausted_count.
-- Idempotent per owner: an owner with a live lease gets it back unchanged (fresh = 0).
-- It settles expired leases and cooled wallets when due, and always before it reports
-- the pool exhausted (see SETTLE_EVERY_MS in includes/settle.lua). One stream entry records
-- every change the call made.
-- A pool fenced for healing (includes/fence.lua) is refused with a 'walletpool-fenced'
-- error before anything but the fence is written.
--- @include "clock"
--- @include "conf"
--- @include "emit"
--- @include "exhausted"
--- @include "fail"
--- @include "fence"
--- @include "int_arg"
--- @include "lease_heads"
--- @include "layout"
--- @include "limits"
--- @include "live_lease_of"
--- @include "low_water"
--- @include "settle"
--- @include "valid_id"

local owner, cid, uid = ARGV[1], ARGV[3], ARGV[4]
local ttl_ms = int_arg(ARGV[2], 0, MAX_TTL_MS)
if not valid_id(owner, false) then return fail('bad owner') end
if not valid_id(cid, true) or not valid_id(uid, true) then return fail('bad correlation or user id') end
if ttl_ms == nil then return fail('bad ttl') end

local conf = read_conf()
if not conf.exists then return {'nopool'} end
if outdated(conf) then return layout_error(conf) end
if ttl_ms == 0 then ttl_ms = conf.lease_ttl_ms end
local now = now_ms(conf)
if fenced(conf, now) then return fenced_error() end
settle(conf, now, false)

local address, lease = live_lease_of(conf, now, owner)
local fresh = 0
if not address then
  local popped, leases = lease_heads(conf, now, {owner}, ttl_ms, cid, uid)
  if #popped == 0 then
    settle(conf, now, true)
    popped, leases = lease_heads(conf, now, {owner}, ttl_ms, cid, uid)
  end
  if #popped == 0 then
    flush_events(now)
    return exhausted()
  end
  address, lease, fresh = popped[1], leases[1], 1
end
local reply = {'ok', address, lease.t, lease.e, lease.l, lease.c, lease.u, fresh,
               low_water(conf, fresh), conf.min_free}
flush_events(fresh == 1 and lease.l or now)  -- lease.l: now, formatted already
return reply

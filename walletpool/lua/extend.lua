-- extend: move a live lease's deadline to now + ttl, checked by owner and fencing token.
-- The token stays the same: extending keeps the lease, it does not make a new one.
-- KEYS: the pool's keys (includes/keys.lua); writes leases, expiry, events (or settles an expired lease).
-- ARGV: 1 address  2 owner  3 token  4 ttl_ms (0 = the pool's lease_ttl)
-- Reply: {'ok', expires_at_ms} | {'lost', reason, expires_at_ms} (reasons as in release)
-- A pool fenced for healing (includes/fence.lua) is refused with a 'walletpool-fenced'
-- error before anything but the fence is written.
--- @include "clock"
--- @include "conf"
--- @include "emit"
--- @include "expire_leases"
--- @include "fail"
--- @include "fence"
--- @include "fmt"
--- @include "int_arg"
--- @include "keys"
--- @include "layout"
--- @include "lease_store"
--- @include "limits"
--- @include "valid_address"
--- @include "valid_id"

local address, owner, token = ARGV[1], ARGV[2], ARGV[3]
local ttl_ms = int_arg(ARGV[4], 0, MAX_TTL_MS)
if not valid_address(address) then return fail('bad address') end
if not valid_id(owner, false) then return fail('bad owner') end
if int_arg(token, 1, 2^53) == nil then return fail('bad token') end
if ttl_ms == nil then return fail('bad ttl') end

local conf = read_conf('hot')
if outdated(conf) then return layout_error(conf) end
if ttl_ms == 0 then ttl_ms = conf.lease_ttl_ms end
local now = now_ms(conf)
if fenced(conf, now) then return fenced_error() end
local lease = load_lease(address)
if not lease then return {'lost', 'none', ''} end
if lease.t ~= token or lease.o ~= owner then return {'lost', 'stale', ''} end
if tonumber(lease.e) <= now then
  expire_leases(conf, {address}, {lease})
  flush_events(now)
  return {'lost', 'expired', lease.e}
end

lease.e = fmt(now + ttl_ms)
redis.call('HSET', K.leases, address, pack_lease(lease))
redis.call('ZADD', K.expiry, now + ttl_ms, address)
emit('extended', address, 'leased', lease)
flush_events(now)
return {'ok', lease.e}

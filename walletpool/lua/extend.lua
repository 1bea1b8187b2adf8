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
--- @include "extend_one"
--- @include "fail"
--- @include "fence"
--- @include "int_arg"
--- @include "layout"
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
local reply = extend_one(conf, now, address, owner, token, ttl_ms)
flush_events(now)
return reply

-- reap: reclaim expired leases (oldest deadline first) and return cooled wallets to
-- the tail of the free queue in the order their leases ended.
-- KEYS: the pool's keys (includes/keys.lua); writes leases, expiry, cooling, free, known
--       (wallets worn out), events; waiters and tickets (hand-offs to orders waiting).
-- ARGV: 1 limit (at most this many of each kind per call)
-- Reply: {'ok', expired_reclaimed, cooled_returned} | {'nopool'}
-- A pool fenced for healing (includes/fence.lua) is refused with a 'walletpool-fenced'
-- error before anything but the fence is written.
--- @include "clock"
--- @include "conf"
--- @include "emit"
--- @include "fail"
--- @include "fence"
--- @include "int_arg"
--- @include "layout"
--- @include "promote_cooled"
--- @include "reap_expired"
--- @include "waiters"

local limit = int_arg(ARGV[1], 1, 100000)
if limit == nil then return fail('bad limit') end
local conf = read_conf()
if not conf.exists then return {'nopool'} end
if outdated(conf) then return layout_error(conf) end
local now = now_ms(conf)
if fenced(conf, now) then return fenced_error() end
local expired = reap_expired(conf, now, limit)
local cooled = promote_cooled(conf, now, limit)
hand_off(conf, now)  -- what it freed goes to the orders waiting, if any
flush_events(now)
return {'ok', expired, cooled}

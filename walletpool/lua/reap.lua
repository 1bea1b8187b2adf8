-- reap: reclaim expired leases (oldest deadline first) and return cooled wallets to
-- the tail of the free queue in the order their leases ended.
-- KEYS: the pool's keys (includes/keys.lua); writes lease, owner, expiry, cooling, free, state, events.
-- ARGV: 1 limit (at most this many of each kind per call)
-- Reply: {'ok', expired_reclaimed, cooled_returned}
--- @include "clock"
--- @include "conf"
--- @include "fail"
--- @include "int_arg"
--- @include "promote_cooled"
--- @include "reap_expired"

local limit = int_arg(ARGV[1], 1, 100000)
if limit == nil then return fail('bad limit') end
local conf = read_conf()
local now = now_ms(conf)
local expired = reap_expired(conf, now, limit)
local cooled = promote_cooled(conf, now, limit)
return {'ok', expired, cooled}

-- release: end a lease, checked by owner and fencing token; the wallet goes to cooling,
-- or to the tail of the free queue when the pool has no cooldown (retired when worn out).
-- KEYS: the pool's keys (includes/keys.lua); writes lease, owner, expiry, state, free or cooling, events.
-- ARGV: 1 address  2 owner  3 token
-- Reply: {'ok', new_state} | {'lost', reason, expires_at_ms}
--   reason: 'expired' (the lease ran out; reclaimed now if no reaper had), 'stale'
--   (the wallet is leased under another token or owner), 'none' (not leased at all).
--- @include "clock"
--- @include "conf"
--- @include "fail"
--- @include "int_arg"
--- @include "release_leases"
--- @include "valid_address"
--- @include "valid_id"

local address, owner, token = ARGV[1], ARGV[2], ARGV[3]
if not valid_address(address) then return fail('bad address') end
if not valid_id(owner, false) then return fail('bad owner') end
if int_arg(token, 1, 2^53) == nil then return fail('bad token') end

local conf = read_conf()
local now = now_ms(conf)
local outcomes, stored = release_leases(conf, now, {address}, {owner}, {token})
local outcome = outcomes[1]
if outcome == 'lost:expired' then return {'lost', 'expired', stored[1].e} end
if outcome:sub(1, 5) == 'lost:' then return {'lost', outcome:sub(6), ''} end
return {'ok', outcome}

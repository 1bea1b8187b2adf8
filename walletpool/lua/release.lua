-- release: end a lease, checked by owner and fencing token; the wallet goes to cooling,
-- or to the tail of the free queue when the pool has no cooldown (retired when worn out).
-- KEYS: the pool's keys (includes/keys.lua); writes leases, expiry, free or cooling (known
--       when it retires a worn-out wallet), events; waiters and tickets when it hands the
--       wallet to an order waiting (includes/waiters.lua).
-- ARGV: 1 address  2 owner  3 token
-- Reply: {'ok', new_state} | {'lost', reason, expires_at_ms, state}
--   reason: 'expired' (the lease ran out; reclaimed now if no reaper had), 'stale'
--   (the wallet is leased under another token or owner), 'none' (not leased at all).
--   state: the wallet's state now, which tells a client whose first release lost its
--   reply where that release had put the wallet.
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
--- @include "state_of"
--- @include "valid_address"
--- @include "valid_id"
--- @include "waiters"

local address, owner, token = ARGV[1], ARGV[2], ARGV[3]
if not valid_address(address) then return fail('bad address') end
if not valid_id(owner, false) then return fail('bad owner') end
if int_arg(token, 1, 2^53) == nil then return fail('bad token') end

local conf = read_conf('hot')
if outdated(conf) then return layout_error(conf) end
local now = now_ms(conf)
if fenced(conf, now) then return fenced_error() end
local outcomes, stored = release_leases(conf, now, {address}, {owner}, {token})
hand_off(conf, now)  -- the wallet goes to the first order waiting, if any
flush_events(now)
local outcome = outcomes[1]
if outcome == 'lost:expired' then return {'lost', 'expired', stored[1].e} end
if outcome:sub(1, 5) == 'lost:' then return {'lost', outcome:sub(6), '', state_of(address)} end
return {'ok', outcome}

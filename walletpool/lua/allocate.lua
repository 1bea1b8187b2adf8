-- allocate: lease the head of a pool's free queue to an owner (pop-and-lock), or, when
-- none is free and the call may wait, make the owner wait for one (includes/waiters.lua).
-- KEYS: the pool's keys (includes/keys.lua); writes free, leases, expiry, seq, events, uses
--       (while the pool has a max_uses), cooling when it settles cooled wallets, conf
--       (counters), waiters and tickets.
-- ARGV: 1 owner  2 ttl_ms (0 = the pool's lease_ttl)  3 correlation_id ('' = none)
--       4 user_id ('' = none)  5 wait_ms (0 or absent = do not wait; capped to the pool's
--       max_wait)  6 priority ('normal' or 'high'; absent = normal)
-- Reply: {'ok', address, token, expires_at_ms, leased_at_ms, correlation_id, user_id, fresh,
--         low_water, min_free} | {'exhausted', free, leased, cooling} | {'nopool'}
--       | {'queued', deadline_ms, joined_ms, entry_id (of its 'queued' change, or the
--          stream's newest when it waited already), now_ms}
--   joined_ms: when the order joined the waiters (on the pool's clock); a lease of the
--   owner leased at or after it is the one handed to it.
--       | {'full', free, leased, cooling, waiting, max_waiters}
--   low_water: the free count when this allocation left fewer than min_free (counted in
--   conf low_water_count), else -1. Each 'exhausted' and 'full' reply is counted in
--   exhausted_count.
-- Idempotent per owner: an owner with a live lease gets it back unchanged (fresh = 0,
-- also for a lease handed to it while it waited); an owner that waits already keeps
-- its place. Orders waiting go first: a call never takes
-- a wallet while an order ahead of it waits.
-- It settles expired leases and cooled wallets when due, and always before it reports
-- the pool exhausted (see SETTLE_EVERY_MS in includes/settle.lua). One stream entry records
-- every change the call made.
-- A pool fenced for healing (includes/fence.lua) is refused with a 'walletpool-fenced'
-- error before anything but the fence is written.
--- @include "allocate_one"
--- @include "clock"
--- @include "conf"
--- @include "emit"
--- @include "fail"
--- @include "fence"
--- @include "int_arg"
--- @include "layout"
--- @include "limits"
--- @include "settle"
--- @include "stream_top"
--- @include "valid_id"

local owner, cid, uid = ARGV[1], ARGV[3], ARGV[4]
local ttl_ms = int_arg(ARGV[2], 0, MAX_TTL_MS)
local wait_ms = ARGV[5] and int_arg(ARGV[5], 0, MAX_TTL_MS) or 0
local priority = ARGV[6] or 'normal'
if not valid_id(owner, false) then return fail('bad owner') end
if not valid_id(cid, true) or not valid_id(uid, true) then return fail('bad correlation or user id') end
if ttl_ms == nil then return fail('bad ttl') end
if wait_ms == nil then return fail('bad wait') end
if priority ~= 'normal' and priority ~= 'high' then return fail('bad priority') end

local conf = read_conf('hot')
if not conf.exists then return {'nopool'} end
if outdated(conf) then return layout_error(conf) end
if ttl_ms == 0 then ttl_ms = conf.lease_ttl_ms end
local now = now_ms(conf)
if fenced(conf, now) then return fenced_error() end
settle(conf, now, false)

local reply, queued = allocate_one(conf, now, owner, ttl_ms, cid, uid, wait_ms, priority == 'high')
local id = flush_events(now)
if queued then reply[4] = id or stream_top() end
return reply

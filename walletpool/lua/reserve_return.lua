-- reserve_return: give wallets of the database's reserve back to Redis, at the tail of
-- the free queue. The database has marked them 'moving' first, so neither side can hand
-- them out meanwhile. Idempotent: a wallet no longer in the reserve is left alone.
-- KEYS: the pool's keys (includes/keys.lua); writes free, reserve, events; waiters and
--       tickets (hand-offs to orders waiting).
-- ARGV: 1.. wallets
-- Reply: {'ok', event_id1, event_id2, ...}: the stream entry holding each wallet's
--        'unreserved' change, or '' for one that was not in the reserve (nothing written)
-- A pool fenced for healing (includes/fence.lua) is refused with a 'walletpool-fenced'
-- error before anything but the fence is written.
--- @include "clock"
--- @include "conf"
--- @include "emit"
--- @include "fail"
--- @include "fence"
--- @include "keys"
--- @include "layout"
--- @include "valid_address"
--- @include "waiters"

for i = 1, #ARGV do
  if not valid_address(ARGV[i]) then return fail('bad address at position ' .. i) end
end
local conf = read_conf()
if outdated(conf) then return layout_error(conf) end
local now = now_ms(conf)
if fenced(conf, now) then return fenced_error() end
local moved = {}
for i, address in ipairs(ARGV) do
  if redis.call('SREM', K.reserve, address) == 1 then
    redis.call('RPUSH', K.free, address)
    emit('unreserved', address, 'free', nil)
    moved[i] = true
  end
end
hand_off(conf, now)  -- returned wallets go to the orders waiting first
local id = flush_events(now)
local reply = {'ok'}
for i = 1, #ARGV do reply[#reply + 1] = moved[i] and id or '' end
return reply

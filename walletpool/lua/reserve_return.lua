-- reserve_return: give wallets of the database's reserve back to Redis, at the tail of
-- the free queue. The database has marked them 'moving' first, so neither side can hand
-- them out meanwhile. Idempotent: a wallet no longer in the reserve is left alone.
-- KEYS: the pool's keys (includes/keys.lua); writes free, state, reserve, events.
-- ARGV: 1.. wallets
-- Reply: {'ok', event_id1, event_id2, ...}: the 'unreserved' event of each wallet, or ''
--        for one that was not in the reserve (nothing written for it)
--- @include "clock"
--- @include "conf"
--- @include "emit"
--- @include "fail"
--- @include "keys"
--- @include "valid_address"

for i = 1, #ARGV do
  if not valid_address(ARGV[i]) then return fail('bad address at position ' .. i) end
end
local conf = read_conf()
local now = now_ms(conf)
local reply = {'ok'}
for _, address in ipairs(ARGV) do
  if redis.call('SREM', K.reserve, address) == 1 then
    redis.call('RPUSH', K.free, address)
    redis.call('HSET', K.state, address, 'free')
    reply[#reply + 1] = emit(now, 'unreserved', address, 'free', nil)
  else
    reply[#reply + 1] = ''
  end
end
return reply

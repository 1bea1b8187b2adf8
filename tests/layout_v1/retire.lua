-- retire: take a wallet out of service for good, from any state. A leased wallet loses
-- its lease (the holder's release then raises LeaseLost). A retired address stays
-- known, so adding it again counts as a duplicate.
-- KEYS: the pool's keys (includes/keys.lua); writes free or cooling or lease/owner/expiry, state, events.
-- ARGV: 1 address
-- Reply: {'ok', previous_state} with previous_state '' for an unknown address
--        (nothing written), 'retired' (already retired, nothing written) or 'reserve'
--        (the database holds it: nothing written here, the database retires it)
--- @include "clock"
--- @include "conf"
--- @include "drop_leases"
--- @include "emit"
--- @include "fail"
--- @include "keys"
--- @include "lease_store"
--- @include "valid_address"

local address = ARGV[1]
if not valid_address(address) then return fail('bad address') end
local state = redis.call('HGET', K.state, address)
if not state then return {'ok', ''} end
if state == 'retired' or state == 'reserve' then return {'ok', state} end

local conf = read_conf()
local now = now_ms(conf)
local lease = nil
if state == 'free' then
  redis.call('LREM', K.free, 1, address)
elseif state == 'cooling' then
  redis.call('ZREM', K.cooling, address)
elseif state == 'leased' then
  lease = load_lease(address)
  drop_leases({address}, {lease})
end
redis.call('HSET', K.state, address, 'retired')
emit(now, 'retired', address, 'retired', lease)
return {'ok', state}

-- retire: take a wallet out of service for good, from any state. A leased wallet loses
-- its lease (the holder's release then raises LeaseLost). A retired address stays
-- known, so adding it again counts as a duplicate.
-- KEYS: the pool's keys (includes/keys.lua); writes free or cooling or leases/expiry, known, events.
-- ARGV: 1 address
-- Reply: {'ok', previous_state} with previous_state '' for an unknown address
--        (nothing written), 'retired' (already retired, nothing written) or 'reserve'
--        (the database holds it: nothing written here, the database retires it)
-- A pool fenced for healing (includes/fence.lua) is refused with a 'walletpool-fenced'
-- error before anything but the fence is written.
--- @include "clock"
--- @include "conf"
--- @include "drop_leases"
--- @include "emit"
--- @include "fail"
--- @include "fence"
--- @include "keys"
--- @include "layout"
--- @include "lease_store"
--- @include "state_of"
--- @include "valid_address"

local address = ARGV[1]
if not valid_address(address) then return fail('bad address') end
local conf = read_conf()
if outdated(conf) then return layout_error(conf) end
local now = now_ms(conf)
if fenced(conf, now) then return fenced_error() end
local state = state_of(address)
if state == '' or state == 'retired' or state == 'reserve' then return {'ok', state} end

local lease = nil
if state == 'free' then
  redis.call('LREM', K.free, 1, address)
elseif state == 'cooling' then
  redis.call('ZREM', K.cooling, address)
elseif state == 'leased' then
  lease = load_lease(address)
  drop_leases({address}, {lease})
end
redis.call('HSET', K.known, address, 'retired')
emit('retired', address, 'retired', lease)
flush_events(now)
return {'ok', state}

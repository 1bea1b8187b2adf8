-- reserve_take: hand wallets from the head of the free queue to the database's reserve.
-- They leave Redis's service for good (state 'reserve', in the reserve set) until
-- reserve_return gives them back: Redis never hands out a wallet the database may.
-- KEYS: the pool's keys (includes/keys.lua); writes free, reserve, events.
-- ARGV: 1 count (1..10000)  2 keep (0..10^9): leave at least this many wallets free
-- Reply: {'ok', address1, event_id1, address2, event_id2, ...} (possibly none)
--      | {'nopool'}
-- One 'reserved' change each (state 'reserve'), all in one stream entry; its id, given
-- with each wallet, tells the database which of the wallet's events came before the move.
-- A pool fenced for healing (includes/fence.lua) is refused with a 'walletpool-fenced'
-- error before anything but the fence is written.
--- @include "bulk"
--- @include "clock"
--- @include "conf"
--- @include "emit"
--- @include "fail"
--- @include "fence"
--- @include "int_arg"
--- @include "keys"
--- @include "layout"

local count = int_arg(ARGV[1], 1, 10000)
local keep = int_arg(ARGV[2], 0, 1e9)
if count == nil or keep == nil then return fail('bad count or keep') end
local conf = read_conf()
if not conf.exists then return {'nopool'} end
if outdated(conf) then return layout_error(conf) end
local now = now_ms(conf)
if fenced(conf, now) then return fenced_error() end

local take = math.min(count, redis.call('LLEN', K.free) - keep)
local reply = {'ok'}
if take <= 0 then return reply end
local taken = redis.call('LPOP', K.free, take) or {}
bulk('SADD', K.reserve, taken)
for _, address in ipairs(taken) do emit('reserved', address, 'reserve', nil) end
local id = flush_events(now)
for _, address in ipairs(taken) do
  reply[#reply + 1] = address
  reply[#reply + 1] = id
end
return reply

-- walletpool 0.1's reserve_take.lua with its includes inlined, kept to build pools in 0.1's layout
-- bulk: run a variadic command, or a multi-field read, over a long argument list in slices

-- Variadic commands go out in slices of this many arguments (even, so pairs stay
-- whole), well under Lua's stack limit for unpack.
local SLICE = 1000

-- Run `command key args...` over a long argument list in slices.
local function bulk(command, key, args)
  for i = 1, #args, SLICE do
    redis.call(command, key, unpack(args, i, math.min(i + SLICE - 1, #args)))
  end
end

-- Run a multi-field read (`HMGET key fields...`) over a long field list in slices;
-- returns the values in order (false where a field is absent).
local function bulk_read(command, key, fields)
  local values = {}
  for i = 1, #fields, SLICE do
    local got = redis.call(command, key, unpack(fields, i, math.min(i + SLICE - 1, #fields)))
    for j = 1, #got do values[i + j - 1] = got[j] end
  end
  return values
end
-- clock: the pool's clock in ms: Redis TIME, or the clock the test suite froze or moved

-- Server time in ms. Only the test suite sets clock_ms (a frozen clock) and
-- clock_offset_ms (time moved forward), so that expiry and cooldown need no sleeping.
local function now_ms(conf)
  if conf.clock_ms > 0 then return conf.clock_ms + conf.clock_offset_ms end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + conf.clock_offset_ms
end
-- keys: the pool's keys by name, in the order every script receives them

-- Every script receives the pool's keys in this fixed order (walletpool/keys.py):
--   1 conf (hash)   2 free (list)     3 state (hash)    4 lease (hash)   5 owner (hash)
--   6 expiry (zset) 7 cooling (zset)  8 seq (string)    9 events (stream) 10 uses (hash)
--  11 reserve (set: the wallets the database holds back, state 'reserve'; Redis never
--     hands them out, see reserve_take.lua / reserve_return.lua)
-- They all carry the pool as a hash tag, so a script touches one Cluster slot.
-- Nothing here sets a TTL: an expiring key would silently drop wallets.
local K = {
  conf = KEYS[1], free = KEYS[2], state = KEYS[3], lease = KEYS[4], owner = KEYS[5],
  expiry = KEYS[6], cooling = KEYS[7], seq = KEYS[8], events = KEYS[9], uses = KEYS[10],
  reserve = KEYS[11],
}
-- conf: read the pool's settings into a table
--- @include "keys"

local function read_conf()
  local v = redis.call('HMGET', K.conf, 'lease_ttl_ms', 'cooldown_ms', 'max_size', 'max_uses',
                       'clock_offset_ms', 'settle_at_ms', 'clock_ms', 'min_free', 'network',
                       'reserve')
  return {
    exists = v[1] ~= false,
    lease_ttl_ms = tonumber(v[1]) or 0,
    cooldown_ms = tonumber(v[2]) or 0,
    max_size = tonumber(v[3]) or 0,
    max_uses = tonumber(v[4]) or 0,
    clock_offset_ms = tonumber(v[5]) or 0,
    settle_at_ms = tonumber(v[6]) or 0,
    clock_ms = tonumber(v[7]) or 0,
    min_free = tonumber(v[8]) or 0,
    network = v[9] or '',
    reserve = tonumber(v[10]),  -- nil: the default, min_free
  }
end
-- fmt: a number as an integer string (Lua would print large ones in exponent form)

local function fmt(n)
  return string.format('%.0f', n)
end
-- emit: append one state change to the stream, in the script that makes it (invariant 7)
--- @include "fmt"
--- @include "keys"

-- `lease` (or nil) gives owner, token, deadline and ids; `uses` is the wallet's lease
-- count after an allocation. Values are absolute, not deltas, so the syncer can apply
-- events in any order. The field set is fixed so that the stream packs densely.
-- Returns the entry's stream id.
local function emit(now, kind, address, state, lease, uses)
  lease = lease or {}
  return redis.call('XADD', K.events, '*', 'type', kind, 'address', address, 'state', state,
             'owner', lease.o or '', 'token', lease.t or '', 'leased', lease.l or '',
             'expires', lease.e or '',
             'at', fmt(now), 'cid', lease.c or '', 'uid', lease.u or '',
             'uses', uses and fmt(uses) or '')
end
-- fail: an error reply that the client turns into InvalidInput

local function fail(message)
  return redis.error_reply('walletpool: ' .. message)
end
-- int_arg: parse an integer argument within bounds, or nil

local function int_arg(s, lo, hi)
  local n = tonumber(s)
  if n == nil or n ~= math.floor(n) or n < lo or n > hi then return nil end
  return n
end
-- set_state: set wallets' state in the state hash
--- @include "bulk"
--- @include "keys"

local function set_state(addresses, state)
  local args = {}
  for _, address in ipairs(addresses) do
    args[#args + 1] = address
    args[#args + 1] = state
  end
  bulk('HSET', K.state, args)
end
-- reserve_take: hand wallets from the head of the free queue to the database's reserve.
-- They leave Redis's service for good (state 'reserve', in the reserve set) until
-- reserve_return gives them back: Redis never hands out a wallet the database may.
-- KEYS: the pool's keys (includes/keys.lua); writes free, state, reserve, events.
-- ARGV: 1 count (1..10000)  2 keep (0..10^9): leave at least this many wallets free
-- Reply: {'ok', address1, event_id1, address2, event_id2, ...} (possibly none)
--      | {'nopool'}
-- One 'reserved' event each (state 'reserve'); its id tells the database which of the
-- wallet's events came before the move.
--- @include "bulk"
--- @include "clock"
--- @include "conf"
--- @include "emit"
--- @include "fail"
--- @include "int_arg"
--- @include "keys"
--- @include "set_state"

local count = int_arg(ARGV[1], 1, 10000)
local keep = int_arg(ARGV[2], 0, 1e9)
if count == nil or keep == nil then return fail('bad count or keep') end
local conf = read_conf()
if not conf.exists then return {'nopool'} end

local take = math.min(count, redis.call('LLEN', K.free) - keep)
local reply = {'ok'}
if take <= 0 then return reply end
local now = now_ms(conf)
local taken = redis.call('LPOP', K.free, take) or {}
set_state(taken, 'reserve')
bulk('SADD', K.reserve, taken)
for _, address in ipairs(taken) do
  reply[#reply + 1] = address
  reply[#reply + 1] = emit(now, 'reserved', address, 'reserve', nil)
end
return reply

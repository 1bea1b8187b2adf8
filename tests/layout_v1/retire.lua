-- walletpool 0.1's retire.lua with its includes inlined, kept to build pools in 0.1's layout
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
-- drop_leases: remove ended leases from the lease, expiry and owner indexes
--- @include "bulk"
--- @include "keys"

-- Remove leases (address i held under leases[i]) from the lease, expiry and owner
-- indexes. Invariant 2 keeps the owner index exact, so each owner maps to its address.
local function drop_leases(addresses, leases)
  local owners = {}
  for i = 1, #addresses do owners[i] = leases[i].o end
  bulk('HDEL', K.lease, addresses)
  bulk('ZREM', K.expiry, addresses)
  bulk('HDEL', K.owner, owners)
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
-- lease_store: read leases from the lease hash (JSON, every number a string)
--- @include "bulk"
--- @include "keys"

-- A lease is stored as JSON with every number as a string (no float rounding):
-- o owner, t token, e expires_at_ms, l leased_at_ms, c correlation_id, u user_id.
local function load_leases(addresses)
  local leases = bulk_read('HMGET', K.lease, addresses)
  for i, raw in ipairs(leases) do
    leases[i] = raw and cjson.decode(raw) or false
  end
  return leases
end

local function load_lease(address)
  local raw = redis.call('HGET', K.lease, address)
  return raw and cjson.decode(raw) or nil
end
-- limits: bounds shared with walletpool/validation.py

local MAX_TTL_MS = 31536000000        -- one year

local MAX_ID_LEN = 128
-- valid_address: check a wallet's form: an address, or address#tag in a tag pool
--- @include "limits"

local function valid_address(s)
  if type(s) ~= 'string' or #s < 1 or #s > MAX_ID_LEN then return false end
  return s:match('^[%w:._%-]+$') ~= nil or s:match('^[%w:._%-]+#[%w:._%-]+$') ~= nil
end
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

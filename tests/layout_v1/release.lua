-- walletpool 0.1's release.lua with its includes inlined, kept to build pools in 0.1's layout
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
-- return_wallets: where wallets go when their leases end: retired, cooling or the free tail
--- @include "bulk"
--- @include "keys"

-- Where wallets go when their leases end (address i at ended_at[i]), in order:
-- retired when worn out, cooling while the pool has a cooldown, else the tail of the
-- free queue. Returns the new state of each.
local function return_wallets(conf, addresses, ended_at)
  local uses = {}
  if conf.max_uses > 0 then
    uses = bulk_read('HMGET', K.uses, addresses)
    for i = 1, #addresses do uses[i] = tonumber(uses[i]) or 0 end
  end
  local states, free, cooling, state_args = {}, {}, {}, {}
  for i, address in ipairs(addresses) do
    local state
    if conf.max_uses > 0 and uses[i] >= conf.max_uses then
      state = 'retired'
    elseif conf.cooldown_ms > 0 then
      state = 'cooling'
      cooling[#cooling + 1] = ended_at[i]
      cooling[#cooling + 1] = address
    else
      state = 'free'
      free[#free + 1] = address
    end
    states[i] = state
    state_args[#state_args + 1] = address
    state_args[#state_args + 1] = state
  end
  bulk('RPUSH', K.free, free)
  bulk('ZADD', K.cooling, cooling)
  bulk('HSET', K.state, state_args)
  return states
end
-- expire_leases: end leases whose deadline passed: wallets back, one 'expired' event each
--- @include "drop_leases"
--- @include "emit"
--- @include "return_wallets"

local function expire_leases(conf, now, addresses, leases)
  if #addresses == 0 then return end
  local ended_at = {}
  for i = 1, #addresses do ended_at[i] = tonumber(leases[i].e) end
  drop_leases(addresses, leases)
  local states = return_wallets(conf, addresses, ended_at)
  for i, address in ipairs(addresses) do
    emit(now, 'expired', address, states[i], leases[i])
  end
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
-- release_leases: check leases by owner and token and end the live ones as released
--- @include "drop_leases"
--- @include "emit"
--- @include "expire_leases"
--- @include "lease_store"
--- @include "return_wallets"

-- Check leases (address, owner, token) against the store and end the live ones as
-- released. Returns each outcome (the new state, or 'lost:expired' / 'lost:stale' /
-- 'lost:none') and the stored leases read. Expired ones are settled as expirations.
local function release_leases(conf, now, addresses, owners, tokens)
  local stored = load_leases(addresses)
  local outcomes = {}
  local live, live_leases, expired, expired_leases = {}, {}, {}, {}
  local seen = {}
  for i, address in ipairs(addresses) do
    local lease = stored[i]
    if seen[address] then
      outcomes[i] = 'lost:none'  -- named twice in one batch: the first one released it
    elseif not lease then
      outcomes[i] = 'lost:none'
    elseif lease.t ~= tokens[i] or lease.o ~= owners[i] then
      outcomes[i] = 'lost:stale'
    elseif tonumber(lease.e) <= now then
      outcomes[i] = 'lost:expired'
      expired[#expired + 1] = address
      expired_leases[#expired_leases + 1] = lease
      seen[address] = true
    else
      live[#live + 1] = address
      live_leases[#live_leases + 1] = lease
      seen[address] = i
    end
  end
  expire_leases(conf, now, expired, expired_leases)
  if #live > 0 then
    local ended_at = {}
    for i = 1, #live do ended_at[i] = now end
    drop_leases(live, live_leases)
    local states = return_wallets(conf, live, ended_at)
    for i, address in ipairs(live) do
      local lease = live_leases[i]
      outcomes[seen[address]] = states[i]
      emit(now, 'released', address, states[i], lease)
    end
  end
  return outcomes, stored
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
-- valid_id: check an owner, correlation id or user id: printable ASCII without blanks
--- @include "limits"

local function valid_id(s, optional)
  if s == '' then return optional end
  return #s <= MAX_ID_LEN and s:match('^[\33-\126]+$') ~= nil
end
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

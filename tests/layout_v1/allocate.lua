-- walletpool 0.1's allocate.lua with its includes inlined, kept to build pools in 0.1's layout
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
-- counts: the free, leased and cooling counts of the pool
--- @include "keys"

local function counts()
  return redis.call('LLEN', K.free), redis.call('HLEN', K.lease), redis.call('ZCARD', K.cooling)
end
-- exhausted: count a refusal for an empty pool and build its reply
--- @include "counts"
--- @include "keys"

local function exhausted()
  redis.call('HINCRBY', K.conf, 'exhausted_count', 1)
  local free, leased, cooling = counts()
  return {'exhausted', free, leased, cooling}
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
-- lease_heads: pop wallets from the head of the free queue and lease them to owners
--- @include "bulk"
--- @include "emit"
--- @include "fmt"
--- @include "keys"
--- @include "set_state"

-- Pop up to #owners wallets from the head of the free queue and lease them to the
-- owners in order (owners[i] gets the i-th). The caller has checked that none of the
-- owners holds a live lease. Returns the addresses and leases made, possibly fewer.
local function lease_heads(now, owners, ttl_ms, cid, uid)
  local popped
  if #owners == 0 then
    return {}, {}
  elseif #owners == 1 then
    local one = redis.call('LPOP', K.free)
    popped = one and {one} or {}
  else
    popped = redis.call('LPOP', K.free, #owners) or {}
  end
  local n = #popped
  if n == 0 then return popped, {} end
  local last = redis.call('INCRBY', K.seq, n)
  local expires = fmt(now + ttl_ms)
  local leases, lease_args, owner_args, expiry_args = {}, {}, {}, {}
  for i, address in ipairs(popped) do
    local lease = {o = owners[i], t = fmt(last - n + i), e = expires, l = fmt(now), c = cid, u = uid}
    leases[i] = lease
    lease_args[#lease_args + 1] = address
    lease_args[#lease_args + 1] = cjson.encode(lease)
    owner_args[#owner_args + 1] = owners[i]
    owner_args[#owner_args + 1] = address
    expiry_args[#expiry_args + 1] = now + ttl_ms
    expiry_args[#expiry_args + 1] = address
  end
  bulk('HSET', K.lease, lease_args)
  bulk('HSET', K.owner, owner_args)
  bulk('ZADD', K.expiry, expiry_args)
  set_state(popped, 'leased')
  for i, address in ipairs(popped) do
    local uses = redis.call('HINCRBY', K.uses, address, 1)
    emit(now, 'allocated', address, 'leased', leases[i], uses)
  end
  return popped, leases
end
-- lease_reply: the reply fields of a lease

local function lease_reply(address, lease)
  return {address, lease.t, lease.e, lease.l, lease.c, lease.u}
end
-- limits: bounds shared with walletpool/validation.py

local MAX_TTL_MS = 31536000000        -- one year

local MAX_ID_LEN = 128
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
-- live_lease_of: an owner's live lease, settling it first when it has expired
--- @include "expire_leases"
--- @include "keys"
--- @include "lease_store"

local function live_lease_of(conf, now, owner)
  local address = redis.call('HGET', K.owner, owner)
  if not address then return nil end
  local lease = load_lease(address)
  if tonumber(lease.e) <= now then
    expire_leases(conf, now, {address}, {lease})
    return nil
  end
  return address, lease
end
-- low_water: count an allocation that left the pool below its low-water mark
--- @include "keys"

-- After an allocation that took `took` wallets: when the free queue fell below the
-- pool's min_free, count it and return the free count; else -1.
local function low_water(conf, took)
  if took == 0 or conf.min_free == 0 then return -1 end
  local free = redis.call('LLEN', K.free)
  if free >= conf.min_free then return -1 end
  redis.call('HINCRBY', K.conf, 'low_water_count', 1)
  return free
end
-- promote_cooled: move wallets whose cooldown is over to the free tail
--- @include "bulk"
--- @include "emit"
--- @include "keys"
--- @include "set_state"

-- Move up to `limit` wallets whose cooldown is over to the free tail, in the order
-- their leases ended. The cooldown in force now applies, so shortening it frees early.
local function promote_cooled(conf, now, limit)
  local ready = redis.call('ZRANGEBYSCORE', K.cooling, '-inf', now - conf.cooldown_ms,
                           'LIMIT', 0, limit)
  if #ready == 0 then return 0 end
  bulk('ZREM', K.cooling, ready)
  bulk('RPUSH', K.free, ready)
  set_state(ready, 'free')
  for _, address in ipairs(ready) do
    emit(now, 'cooled', address, 'free', nil)
  end
  return #ready
end
-- reap_expired: reclaim expired leases, oldest deadline first
--- @include "expire_leases"
--- @include "keys"
--- @include "lease_store"

local function reap_expired(conf, now, limit)
  local due = redis.call('ZRANGEBYSCORE', K.expiry, '-inf', now, 'LIMIT', 0, limit)
  expire_leases(conf, now, due, load_leases(due))
  return #due
end
-- settle: settle expired leases and cooled wallets when due (at most once a second)
--- @include "fmt"
--- @include "keys"
--- @include "promote_cooled"
--- @include "reap_expired"

-- Allocation settles expired leases and cooled wallets (up to SETTLE_LIMIT of each) at
-- most once per SETTLE_EVERY_MS, and always before it reports a pool exhausted, so a
-- pool stays healthy without a reaper; `reap` settles everything that is due.
local SETTLE_LIMIT = 100
local SETTLE_EVERY_MS = 1000

-- Settle what is due now (see SETTLE_EVERY_MS); `force` settles regardless of the
-- schedule, as allocation does before it reports a pool exhausted.
local function settle(conf, now, force)
  if not force and now < conf.settle_at_ms then return end
  reap_expired(conf, now, SETTLE_LIMIT)
  promote_cooled(conf, now, SETTLE_LIMIT)
  redis.call('HSET', K.conf, 'settle_at_ms', fmt(now + SETTLE_EVERY_MS))
  conf.settle_at_ms = now + SETTLE_EVERY_MS
end
-- valid_id: check an owner, correlation id or user id: printable ASCII without blanks
--- @include "limits"

local function valid_id(s, optional)
  if s == '' then return optional end
  return #s <= MAX_ID_LEN and s:match('^[\33-\126]+$') ~= nil
end
-- allocate: lease the head of a pool's free queue to an owner (pop-and-lock).
-- KEYS: the pool's keys (includes/keys.lua); writes free, state, lease, owner, expiry, seq,
--       uses, events (and cooling when it settles cooled wallets).
-- ARGV: 1 owner  2 ttl_ms (0 = the pool's lease_ttl)  3 correlation_id ('' = none)
--       4 user_id ('' = none)
-- Reply: {'ok', address, token, expires_at_ms, leased_at_ms, correlation_id, user_id, fresh,
--         low_water, min_free} | {'exhausted', free, leased, cooling} | {'nopool'}
--   low_water: the free count when this allocation left fewer than min_free (counted in
--   conf low_water_count), else -1. Each 'exhausted' reply is counted in exhausted_count.
-- Idempotent per owner: an owner with a live lease gets it back unchanged (fresh = 0).
-- It settles expired leases and cooled wallets when due, and always before it reports
-- the pool exhausted (see SETTLE_EVERY_MS in includes/settle.lua).
--- @include "clock"
--- @include "conf"
--- @include "exhausted"
--- @include "fail"
--- @include "int_arg"
--- @include "lease_heads"
--- @include "lease_reply"
--- @include "limits"
--- @include "live_lease_of"
--- @include "low_water"
--- @include "settle"
--- @include "valid_id"

local owner, cid, uid = ARGV[1], ARGV[3], ARGV[4]
local ttl_ms = int_arg(ARGV[2], 0, MAX_TTL_MS)
if not valid_id(owner, false) then return fail('bad owner') end
if not valid_id(cid, true) or not valid_id(uid, true) then return fail('bad correlation or user id') end
if ttl_ms == nil then return fail('bad ttl') end

local conf = read_conf()
if not conf.exists then return {'nopool'} end
if ttl_ms == 0 then ttl_ms = conf.lease_ttl_ms end
local now = now_ms(conf)
settle(conf, now, false)

local address, lease = live_lease_of(conf, now, owner)
local fresh = 0
if not address then
  local popped, leases = lease_heads(now, {owner}, ttl_ms, cid, uid)
  if #popped == 0 then
    settle(conf, now, true)
    popped, leases = lease_heads(now, {owner}, ttl_ms, cid, uid)
  end
  if #popped == 0 then return exhausted() end
  address, lease, fresh = popped[1], leases[1], 1
end
local reply = {'ok'}
for _, v in ipairs(lease_reply(address, lease)) do reply[#reply + 1] = v end
reply[#reply + 1] = fresh
reply[#reply + 1] = low_water(conf, fresh)
reply[#reply + 1] = conf.min_free
return reply

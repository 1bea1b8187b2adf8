-- _lib: helpers shared by every walletpool script. The loader (walletpool/scripts.py)
-- puts this file in front of each script, so one copy serves them all.
--
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

-- Bounds shared with walletpool/validation.py; scripts re-check what clients send.
local MAX_TTL_MS = 31536000000        -- one year
local MAX_ID_LEN = 128
-- Allocation settles expired leases and cooled wallets (up to SETTLE_LIMIT of each) at
-- most once per SETTLE_EVERY_MS, and always before it reports a pool exhausted, so a
-- pool stays healthy without a reaper; `reap` settles everything that is due.
local SETTLE_LIMIT = 100
local SETTLE_EVERY_MS = 1000
-- Variadic commands go out in slices of this many arguments (even, so pairs stay
-- whole), well under Lua's stack limit for unpack.
local SLICE = 1000

local function fail(message)
  return redis.error_reply('walletpool: ' .. message)
end

-- A wallet: an address, or `address#tag` in a tag pool (walletpool/chains/wallets.py).
local function valid_address(s)
  if type(s) ~= 'string' or #s < 1 or #s > MAX_ID_LEN then return false end
  return s:match('^[%w:._%-]+$') ~= nil or s:match('^[%w:._%-]+#[%w:._%-]+$') ~= nil
end

-- A network name (walletpool/chains/networks.py): 1-32 of a-z 0-9 -, not starting with -.
local function valid_network(s)
  return type(s) == 'string' and #s <= 32 and s:match('^[a-z0-9][a-z0-9%-]*$') ~= nil
end

-- Owners, correlation ids and user ids: printable ASCII without blanks.
local function valid_id(s, optional)
  if s == '' then return optional end
  return #s <= MAX_ID_LEN and s:match('^[\33-\126]+$') ~= nil
end

local function int_arg(s, lo, hi)
  local n = tonumber(s)
  if n == nil or n ~= math.floor(n) or n < lo or n > hi then return nil end
  return n
end

local function fmt(n)
  return string.format('%.0f', n)
end

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

-- Server time in ms. Only the test suite sets clock_ms (a frozen clock) and
-- clock_offset_ms (time moved forward), so that expiry and cooldown need no sleeping.
local function now_ms(conf)
  if conf.clock_ms > 0 then return conf.clock_ms + conf.clock_offset_ms end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + conf.clock_offset_ms
end

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

-- One event per state change, in the same script as the change (DESIGN invariant 7).
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

-- Set every address in `addresses` to `state` in the state hash.
local function set_state(addresses, state)
  local args = {}
  for _, address in ipairs(addresses) do
    args[#args + 1] = address
    args[#args + 1] = state
  end
  bulk('HSET', K.state, args)
end

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

local function lease_reply(address, lease)
  return {address, lease.t, lease.e, lease.l, lease.c, lease.u}
end

-- Remove leases (address i held under leases[i]) from the lease, expiry and owner
-- indexes. Invariant 2 keeps the owner index exact, so each owner maps to its address.
local function drop_leases(addresses, leases)
  local owners = {}
  for i = 1, #addresses do owners[i] = leases[i].o end
  bulk('HDEL', K.lease, addresses)
  bulk('ZREM', K.expiry, addresses)
  bulk('HDEL', K.owner, owners)
end

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

-- End leases whose deadline passed: back to the pool, one 'expired' event each.
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

-- Reclaim up to `limit` expired leases, oldest deadline first. Returns how many.
local function reap_expired(conf, now, limit)
  local due = redis.call('ZRANGEBYSCORE', K.expiry, '-inf', now, 'LIMIT', 0, limit)
  expire_leases(conf, now, due, load_leases(due))
  return #due
end

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

-- Settle what is due now (see SETTLE_EVERY_MS); `force` settles regardless of the
-- schedule, as allocation does before it reports a pool exhausted.
local function settle(conf, now, force)
  if not force and now < conf.settle_at_ms then return end
  reap_expired(conf, now, SETTLE_LIMIT)
  promote_cooled(conf, now, SETTLE_LIMIT)
  redis.call('HSET', K.conf, 'settle_at_ms', fmt(now + SETTLE_EVERY_MS))
  conf.settle_at_ms = now + SETTLE_EVERY_MS
end

-- The live lease of `owner`, settling it first when it has expired.
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

local function counts()
  return redis.call('LLEN', K.free), redis.call('HLEN', K.lease), redis.call('ZCARD', K.cooling)
end

-- Every wallet in service, the database's reserve included (what max_size bounds).
local function in_service()
  local free, leased, cooling = counts()
  return free + leased + cooling + redis.call('SCARD', K.reserve)
end

-- Alert counters, kept in conf (they change no wallet, so they record no event).
-- After an allocation that took `took` wallets: when the free queue fell below the
-- pool's min_free, count it and return the free count; else -1.
local function low_water(conf, took)
  if took == 0 or conf.min_free == 0 then return -1 end
  local free = redis.call('LLEN', K.free)
  if free >= conf.min_free then return -1 end
  redis.call('HINCRBY', K.conf, 'low_water_count', 1)
  return free
end

-- A refusal with 'exhausted': count it and build the reply.
local function exhausted()
  redis.call('HINCRBY', K.conf, 'exhausted_count', 1)
  local free, leased, cooling = counts()
  return {'exhausted', free, leased, cooling}
end

-- The defaults a client sends for a pool it may create: ARGV[1..4] of add and configure
-- are lease_ttl_ms, max_size, network and min_free. Returns nil when malformed.
local function read_defaults()
  local d = {ttl = int_arg(ARGV[1], 1, MAX_TTL_MS), size = int_arg(ARGV[2], 1, 1e9),
             network = ARGV[3], min_free = int_arg(ARGV[4], 0, 1e9)}
  if d.ttl == nil or d.size == nil or d.min_free == nil or not valid_network(d.network) then
    return nil
  end
  return d
end

-- Pool settings, created from the client's defaults the first time a pool is touched.
local function create_pool(d)
  redis.call('HSET', K.conf, 'lease_ttl_ms', fmt(d.ttl), 'cooldown_ms', '0',
             'max_size', fmt(d.size), 'max_uses', '0', 'network', d.network,
             'min_free', fmt(d.min_free))
end

-- The event of a settings change carries every setting now in force.
local function emit_configured(conf, now)
  local settings = {}
  for _, f in ipairs({'lease_ttl_ms', 'cooldown_ms', 'max_size', 'max_uses', 'min_free'}) do
    settings[#settings + 1] = f .. '=' .. fmt(conf[f])
  end
  settings[#settings + 1] = 'network=' .. conf.network
  if conf.reserve then settings[#settings + 1] = 'reserve=' .. fmt(conf.reserve) end
  redis.call('XADD', K.events, '*', 'type', 'configured', 'settings',
             table.concat(settings, ' '), 'at', fmt(now))
end

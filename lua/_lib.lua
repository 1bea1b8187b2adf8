-- _lib: helpers shared by every walletpool script. The loader (walletpool/scripts.py)
-- puts this file in front of each script, so one copy serves them all.
--
-- Every script receives the pool's keys in this fixed order (walletpool/keys.py):
--   1 conf (hash)   2 free (list)     3 state (hash)    4 lease (hash)   5 owner (hash)
--   6 expiry (zset) 7 cooling (zset)  8 seq (string)    9 events (stream) 10 uses (hash)
-- They all carry the pool as a hash tag, so a script touches one Cluster slot.
-- Nothing here sets a TTL: an expiring key would silently drop wallets.
local K = {
  conf = KEYS[1], free = KEYS[2], state = KEYS[3], lease = KEYS[4], owner = KEYS[5],
  expiry = KEYS[6], cooling = KEYS[7], seq = KEYS[8], events = KEYS[9], uses = KEYS[10],
}

-- Bounds shared with walletpool/validation.py; scripts re-check what clients send.
local MAX_TTL_MS = 31536000000        -- one year
local MAX_ID_LEN = 128
-- Expired leases and cooled wallets an allocation settles before it pops, so a pool
-- stays healthy without a reaper; `reap` settles the rest.
local SETTLE_ON_ALLOCATE = 16

local function fail(message)
  return redis.error_reply('walletpool: ' .. message)
end

local function valid_address(s)
  return type(s) == 'string' and #s >= 1 and #s <= MAX_ID_LEN and s:match('^[%w:._%-]+$') ~= nil
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
                       'clock_offset_ms')
  return {
    exists = v[1] ~= false,
    lease_ttl_ms = tonumber(v[1]) or 0,
    cooldown_ms = tonumber(v[2]) or 0,
    max_size = tonumber(v[3]) or 0,
    max_uses = tonumber(v[4]) or 0,
    clock_offset_ms = tonumber(v[5]) or 0,
  }
end

-- Server time in ms; clock_offset_ms is set only by the test suite to move time forward.
local function now_ms(conf)
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + conf.clock_offset_ms
end

-- One event per state change, in the same script as the change (DESIGN invariant 7).
-- The field set is fixed so that the stream packs entries densely.
local function emit(now, kind, address, state, owner, token, cid, uid)
  redis.call('XADD', K.events, '*', 'type', kind, 'address', address, 'state', state,
             'owner', owner or '', 'token', token or '', 'at', fmt(now),
             'cid', cid or '', 'uid', uid or '')
end

-- A lease is stored as JSON with every number as a string (no float rounding).
local function load_lease(address)
  local raw = redis.call('HGET', K.lease, address)
  if not raw then return nil end
  return cjson.decode(raw)
end

local function store_lease(address, lease)
  redis.call('HSET', K.lease, address, cjson.encode(lease))
end

local function lease_reply(address, lease)
  return {address, lease.t, lease.e, lease.l, lease.c, lease.u}
end

local function drop_lease(address, lease)
  redis.call('HDEL', K.lease, address)
  redis.call('ZREM', K.expiry, address)
  if redis.call('HGET', K.owner, lease.o) == address then
    redis.call('HDEL', K.owner, lease.o)
  end
end

-- Where a wallet goes when its lease ends at `ended_at`: retired when worn out,
-- cooling while the pool has a cooldown, else straight to the tail of the free queue.
local function return_wallet(conf, address, ended_at)
  local state
  if conf.max_uses > 0 and (tonumber(redis.call('HGET', K.uses, address)) or 0) >= conf.max_uses then
    state = 'retired'
  elseif conf.cooldown_ms > 0 then
    redis.call('ZADD', K.cooling, ended_at, address)
    state = 'cooling'
  else
    redis.call('RPUSH', K.free, address)
    state = 'free'
  end
  redis.call('HSET', K.state, address, state)
  return state
end

local function expire_lease(conf, now, address, lease)
  drop_lease(address, lease)
  local state = return_wallet(conf, address, tonumber(lease.e))
  emit(now, 'expired', address, state, lease.o, lease.t, lease.c, lease.u)
end

-- Reclaim up to `limit` expired leases, oldest deadline first. Returns how many.
local function reap_expired(conf, now, limit)
  local due = redis.call('ZRANGEBYSCORE', K.expiry, '-inf', now, 'LIMIT', 0, limit)
  for _, address in ipairs(due) do
    expire_lease(conf, now, address, load_lease(address))
  end
  return #due
end

-- Move up to `limit` wallets whose cooldown is over to the free tail, in the order
-- their leases ended. The cooldown in force now applies, so shortening it frees early.
local function promote_cooled(conf, now, limit)
  local ready = redis.call('ZRANGEBYSCORE', K.cooling, '-inf', now - conf.cooldown_ms,
                           'LIMIT', 0, limit)
  for _, address in ipairs(ready) do
    redis.call('ZREM', K.cooling, address)
    redis.call('RPUSH', K.free, address)
    redis.call('HSET', K.state, address, 'free')
    emit(now, 'cooled', address, 'free', '', '', '', '')
  end
  return #ready
end

-- The live lease of `owner`, settling it first when it has expired.
local function live_lease_of(conf, now, owner)
  local address = redis.call('HGET', K.owner, owner)
  if not address then return nil end
  local lease = load_lease(address)
  if tonumber(lease.e) <= now then
    expire_lease(conf, now, address, lease)
    return nil
  end
  return address, lease
end

-- Pop the head of the free queue and lease it. The caller has checked that the owner
-- holds no live lease and that the queue is not empty.
local function lease_head(now, owner, ttl_ms, cid, uid)
  local address = redis.call('LPOP', K.free)
  local token = redis.call('INCR', K.seq)
  local lease = {o = owner, t = fmt(token), e = fmt(now + ttl_ms), l = fmt(now), c = cid, u = uid}
  store_lease(address, lease)
  redis.call('HSET', K.owner, owner, address)
  redis.call('ZADD', K.expiry, now + ttl_ms, address)
  redis.call('HSET', K.state, address, 'leased')
  redis.call('HINCRBY', K.uses, address, 1)
  emit(now, 'allocated', address, 'leased', owner, lease.t, cid, uid)
  return address, lease
end

local function counts()
  return redis.call('LLEN', K.free), redis.call('HLEN', K.lease), redis.call('ZCARD', K.cooling)
end

-- Pool settings, created from the client's defaults the first time a pool is touched.
local function create_pool(default_ttl_ms, default_max_size)
  redis.call('HSET', K.conf, 'lease_ttl_ms', fmt(default_ttl_ms), 'cooldown_ms', '0',
             'max_size', fmt(default_max_size), 'max_uses', '0')
end

-- The event of a settings change carries every setting now in force.
local function emit_configured(conf, now)
  local settings = {}
  for _, f in ipairs({'lease_ttl_ms', 'cooldown_ms', 'max_size', 'max_uses'}) do
    settings[#settings + 1] = f .. '=' .. fmt(conf[f])
  end
  redis.call('XADD', K.events, '*', 'type', 'configured', 'settings',
             table.concat(settings, ' '), 'at', fmt(now))
end

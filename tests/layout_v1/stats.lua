-- walletpool 0.1's stats.lua with its includes inlined, kept to build pools in 0.1's layout
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
-- fmt: a number as an integer string (Lua would print large ones in exponent form)

local function fmt(n)
  return string.format('%.0f', n)
end
-- stats: a consistent snapshot of one pool's counts and settings. Read-only.
-- KEYS: the pool's keys (includes/keys.lua); reads all but lease values.
-- ARGV: none
-- Reply: {exists, free, leased, cooling, known, last_token, events, expired_unreaped,
--         cooled_ready, lease_ttl_ms, cooldown_ms, max_size, max_uses, now_ms, network,
--         min_free, low_water_count, exhausted_count, reserve, reserve_target}
-- reserve: wallets the database holds back; reserve_target: its configured size, or -1
-- for the default (min_free).
-- known counts every address ever added (retired included).
--- @include "clock"
--- @include "conf"
--- @include "counts"
--- @include "fmt"
--- @include "keys"

local conf = read_conf()
local now = now_ms(conf)
local free, leased, cooling = counts()
return {
  conf.exists and 1 or 0, free, leased, cooling, redis.call('HLEN', K.state),
  tonumber(redis.call('GET', K.seq)) or 0, redis.call('XLEN', K.events),
  redis.call('ZCOUNT', K.expiry, '-inf', now),
  redis.call('ZCOUNT', K.cooling, '-inf', now - conf.cooldown_ms),
  conf.lease_ttl_ms, conf.cooldown_ms, conf.max_size, conf.max_uses, fmt(now), conf.network,
  conf.min_free, tonumber(redis.call('HGET', K.conf, 'low_water_count')) or 0,
  tonumber(redis.call('HGET', K.conf, 'exhausted_count')) or 0,
  redis.call('SCARD', K.reserve), conf.reserve or -1,
}

-- walletpool 0.1's configure.lua with its includes inlined, kept to build pools in 0.1's layout
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
-- int_arg: parse an integer argument within bounds, or nil

local function int_arg(s, lo, hi)
  local n = tonumber(s)
  if n == nil or n ~= math.floor(n) or n < lo or n > hi then return nil end
  return n
end
-- limits: bounds shared with walletpool/validation.py

local MAX_TTL_MS = 31536000000        -- one year

local MAX_ID_LEN = 128
-- valid_network: check a network name (walletpool/chains/networks.py)

local function valid_network(s)
  return type(s) == 'string' and #s <= 32 and s:match('^[a-z0-9][a-z0-9%-]*$') ~= nil
end
-- defaults: check the defaults a client sends for a pool it may create, and create it
--- @include "fmt"
--- @include "int_arg"
--- @include "keys"
--- @include "limits"
--- @include "valid_network"

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
-- emit_configured: append a settings change, with every setting now in force, to the stream
--- @include "fmt"
--- @include "keys"

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
-- fail: an error reply that the client turns into InvalidInput

local function fail(message)
  return redis.error_reply('walletpool: ' .. message)
end
-- configure: create a pool or change its settings. Fields not given keep their value;
-- a new pool starts from the defaults the client passes.
-- KEYS: the pool's keys (includes/keys.lua); writes conf, events.
-- ARGV: 1 default lease_ttl_ms  2 default max_size  3 default network  4 default min_free,
--       then field/value pairs from: lease_ttl_ms (1..1 year), cooldown_ms (0..1 year),
--       max_size (1..10^9), max_uses (0 = unlimited), min_free (0..10^9), reserve
--       (0..10^9: wallets the database holds back for a Redis outage), network (a
--       name; only while the pool holds no wallet: its wallets were checked for the old
--       one); tests only: clock_offset_ms (moves the pool's clock forward), clock_ms
--       (freezes it at that epoch ms; 0 = Redis TIME)
-- Reply: {'ok', created (1|0)}; one 'configured' event unless only the test clock moved
--- @include "clock"
--- @include "conf"
--- @include "defaults"
--- @include "emit_configured"
--- @include "fail"
--- @include "int_arg"
--- @include "keys"
--- @include "limits"
--- @include "valid_network"

local LIMITS = {
  lease_ttl_ms = {1, MAX_TTL_MS}, cooldown_ms = {0, MAX_TTL_MS}, max_size = {1, 1e9},
  max_uses = {0, 1e9}, min_free = {0, 1e9}, reserve = {0, 1e9}, clock_offset_ms = {0, 1e13}, clock_ms = {0, 1e14},
}
local defaults = read_defaults()
if defaults == nil then return fail('bad defaults') end
if #ARGV % 2 ~= 0 then return fail('configure takes field/value pairs') end
local conf = read_conf()
for i = 5, #ARGV, 2 do
  local field, value = ARGV[i], ARGV[i + 1]
  if field == 'network' then
    if not valid_network(value) then return fail('bad value for network') end
    local current = conf.exists and conf.network or defaults.network
    if value ~= current and redis.call('HLEN', K.state) > 0 then
      return fail('pool holds wallets checked as ' .. current .. '; its network cannot '
                  .. 'become ' .. value)
    end
  else
    local range = LIMITS[field]
    if range == nil then return fail('unknown setting ' .. field) end
    if int_arg(value, range[1], range[2]) == nil then return fail('bad value for ' .. field) end
  end
end

local created = 0
if not conf.exists then
  create_pool(defaults)
  created = 1
end
local changed = created == 1
for i = 5, #ARGV, 2 do
  redis.call('HSET', K.conf, ARGV[i], ARGV[i + 1])
  changed = changed or ARGV[i]:sub(1, 6) ~= 'clock_'
end
-- The test clock is no setting of the pool: moving it records no event.
conf = read_conf()
if changed then emit_configured(conf, now_ms(conf)) end
return {'ok', created}

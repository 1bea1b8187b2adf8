-- walletpool 0.1's add.lua with its includes inlined, kept to build pools in 0.1's layout
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
-- counts: the free, leased and cooling counts of the pool
--- @include "keys"

local function counts()
  return redis.call('LLEN', K.free), redis.call('HLEN', K.lease), redis.call('ZCARD', K.cooling)
end
-- in_service: every wallet in service, the database's reserve included (what max_size bounds)
--- @include "counts"
--- @include "keys"

local function in_service()
  local free, leased, cooling = counts()
  return free + leased + cooling + redis.call('SCARD', K.reserve)
end
-- valid_address: check a wallet's form: an address, or address#tag in a tag pool
--- @include "limits"

local function valid_address(s)
  if type(s) ~= 'string' or #s < 1 or #s > MAX_ID_LEN then return false end
  return s:match('^[%w:._%-]+$') ~= nil or s:match('^[%w:._%-]+#[%w:._%-]+$') ~= nil
end
-- add: append new wallets to the tail of a pool's free queue, skipping any wallet the
-- pool already knows (in any state, retired included) or that repeats in the batch.
-- All or nothing: when the new wallets would take the pool over max_size, nothing is added.
-- The client has checked and canonicalised the wallets for the pool's network; the
-- script refuses the batch when the pool's network is not the one they were checked for.
-- KEYS: the pool's keys (includes/keys.lua); writes conf (a new pool's defaults), free, state, events.
-- A new pool gets a 'configured' event, then each new wallet an 'added' event.
-- ARGV: 1 default lease_ttl_ms  2 default max_size  3 network  4 default min_free
--       (1, 2 and 4 used only to create the pool)  5.. wallets
-- Reply: {'ok', added, duplicates} | {'full', in_service, max_size, would_add}
--      | {'network', the pool's network}
--- @include "clock"
--- @include "conf"
--- @include "defaults"
--- @include "emit"
--- @include "emit_configured"
--- @include "fail"
--- @include "in_service"
--- @include "keys"
--- @include "valid_address"

local defaults = read_defaults()
if defaults == nil then return fail('bad defaults') end
for i = 5, #ARGV do
  if not valid_address(ARGV[i]) then return fail('bad address at position ' .. (i - 4)) end
end

local conf = read_conf()
if conf.exists and conf.network ~= '' and conf.network ~= defaults.network then
  return {'network', conf.network}
end
local max_size = conf.exists and conf.max_size or defaults.size
local fresh, seen = {}, {}
for i = 5, #ARGV do
  local address = ARGV[i]
  if not seen[address] then
    seen[address] = true
    if redis.call('HEXISTS', K.state, address) == 0 then fresh[#fresh + 1] = address end
  end
end
local serving = in_service()
if serving + #fresh > max_size then return {'full', serving, max_size, #fresh} end

local now = now_ms(conf)
if not conf.exists then
  create_pool(defaults)
  emit_configured(read_conf(), now)
elseif conf.network == '' then  -- a pool made before pools had networks
  redis.call('HSET', K.conf, 'network', defaults.network)
  emit_configured(read_conf(), now)
end
for _, address in ipairs(fresh) do
  redis.call('RPUSH', K.free, address)
  redis.call('HSET', K.state, address, 'free')
  emit(now, 'added', address, 'free', nil)
end
return {'ok', #fresh, (#ARGV - 4) - #fresh}

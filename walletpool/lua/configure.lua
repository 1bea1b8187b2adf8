-- configure: create a pool or change its settings. Fields not given keep their value;
-- a new pool starts from the defaults the client passes.
-- KEYS: the pool's keys (includes/keys.lua); writes conf, events.
-- ARGV: 1 default lease_ttl_ms  2 default max_size  3 default network  4 default min_free
--       5 default max_waiters  6 default max_wait_ms, then field/value pairs from: lease_ttl_ms (1..1 year), cooldown_ms (0..1 year),
--       max_size (1..10^9), max_uses (0 = unlimited), min_free (0..10^9), reserve
--       (0..10^9: wallets the database holds back for a Redis outage), network (a
--       name; only while the pool holds no wallet: its wallets were checked for the old
--       one), max_waiters (0..10^6: orders that may wait at once; 0 = none),
--       max_wait_ms (0..1 year: the longest an order waits), stream_cap (100..10^9: the
--       most stream entries kept while no syncer has attached; includes/emit.lua); tests only: clock_offset_ms (moves the pool's clock forward), clock_ms
--       (freezes it at that epoch ms; 0 = Redis TIME)
-- Reply: {'ok', created (1|0)}; one 'configured' change unless only the test clock moved
-- A pool fenced for healing (includes/fence.lua) is refused with a 'walletpool-fenced'
-- error before anything but the fence is written.
--- @include "clock"
--- @include "conf"
--- @include "defaults"
--- @include "emit"
--- @include "fail"
--- @include "fence"
--- @include "fmt"
--- @include "in_service"
--- @include "int_arg"
--- @include "keys"
--- @include "layout"
--- @include "limits"
--- @include "valid_network"

local LIMITS = {
  lease_ttl_ms = {1, MAX_TTL_MS}, cooldown_ms = {0, MAX_TTL_MS}, max_size = {1, 1e9},
  max_uses = {0, 1e9}, min_free = {0, 1e9}, reserve = {0, 1e9}, max_waiters = {0, MAX_WAITERS},
  max_wait_ms = {0, MAX_TTL_MS}, stream_cap = {MIN_STREAM_CAP, 1e9},
  clock_offset_ms = {0, 1e13}, clock_ms = {0, 1e14},
}
local defaults = read_defaults()
if defaults == nil then return fail('bad defaults') end
if #ARGV % 2 ~= 0 then return fail('configure takes field/value pairs') end
local conf = read_conf()
if outdated(conf) then return layout_error(conf) end
for i = AFTER_DEFAULTS, #ARGV, 2 do
  local field, value = ARGV[i], ARGV[i + 1]
  if field == 'network' then
    if not valid_network(value) then return fail('bad value for network') end
    local current = conf.exists and conf.network or defaults.network
    if value ~= current and redis.call('HLEN', K.known) > 0 then
      return fail('pool holds wallets checked as ' .. current .. '; its network cannot '
                  .. 'become ' .. value)
    end
  else
    local range = LIMITS[field]
    if range == nil then return fail('unknown setting ' .. field) end
    if int_arg(value, range[1], range[2]) == nil then return fail('bad value for ' .. field) end
  end
end

-- Settings that contradict each other or the pool are refused, never taken silently:
-- a max_size below the wallets in service, a min_free set above max_size (a default
-- min_free, which the caller did not choose, is not held against a small max_size).
local given = {}
for i = AFTER_DEFAULTS, #ARGV, 2 do given[ARGV[i]] = tonumber(ARGV[i + 1]) end
local max_size = given.max_size or (conf.exists and conf.max_size or defaults.size)
local min_free = given.min_free or (conf.exists and conf.min_free or defaults.min_free)
if given.max_size and conf.exists then
  local used = in_service()
  if max_size < used then
    return fail('max_size ' .. fmt(max_size) .. ' is below the ' .. fmt(used) .. ' wallets in '
                .. 'service: retire wallets first, or set max_size to at least ' .. fmt(used))
  end
end
if given.min_free and min_free > max_size then
  return fail('min_free ' .. fmt(min_free) .. ' is above max_size ' .. fmt(max_size)
              .. ': the pool could never keep that many wallets free')
end

-- A fenced pool takes no setting (the test clock moves still: it is no setting).
local settings_change = false
for i = AFTER_DEFAULTS, #ARGV, 2 do
  settings_change = settings_change or ARGV[i]:sub(1, 6) ~= 'clock_'
end
if settings_change and fenced(conf, now_ms(conf)) then return fenced_error() end

local created = 0
if not conf.exists then
  create_pool(defaults)
  created = 1
end
local changed = created == 1
for i = AFTER_DEFAULTS, #ARGV, 2 do
  redis.call('HSET', K.conf, ARGV[i], ARGV[i + 1])
  changed = changed or ARGV[i]:sub(1, 6) ~= 'clock_'
end
-- The test clock is no setting of the pool: moving it records no event.
conf = read_conf()
if changed then
  emit_configured(conf)
  flush_events(now_ms(conf))
end
return {'ok', created}

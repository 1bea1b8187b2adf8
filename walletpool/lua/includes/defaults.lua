-- defaults: check the defaults a client sends for a pool it may create, and create it
--- @include "fmt"
--- @include "int_arg"
--- @include "keys"
--- @include "layout"
--- @include "limits"
--- @include "valid_network"

-- The defaults a client sends for a pool it may create: ARGV[1..6] of add and configure
-- are lease_ttl_ms, max_size, network, min_free, max_waiters and max_wait_ms; their own
-- arguments start at AFTER_DEFAULTS. Returns nil when malformed.
local AFTER_DEFAULTS = 7

local function read_defaults()
  local d = {ttl = int_arg(ARGV[1], 1, MAX_TTL_MS), size = int_arg(ARGV[2], 1, 1e9),
             network = ARGV[3], min_free = int_arg(ARGV[4], 0, 1e9),
             max_waiters = int_arg(ARGV[5], 0, MAX_WAITERS),
             max_wait_ms = int_arg(ARGV[6], 0, MAX_TTL_MS)}
  if d.ttl == nil or d.size == nil or d.min_free == nil or not valid_network(d.network)
      or d.max_waiters == nil or d.max_wait_ms == nil then
    return nil
  end
  return d
end

-- Pool settings, created from the client's defaults the first time a pool is touched,
-- in this code's layout.
local function create_pool(d)
  redis.call('HSET', K.conf, 'lease_ttl_ms', fmt(d.ttl), 'cooldown_ms', '0',
             'max_size', fmt(d.size), 'max_uses', '0', 'network', d.network,
             'min_free', fmt(d.min_free), 'max_waiters', fmt(d.max_waiters),
             'max_wait_ms', fmt(d.max_wait_ms), 'layout', fmt(LAYOUT))
end

-- conf: read the pool's settings into a table
--- @include "keys"

-- Every field read costs about a microsecond, so the calls of the hot path (allocate,
-- release, their batches, extend) read only the first HOT fields, the settings they
-- use: read_conf('hot') leaves max_size, network, reserve and heal_from nil.
local CONF_FIELDS = {'lease_ttl_ms', 'cooldown_ms', 'max_uses', 'clock_offset_ms',
                     'settle_at_ms', 'clock_ms', 'min_free', 'layout', 'run_id',
                     'run_checked_ms', 'max_size', 'network', 'reserve', 'heal_from'}
local HOT = 10

local function read_conf(hot)
  local v = redis.call('HMGET', K.conf, unpack(CONF_FIELDS, 1, hot and HOT or #CONF_FIELDS))
  local conf = {
    exists = v[1] ~= false,
    lease_ttl_ms = tonumber(v[1]) or 0,
    cooldown_ms = tonumber(v[2]) or 0,
    max_uses = tonumber(v[3]) or 0,
    clock_offset_ms = tonumber(v[4]) or 0,
    settle_at_ms = tonumber(v[5]) or 0,
    clock_ms = tonumber(v[6]) or 0,
    min_free = tonumber(v[7]) or 0,
    layout = tonumber(v[8]) or 1,  -- layout 1 (walletpool 0.1.0) wrote no layout field
    run_id = v[9] or nil,  -- nil: no database watches the pool (includes/fence.lua)
    run_checked_ms = tonumber(v[10]) or 0,
  }
  if not hot then
    conf.max_size = tonumber(v[11]) or 0
    conf.network = v[12] or ''
    conf.reserve = tonumber(v[13])  -- nil: the default, min_free
    conf.heal_from = v[14] or nil
  end
  return conf
end

-- Pools made before orders could wait have no waiting limits: the defaults apply.
local DEFAULT_MAX_WAITERS, DEFAULT_MAX_WAIT_MS = 100, 300000

-- The pool's waiting limits (read apart from read_conf: only waiting needs them).
local function wait_limits()
  local v = redis.call('HMGET', K.conf, 'max_waiters', 'max_wait_ms')
  return tonumber(v[1]) or DEFAULT_MAX_WAITERS, tonumber(v[2]) or DEFAULT_MAX_WAIT_MS
end

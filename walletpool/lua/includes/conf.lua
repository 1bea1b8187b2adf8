-- conf: read the pool's settings into a table
--- @include "keys"

-- Every read costs about a microsecond a field, so the calls of the hot path (allocate,
-- release, their batches, extend) read only the settings they use: read_conf('hot')
-- leaves max_size, network, reserve and heal_from nil.
local function read_conf(hot)
  local v
  if hot then
    v = redis.call('HMGET', K.conf, 'lease_ttl_ms', 'cooldown_ms', 'max_uses',
                   'clock_offset_ms', 'settle_at_ms', 'clock_ms', 'min_free', 'layout', 'run_id',
                   'run_checked_ms')
    return {
      exists = v[1] ~= false,
      lease_ttl_ms = tonumber(v[1]) or 0,
      cooldown_ms = tonumber(v[2]) or 0,
      max_uses = tonumber(v[3]) or 0,
      clock_offset_ms = tonumber(v[4]) or 0,
      settle_at_ms = tonumber(v[5]) or 0,
      clock_ms = tonumber(v[6]) or 0,
      min_free = tonumber(v[7]) or 0,
      layout = tonumber(v[8]) or 1,
      run_id = v[9] or nil,
      run_checked_ms = tonumber(v[10]) or 0,
    }
  end
  v = redis.call('HMGET', K.conf, 'lease_ttl_ms', 'cooldown_ms', 'max_size', 'max_uses',
                 'clock_offset_ms', 'settle_at_ms', 'clock_ms', 'min_free', 'network',
                 'reserve', 'layout', 'run_id', 'run_checked_ms', 'heal_from')
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
    layout = tonumber(v[11]) or 1,  -- 0.1 wrote no layout field
    run_id = v[12] or nil,  -- nil: no database watches the pool (includes/fence.lua)
    run_checked_ms = tonumber(v[13]) or 0,
    heal_from = v[14] or nil,
  }
end

-- Pools made before orders could wait have no waiting limits: the defaults apply.
local DEFAULT_MAX_WAITERS, DEFAULT_MAX_WAIT_MS = 100, 300000

-- The pool's waiting limits (read apart from read_conf: only waiting needs them).
local function wait_limits()
  local v = redis.call('HMGET', K.conf, 'max_waiters', 'max_wait_ms')
  return tonumber(v[1]) or DEFAULT_MAX_WAITERS, tonumber(v[2]) or DEFAULT_MAX_WAIT_MS
end

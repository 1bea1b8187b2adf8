-- clock: the pool's clock in ms: Redis TIME, or the clock the test suite froze or moved

-- Server time in ms. Only the test suite sets clock_ms (a frozen clock) and
-- clock_offset_ms (time moved forward), so that expiry and cooldown need no sleeping.
local function now_ms(conf)
  if conf.clock_ms > 0 then return conf.clock_ms + conf.clock_offset_ms end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + conf.clock_offset_ms
end

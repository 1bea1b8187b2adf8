-- clock: the pool's clock in ms: Redis TIME, or the clock the test suite froze or moved

-- Server time in ms. Only the test suite sets clock_ms (a frozen clock) and
-- clock_offset_ms (time moved forward), so that expiry and cooldown need no sleeping.
-- Also keeps the same instant in µs in conf.now_us (a frozen clock has none finer than
-- its ms), where tokens start (includes/tokens.lua).
local function now_ms(conf)
  if conf.clock_ms > 0 then
    local now = conf.clock_ms + conf.clock_offset_ms
    conf.now_us = now * 1000
    return now
  end
  local t = redis.call('TIME')
  local s, us = tonumber(t[1]), tonumber(t[2])
  conf.now_us = s * 1000000 + us + conf.clock_offset_ms * 1000
  return s * 1000 + math.floor(us / 1000) + conf.clock_offset_ms
end

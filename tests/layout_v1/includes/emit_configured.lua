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

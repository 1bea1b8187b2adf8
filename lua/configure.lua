-- configure: create a pool or change its settings. Fields not given keep their value;
-- a new pool starts from the defaults the client passes.
-- KEYS: the pool's keys (_lib.lua); writes conf, events.
-- ARGV: 1 default lease_ttl_ms  2 default max_size, then field/value pairs from:
--       lease_ttl_ms (1..1 year), cooldown_ms (0..1 year), max_size (1..10^9),
--       max_uses (0 = unlimited); tests only: clock_offset_ms (moves the pool's clock
--       forward), clock_ms (freezes it at that epoch ms; 0 = Redis TIME)
-- Reply: {'ok', created (1|0)}; one 'configured' event unless only the test clock moved

local LIMITS = {
  lease_ttl_ms = {1, MAX_TTL_MS}, cooldown_ms = {0, MAX_TTL_MS}, max_size = {1, 1e9},
  max_uses = {0, 1e9}, clock_offset_ms = {0, 1e13}, clock_ms = {0, 1e14},
}
local default_ttl = int_arg(ARGV[1], 1, MAX_TTL_MS)
local default_size = int_arg(ARGV[2], 1, 1e9)
if default_ttl == nil or default_size == nil then return fail('bad defaults') end
if #ARGV % 2 ~= 0 then return fail('configure takes field/value pairs') end
for i = 3, #ARGV, 2 do
  local range = LIMITS[ARGV[i]]
  if range == nil then return fail('unknown setting ' .. ARGV[i]) end
  if int_arg(ARGV[i + 1], range[1], range[2]) == nil then return fail('bad value for ' .. ARGV[i]) end
end

local created = 0
if redis.call('EXISTS', K.conf) == 0 then
  create_pool(default_ttl, default_size)
  created = 1
end
local changed = created == 1
for i = 3, #ARGV, 2 do
  redis.call('HSET', K.conf, ARGV[i], ARGV[i + 1])
  changed = changed or ARGV[i]:sub(1, 6) ~= 'clock_'
end
-- The test clock is no setting of the pool: moving it records no event.
local conf = read_conf()
if changed then emit_configured(conf, now_ms(conf)) end
return {'ok', created}

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

-- add: append new wallets to the tail of a pool's free queue, skipping any address the
-- pool already knows (in any state, retired included) or that repeats in the batch.
-- All or nothing: when the new wallets would take the pool over max_size, nothing is added.
-- KEYS: the pool's keys (_lib.lua); writes conf (a new pool's defaults), free, state, events.
-- A new pool gets a 'configured' event, then each new wallet an 'added' event.
-- ARGV: 1 default lease_ttl_ms  2 default max_size (both used only to create the pool)
--       3.. addresses
-- Reply: {'ok', added, duplicates} | {'full', in_service, max_size, would_add}

local default_ttl = int_arg(ARGV[1], 1, MAX_TTL_MS)
local default_size = int_arg(ARGV[2], 1, 1e9)
if default_ttl == nil or default_size == nil then return fail('bad defaults') end
for i = 3, #ARGV do
  if not valid_address(ARGV[i]) then return fail('bad address at position ' .. (i - 2)) end
end

local conf = read_conf()
local max_size = conf.exists and conf.max_size or default_size
local fresh, seen = {}, {}
for i = 3, #ARGV do
  local address = ARGV[i]
  if not seen[address] then
    seen[address] = true
    if redis.call('HEXISTS', K.state, address) == 0 then fresh[#fresh + 1] = address end
  end
end
local free, leased, cooling = counts()
local in_service = free + leased + cooling
if in_service + #fresh > max_size then return {'full', in_service, max_size, #fresh} end

local now = now_ms(conf)
if not conf.exists then
  create_pool(default_ttl, default_size)
  emit_configured(read_conf(), now)
end
for _, address in ipairs(fresh) do
  redis.call('RPUSH', K.free, address)
  redis.call('HSET', K.state, address, 'free')
  emit(now, 'added', address, 'free', nil)
end
return {'ok', #fresh, (#ARGV - 2) - #fresh}

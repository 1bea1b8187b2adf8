-- walletpool 0.1's claim.lua with its includes inlined, kept to build pools in 0.1's layout
-- bulk: run a variadic command, or a multi-field read, over a long argument list in slices

-- Variadic commands go out in slices of this many arguments (even, so pairs stay
-- whole), well under Lua's stack limit for unpack.
local SLICE = 1000

-- Run `command key args...` over a long argument list in slices.
local function bulk(command, key, args)
  for i = 1, #args, SLICE do
    redis.call(command, key, unpack(args, i, math.min(i + SLICE - 1, #args)))
  end
end

-- Run a multi-field read (`HMGET key fields...`) over a long field list in slices;
-- returns the values in order (false where a field is absent).
local function bulk_read(command, key, fields)
  local values = {}
  for i = 1, #fields, SLICE do
    local got = redis.call(command, key, unpack(fields, i, math.min(i + SLICE - 1, #fields)))
    for j = 1, #got do values[i + j - 1] = got[j] end
  end
  return values
end
-- fail: an error reply that the client turns into InvalidInput

local function fail(message)
  return redis.error_reply('walletpool: ' .. message)
end
-- limits: bounds shared with walletpool/validation.py

local MAX_TTL_MS = 31536000000        -- one year

local MAX_ID_LEN = 128
-- valid_address: check a wallet's form: an address, or address#tag in a tag pool
--- @include "limits"

local function valid_address(s)
  if type(s) ~= 'string' or #s < 1 or #s > MAX_ID_LEN then return false end
  return s:match('^[%w:._%-]+$') ~= nil or s:match('^[%w:._%-]+#[%w:._%-]+$') ~= nil
end
-- claim: record which pool each address belongs to within a chain family, so that one
-- address never serves two pools of a family (an ETH address cannot also be in
-- USDT-ERC20). All or nothing: when any address belongs to another pool, nothing is
-- written. Claims outlive retirement: a retired address still belongs to its pool.
-- KEYS: 1 the family's hash (address -> pool), e.g. wp:{family:eth}:addresses; it has a
--       hash tag of its own, so this runs apart from the pool's scripts (the pool keys
--       of includes/keys.lua do not apply here).
-- ARGV: 1 pool  2 'check' (read only) or 'claim'  3.. addresses (without tags)
-- Reply: {'ok', newly_claimed} | {'taken', address, pool, address, pool, ...}
--- @include "bulk"
--- @include "fail"
--- @include "valid_address"

local pool, mode = ARGV[1], ARGV[2]
if type(pool) ~= 'string' or pool:match('^[A-Z0-9]+%-?[A-Z0-9]*$') == nil or #pool > 25 then
  return fail('bad pool')
end
if mode ~= 'check' and mode ~= 'claim' then return fail('bad mode') end
local addresses = {}
for i = 3, #ARGV do
  if not valid_address(ARGV[i]) then return fail('bad address at position ' .. (i - 2)) end
  addresses[#addresses + 1] = ARGV[i]
end

local taken, new = {'taken'}, {}
local owners = bulk_read('HMGET', KEYS[1], addresses)
for i, address in ipairs(addresses) do
  if owners[i] == false then
    new[#new + 1] = address
    new[#new + 1] = pool
  elseif owners[i] ~= pool then
    taken[#taken + 1] = address
    taken[#taken + 1] = owners[i]
  end
end
if #taken > 1 then return taken end
if mode == 'claim' then bulk('HSET', KEYS[1], new) end
return {'ok', #new / 2}

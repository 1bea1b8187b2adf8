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

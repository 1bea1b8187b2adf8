-- claim: record which pool each address belongs to within a chain family, so that one
-- address never serves two pools of a family (an ETH address cannot also be in
-- USDT-ERC20). All or nothing: when any address belongs to another pool, nothing is
-- written. Claims outlive retirement: a retired address still belongs to its pool.
-- 'unclaim' takes back claims an add made and could not use (the add was refused), so
-- a refused add leaves no claim behind.
-- KEYS: 1 the family's hash (address -> pool), e.g. wp:{family:eth}:addresses; it has a
--       hash tag of its own, so this runs apart from the pool's scripts (the pool keys
--       of includes/keys.lua do not apply here).
-- ARGV: 1 pool  2 'check' (read only), 'claim' or 'unclaim'  3.. addresses (without tags)
-- Reply: {'ok', newly claimed address, ...} | {'taken', address, pool, address, pool, ...}
--   ('check' names the addresses a claim would take; 'unclaim' the claims it removed,
--   only those held by this pool)
--- @include "bulk"
--- @include "fail"
--- @include "valid_address"

local pool, mode = ARGV[1], ARGV[2]
if type(pool) ~= 'string' or pool:match('^[A-Z0-9]+%-?[A-Z0-9]*$') == nil or #pool > 25 then
  return fail('bad pool')
end
if mode ~= 'check' and mode ~= 'claim' and mode ~= 'unclaim' then return fail('bad mode') end
local addresses = {}
for i = 3, #ARGV do
  if not valid_address(ARGV[i]) then return fail('bad address at position ' .. (i - 2)) end
  addresses[#addresses + 1] = ARGV[i]
end

local owners = bulk_read('HMGET', KEYS[1], addresses)
if mode == 'unclaim' then
  local mine = {'ok'}
  for i, address in ipairs(addresses) do
    if owners[i] == pool then mine[#mine + 1] = address end
  end
  bulk('HDEL', KEYS[1], {unpack(mine, 2)})
  return mine
end
local taken, new, pairs_ = {'taken'}, {'ok'}, {}
for i, address in ipairs(addresses) do
  if owners[i] == false then
    new[#new + 1] = address
    pairs_[#pairs_ + 1] = address
    pairs_[#pairs_ + 1] = pool
  elseif owners[i] ~= pool then
    taken[#taken + 1] = address
    taken[#taken + 1] = owners[i]
  end
end
if #taken > 1 then return taken end
if mode == 'claim' then bulk('HSET', KEYS[1], pairs_) end
return new

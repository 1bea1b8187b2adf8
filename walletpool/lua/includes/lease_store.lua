-- lease_store: leases packed in the leases hash, read and written
--- @include "bulk"
--- @include "keys"

-- A lease is one field, address -> 'owner token expires_at leased_at cid uid' (numbers as
-- integer strings; cid and uid may be empty), and its owner's index is a field of the
-- same hash, '>' .. owner -> address ('>' is no address character), so one HSET or HDEL
-- writes both and one HGET finds an owner's wallet.
local function pack_lease(lease)
  return lease.o .. ' ' .. lease.t .. ' ' .. lease.e .. ' ' .. lease.l .. ' ' .. lease.c .. ' '
    .. lease.u
end

local function unpack_lease(raw)
  local o, t, e, l, c, u = raw:match('^(%S+) (%d+) (%d+) (%d+) (%S*) (%S*)$')
  if o == nil then error('a lease record is malformed: ' .. raw) end
  return {o = o, t = t, e = e, l = l, c = c, u = u}
end

local function owner_field(owner)
  return '>' .. owner
end

local function load_leases(addresses)
  if #addresses == 1 then  -- the hot path (release): one HGET, no slicing
    local raw = redis.call('HGET', K.leases, addresses[1])
    return {raw and unpack_lease(raw) or false}
  end
  local leases = bulk_read('HMGET', K.leases, addresses)
  for i, raw in ipairs(leases) do
    leases[i] = raw and unpack_lease(raw) or false
  end
  return leases
end

local function load_lease(address)
  local raw = redis.call('HGET', K.leases, address)
  return raw and unpack_lease(raw) or nil
end

-- reap_expired: reclaim expired leases, oldest deadline first
--- @include "expire_leases"
--- @include "keys"
--- @include "lease_store"

local function reap_expired(conf, now, limit)
  local due = redis.call('ZRANGEBYSCORE', K.expiry, '-inf', now, 'LIMIT', 0, limit)
  expire_leases(conf, now, due, load_leases(due))
  return #due
end

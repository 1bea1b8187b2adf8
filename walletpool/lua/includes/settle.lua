-- settle: settle expired leases and cooled wallets when due (at most once a second)
--- @include "fmt"
--- @include "keys"
--- @include "promote_cooled"
--- @include "reap_expired"
--- @include "waiters"

-- Allocation settles expired leases and cooled wallets (up to SETTLE_LIMIT of each) at
-- most once per SETTLE_EVERY_MS, and always before it reports a pool exhausted, so a
-- pool stays healthy without a reaper; `reap` settles everything that is due.
local SETTLE_LIMIT = 100
local SETTLE_EVERY_MS = 1000

-- Settle what is due now (see SETTLE_EVERY_MS); `force` settles regardless of the
-- schedule, as allocation does before it reports a pool exhausted.
local function settle(conf, now, force)
  if not force and now < conf.settle_at_ms then return end
  reap_expired(conf, now, SETTLE_LIMIT)
  promote_cooled(conf, now, SETTLE_LIMIT)
  hand_off(conf, now)  -- what it freed goes to the orders waiting, if any
  redis.call('HSET', K.conf, 'settle_at_ms', fmt(now + SETTLE_EVERY_MS))
  conf.settle_at_ms = now + SETTLE_EVERY_MS
end

-- keys: the pool's keys by name, in the order every script receives them

-- Every script receives the pool's keys in this fixed order (walletpool/keys.py):
--   1 conf (hash: settings, the layout version, counters)   2 free (list: the free queue)
--   3 known (hash: address -> '1', or 'retired'; every address ever added)
--   4 leases (hash: address -> the lease packed, and '>' .. owner -> address)
--   5 expiry (zset: leased addresses by deadline)   6 cooling (zset: by lease end)
--   7 seq (string: the fencing counter)   8 events (stream)   9 uses (hash, while max_uses is set)
--  10 reserve (set: the wallets the database holds back; Redis never hands them out,
--     see reserve_take.lua / reserve_return.lua)
-- A wallet's state is where it stands: in free, leases, cooling or reserve, or 'retired'
-- in known; nothing else records it, so a change of state writes no state field.
-- They all carry the pool as a hash tag, so a script touches one Cluster slot.
-- Nothing here sets a TTL: an expiring key would silently drop wallets.
local K = {
  conf = KEYS[1], free = KEYS[2], known = KEYS[3], leases = KEYS[4], expiry = KEYS[5],
  cooling = KEYS[6], seq = KEYS[7], events = KEYS[8], uses = KEYS[9], reserve = KEYS[10],
}

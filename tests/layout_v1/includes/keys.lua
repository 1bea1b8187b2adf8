-- keys: the pool's keys by name, in the order every script receives them

-- Every script receives the pool's keys in this fixed order (walletpool/keys.py):
--   1 conf (hash)   2 free (list)     3 state (hash)    4 lease (hash)   5 owner (hash)
--   6 expiry (zset) 7 cooling (zset)  8 seq (string)    9 events (stream) 10 uses (hash)
--  11 reserve (set: the wallets the database holds back, state 'reserve'; Redis never
--     hands them out, see reserve_take.lua / reserve_return.lua)
-- They all carry the pool as a hash tag, so a script touches one Cluster slot.
-- Nothing here sets a TTL: an expiring key would silently drop wallets.
local K = {
  conf = KEYS[1], free = KEYS[2], state = KEYS[3], lease = KEYS[4], owner = KEYS[5],
  expiry = KEYS[6], cooling = KEYS[7], seq = KEYS[8], events = KEYS[9], uses = KEYS[10],
  reserve = KEYS[11],
}

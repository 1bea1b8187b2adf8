-- keys: the pool's keys by name, in the order every script receives them

-- Every script receives the pool's keys in this fixed order (walletpool/keys.py):
--   1 conf (hash: settings, the layout version, counters)   2 free (list: the free queue)
--   3 known (hash: address -> '1', or 'retired'; every address ever added)
--   4 leases (hash: address -> the lease packed, and '>' .. owner -> address)
--   5 expiry (zset: leased addresses by deadline)   6 cooling (zset: by lease end)
--   7 seq (string: the fencing counter)   8 events (stream)   9 uses (hash, while max_uses is set)
--  10 reserve (set: the wallets the database holds back; Redis never hands them out,
--     see reserve_take.lua / reserve_return.lua)
--  11 waiters (zset: owners waiting for a wallet, by priority then arrival)
--  12 tickets (hash: owner -> its ticket, while it waits or until it collects the
--     wallet handed to it; see includes/waiters.lua)
-- A wallet's state is where it stands: in free, leases, cooling or reserve, or 'retired'
-- in known; nothing else records it, so a change of state writes no state field.
-- They all carry the pool as a hash tag, so a script touches one Cluster slot.
-- Nothing here sets a TTL: an expiring key would silently drop wallets.
-- bind_keys() runs once per call: at the top of an EVALSHA, and at the start of each
-- FCALL of the Functions library, where this file is loaded once for every call.
local K = {}

local function bind_keys()
  K.conf, K.free, K.known, K.leases, K.expiry = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
  K.cooling, K.seq, K.events, K.uses, K.reserve = KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10]
  K.waiters, K.tickets = KEYS[11], KEYS[12]
end

bind_keys()

-- emit: append one state change to the stream, in the script that makes it (invariant 7)
--- @include "fmt"
--- @include "keys"

-- `lease` (or nil) gives owner, token, deadline and ids; `uses` is the wallet's lease
-- count after an allocation. Values are absolute, not deltas, so the syncer can apply
-- events in any order. The field set is fixed so that the stream packs densely.
-- Returns the entry's stream id.
local function emit(now, kind, address, state, lease, uses)
  lease = lease or {}
  return redis.call('XADD', K.events, '*', 'type', kind, 'address', address, 'state', state,
             'owner', lease.o or '', 'token', lease.t or '', 'leased', lease.l or '',
             'expires', lease.e or '',
             'at', fmt(now), 'cid', lease.c or '', 'uid', lease.u or '',
             'uses', uses and fmt(uses) or '')
end

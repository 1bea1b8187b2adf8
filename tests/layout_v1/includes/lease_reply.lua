-- lease_reply: the reply fields of a lease

local function lease_reply(address, lease)
  return {address, lease.t, lease.e, lease.l, lease.c, lease.u}
end

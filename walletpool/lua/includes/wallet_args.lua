-- wallet_args: wallets given with the state they are to have, checked (heal, repair)
--- @include "int_arg"
--- @include "valid_address"
--- @include "valid_id"

local WALLET_FIELDS = 10
local WALLET_STATES = {free = true, leased = true, cooling = true, retired = true,
                       reserve = true}
local MAX_MS = 1e15

-- ARGV[first..] in groups of WALLET_FIELDS: address state owner token leased_at_ms
-- expires_at_ms correlation_id user_id uses cooling_since_ms ('' where a field does not
-- apply). Returns the wallets as includes/place.lua takes them (with `uses`), or nil
-- and what is wrong with them.
local function wallet_args(first)
  if (#ARGV - first + 1) % WALLET_FIELDS ~= 0 then
    return nil, 'wallets come in groups of ' .. WALLET_FIELDS
  end
  local wallets = {}
  for i = first, #ARGV, WALLET_FIELDS do
    local w = {a = ARGV[i], state = ARGV[i + 1], uses = ARGV[i + 8], since = ARGV[i + 9]}
    local n = (i - first) / WALLET_FIELDS + 1
    if not valid_address(w.a) or not WALLET_STATES[w.state] then
      return nil, 'bad wallet or state at position ' .. n
    end
    if w.state == 'leased' then
      w.lease = {o = ARGV[i + 2], t = ARGV[i + 3], l = ARGV[i + 4], e = ARGV[i + 5],
                 c = ARGV[i + 6], u = ARGV[i + 7]}
      if not valid_id(w.lease.o, false) or not valid_id(w.lease.c, true)
          or not valid_id(w.lease.u, true) or int_arg(w.lease.t, 1, 2^53) == nil
          or int_arg(w.lease.l, 0, MAX_MS) == nil or int_arg(w.lease.e, 0, MAX_MS) == nil then
        return nil, 'bad lease at position ' .. n
      end
    end
    if w.state == 'cooling' and int_arg(w.since, 0, MAX_MS) == nil then
      return nil, 'bad cooling time at position ' .. n
    end
    if w.uses ~= '' and int_arg(w.uses, 0, 2^53) == nil then
      return nil, 'bad uses at position ' .. n
    end
    wallets[#wallets + 1] = w
  end
  return wallets, nil
end

-- valid_network: check a network name (walletpool/chains/networks.py)

local function valid_network(s)
  return type(s) == 'string' and #s <= 32 and s:match('^[a-z0-9][a-z0-9%-]*$') ~= nil
end

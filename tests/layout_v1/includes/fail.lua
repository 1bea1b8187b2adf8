-- fail: an error reply that the client turns into InvalidInput

local function fail(message)
  return redis.error_reply('walletpool: ' .. message)
end

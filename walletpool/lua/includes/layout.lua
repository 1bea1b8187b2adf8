-- layout: the key layout this code writes, and the refusal of a pool in an older one

-- Pools in layout 1 (walletpool 0.1.0) have no layout field; upgrade.lua converts them.
-- Every script that touches a pool refuses one in another layout before it writes.
local LAYOUT = 2

local function outdated(conf)
  return conf.exists and conf.layout ~= LAYOUT
end

-- The client turns this error into LayoutOutdated, naming the command.
local function layout_error(conf)
  return redis.error_reply('walletpool-layout: ' .. conf.layout)
end

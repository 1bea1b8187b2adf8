-- limits: bounds shared with walletpool/validation.py

local MAX_TTL_MS = 31536000000        -- one year

local MAX_ID_LEN = 128

local MAX_WAITERS = 1000000           -- orders one pool may keep waiting

-- A pool's stream while no syncer has attached to it (no consumer group): capped at the
-- pool's stream_cap entries (configure), by default DEFAULT_STREAM_CAP (includes/emit.lua)
local DEFAULT_STREAM_CAP = 1000
local MIN_STREAM_CAP = 100

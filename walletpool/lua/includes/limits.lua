-- limits: bounds shared with walletpool/validation.py

local MAX_TTL_MS = 31536000000        -- one year

local MAX_ID_LEN = 128

local MAX_WAITERS = 1000000           -- orders one pool may keep waiting

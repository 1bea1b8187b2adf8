"""walletpool: fair, atomic pools of cryptocurrency deposit wallets on Redis."""

import logging

from .aio import AsyncWalletPool
from .chains import register_network
from .client import WalletPool
from .engine.operations import KEEP
from .errors import (
    AddressTaken,
    BackendUnavailable,
    InvalidAddress,
    InvalidInput,
    InvalidPool,
    LeaseLost,
    PoolExhausted,
    PoolFull,
    PoolNotFound,
    WalletPoolError,
)
from .models import AddResult, ImportReport, Lease, LowWater, PoolStats, Rejected
from .settings import Settings

__all__ = [
    "KEEP",
    "AddResult",
    "AddressTaken",
    "AsyncWalletPool",
    "BackendUnavailable",
    "ImportReport",
    "InvalidAddress",
    "InvalidInput",
    "InvalidPool",
    "Lease",
    "LeaseLost",
    "LowWater",
    "PoolExhausted",
    "PoolFull",
    "PoolNotFound",
    "PoolStats",
    "Rejected",
    "Settings",
    "WalletPool",
    "WalletPoolError",
    "register_network",
]

# A library logs, the application decides where records go.
logging.getLogger("walletpool").addHandler(logging.NullHandler())

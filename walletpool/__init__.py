"""walletpool: fair, atomic pools of cryptocurrency deposit wallets on Redis."""

import logging

from ._core import KEEP
from .aio import AsyncWalletPool
from .errors import (
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
from .models import AddResult, Lease, PoolStats
from .pool import WalletPool
from .settings import Settings

__all__ = [
    "KEEP",
    "AddResult",
    "AsyncWalletPool",
    "BackendUnavailable",
    "InvalidAddress",
    "InvalidInput",
    "InvalidPool",
    "Lease",
    "LeaseLost",
    "PoolExhausted",
    "PoolFull",
    "PoolNotFound",
    "PoolStats",
    "Settings",
    "WalletPool",
    "WalletPoolError",
]

# A library logs, the application decides where records go.
logging.getLogger("walletpool").addHandler(logging.NullHandler())

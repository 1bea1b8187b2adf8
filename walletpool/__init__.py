"""walletpool: fair, atomic pools of cryptocurrency deposit wallets on Redis."""

import logging
from importlib.metadata import PackageNotFoundError, version

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
    LayoutOutdated,
    LeaseLost,
    LostReason,
    NotReplicated,
    PoolExhausted,
    PoolFenced,
    PoolFull,
    PoolNotFound,
    QueueFull,
    WaitTimeout,
    WalletNotFound,
    WalletPoolError,
)
from .models import (
    AddResult,
    EventType,
    ImportReport,
    Lease,
    LowWater,
    Mode,
    PoolStats,
    Priority,
    Rejected,
    ReleasedTo,
    WalletState,
)
from .settings import Settings, SettingsKeywords

__all__ = [
    "KEEP",
    "AddResult",
    "AddressTaken",
    "AsyncWalletPool",
    "BackendUnavailable",
    "EventType",
    "ImportReport",
    "InvalidAddress",
    "InvalidInput",
    "InvalidPool",
    "LayoutOutdated",
    "Lease",
    "LeaseLost",
    "LostReason",
    "LowWater",
    "Mode",
    "NotReplicated",
    "PoolExhausted",
    "PoolFenced",
    "PoolFull",
    "PoolNotFound",
    "PoolStats",
    "Priority",
    "QueueFull",
    "Rejected",
    "ReleasedTo",
    "Settings",
    "SettingsKeywords",
    "WaitTimeout",
    "WalletNotFound",
    "WalletPool",
    "WalletPoolError",
    "WalletState",
    "register_network",
]

try:
    __version__ = version("walletpool")
except PackageNotFoundError:  # a source tree on PYTHONPATH, not installed
    __version__ = "0+unknown"

# A library logs, the application decides where records go.
logging.getLogger("walletpool").addHandler(logging.NullHandler())

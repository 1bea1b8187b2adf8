"""One error hierarchy: every refusal says which pool and identifiers it concerns and what to do."""

from __future__ import annotations


class WalletPoolError(Exception):
    """Base of every error walletpool raises."""


class InvalidInput(WalletPoolError, ValueError):
    """An argument is malformed or out of range; nothing was written."""


class InvalidPool(InvalidInput):
    """A pool name does not follow `[A-Z0-9]{2,12}` with an optional `-[A-Z0-9]{2,12}` suffix."""


class PoolNotFound(InvalidPool):
    """The pool was never configured and holds no wallets."""


class InvalidAddress(InvalidInput):
    """An address is not acceptable for the pool."""


class AddressTaken(InvalidAddress):
    """The address already belongs to another pool of the same chain family (an ETH
    address cannot also serve USDT-ERC20); nothing was added."""

    def __init__(self, message: str, *, pool: str, address: str, other_pool: str,
                 family: str) -> None:
        super().__init__(message)
        self.pool = pool
        self.address = address
        self.other_pool = other_pool
        self.family = family


class PoolExhausted(WalletPoolError):
    """The pool has no free wallet to hand out."""

    def __init__(self, message: str, *, pool: str, free: int, leased: int, cooling: int) -> None:
        super().__init__(message)
        self.pool = pool
        self.free = free
        self.leased = leased
        self.cooling = cooling


class LeaseLost(WalletPoolError):
    """The lease is no longer held: it expired, was reclaimed or retired, or the token is stale."""

    def __init__(self, message: str, *, pool: str, address: str, owner: str, token: int,
                 reason: str) -> None:
        super().__init__(message)
        self.pool = pool
        self.address = address
        self.owner = owner
        self.token = token
        self.reason = reason


class PoolFull(WalletPoolError):
    """Adding the wallets would take the pool over its max_size; nothing was added."""

    def __init__(self, message: str, *, pool: str, in_service: int, max_size: int,
                 would_add: int) -> None:
        super().__init__(message)
        self.pool = pool
        self.in_service = in_service
        self.max_size = max_size
        self.would_add = would_add


class BackendUnavailable(WalletPoolError):
    """Redis could not be reached or answered that it cannot serve (loading, read-only)."""

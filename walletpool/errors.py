"""One error hierarchy: every refusal says which pool and identifiers it concerns and what to do."""

from __future__ import annotations

from typing import Literal

LostReason = Literal["expired", "stale", "none"]
"""Why a lease is lost: it ran out (`expired`), the wallet is held under another token
or owner (`stale`), or the wallet is not leased at all (`none`)."""

_LOST = {
    "expired": "it expired{at} and was reclaimed; the wallet may already serve another order",
    "stale": "the wallet is leased under another token or owner",
    "none": "the wallet is not leased (already released, reclaimed, returned or retired)",
}


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


class WaitTimeout(PoolExhausted):
    """The order waited for a wallet (allocate with `wait`) and none was handed to it in
    time. `waited` is how long it waited, in seconds."""

    def __init__(self, message: str, *, pool: str, free: int, leased: int, cooling: int,
                 waited: float) -> None:
        super().__init__(message, pool=pool, free=free, leased=leased, cooling=cooling)
        self.waited = waited


class QueueFull(PoolExhausted):
    """The pool has no free wallet and already has `max_waiters` orders waiting."""

    def __init__(self, message: str, *, pool: str, free: int, leased: int, cooling: int,
                 waiting: int, max_waiters: int) -> None:
        super().__init__(message, pool=pool, free=free, leased=leased, cooling=cooling)
        self.waiting = waiting
        self.max_waiters = max_waiters


class LeaseLost(WalletPoolError):
    """The lease is no longer held: it expired, was reclaimed or retired, or the token is stale."""

    def __init__(self, message: str, *, pool: str, address: str, owner: str, token: int,
                 reason: LostReason) -> None:
        super().__init__(message)
        self.pool = pool
        self.address = address
        self.owner = owner
        self.token = token
        self.reason: LostReason = reason

    @classmethod
    def of(cls, *, pool: str, address: str, owner: str, token: int, reason: LostReason,
           expired_at: str | None = None, why: str | None = None) -> LeaseLost:
        """The one way walletpool words a lost lease: which lease, and why. `expired_at`
        (already formatted) is when it ran out; `why` replaces the reason's usual text."""
        at = f" at {expired_at}" if expired_at else ""
        held = f"lease of {address}" if address else "lease"
        tokened = f" (token {token})" if token else ""
        return cls(f"{held} in pool {pool} for owner {owner}{tokened} is lost: "
                   f"{why or _LOST[reason].format(at=at)}",
                   pool=pool, address=address, owner=owner, token=token, reason=reason)


class WalletNotFound(WalletPoolError):
    """The pool has no such wallet (checked in the form the pool stores, after the
    network's canonicalisation): nothing was changed."""

    def __init__(self, message: str, *, pool: str, address: str) -> None:
        super().__init__(message)
        self.pool = pool
        self.address = address


class PoolFull(WalletPoolError):
    """Adding the wallets would take the pool over its max_size; nothing was added."""

    def __init__(self, message: str, *, pool: str, in_service: int, max_size: int,
                 would_add: int) -> None:
        super().__init__(message)
        self.pool = pool
        self.in_service = in_service
        self.max_size = max_size
        self.would_add = would_add


class LayoutOutdated(WalletPoolError):
    """The pool's Redis keys are in an older layout (layout 1, the one walletpool 0.1.0
    wrote): run `walletpool upgrade POOL` (or `WalletPool.upgrade`) first. Raised before
    anything is written."""

    def __init__(self, message: str, *, pool: str, command: str, layout: int) -> None:
        super().__init__(message)
        self.pool = pool
        self.command = command
        self.layout = layout

    @classmethod
    def of(cls, pool: str, command: str, layout: int) -> LayoutOutdated:
        return cls(f"pool {pool} is stored in layout {layout}, older than the one this "
                   f"walletpool writes: {command} refused it and wrote nothing. Run "
                   f"`walletpool upgrade {pool}` once (or WalletPool.upgrade), then retry",
                   pool=pool, command=command, layout=layout)

    def during(self, command: str) -> LayoutOutdated:
        """The same refusal, named for the public operation whose step met it."""
        return LayoutOutdated.of(self.pool, command, self.layout)


class BackendUnavailable(WalletPoolError):
    """Redis could not be reached or answered that it cannot serve (loading, read-only)."""


class PoolFenced(BackendUnavailable):
    """The pool's Redis is not the process the database last vouched for (a replica
    promoted after it missed writes, a restart that lost some): every change is refused
    until the pool is healed from the database. A client with a database heals it and
    retries by itself; so does the syncer within its loop (`walletpool heal` by hand)."""

    def __init__(self, message: str, *, pool: str) -> None:
        super().__init__(message)
        self.pool = pool

    @classmethod
    def of(cls, pool: str, command: str) -> PoolFenced:
        return cls(f"pool {pool} is fenced: its Redis may have lost writes that the database "
                   f"has (a failover or restart), so {command} changed nothing. The syncer "
                   f"heals it within its loop, or run `walletpool heal {pool}`; then retry",
                   pool=pool)

    @staticmethod
    def advice(pool: str) -> str:
        """What an operator reads of a fenced pool (stats, pools, doctor)."""
        return (f"{pool} is FENCED: Redis restarted or failed over and may have lost writes "
                "the database holds, so every change is refused (PoolFenced) until the pool "
                "is healed from the database: start `walletpool sync` (it heals at once) or "
                f"run `walletpool heal {pool}`")


class NotReplicated(BackendUnavailable):
    """The write reached the primary, but not the replicas it was to wait for
    (`replicas`, `replica_timeout`): a failover now could lose it. A lease the call made
    was given back, so the call is safe to retry."""

    def __init__(self, message: str, *, pool: str, operation: str, wanted: int,
                 acknowledged: int) -> None:
        super().__init__(message)
        self.pool = pool
        self.operation = operation
        self.wanted = wanted
        self.acknowledged = acknowledged

    @classmethod
    def of(cls, *, pool: str, operation: str, wanted: int, acknowledged: int,
           timeout: float, undone: bool) -> NotReplicated:
        after = (" What it made (a lease, or an order's place in line) was given back; the "
                 "call is safe to retry." if undone
                 else " The call is safe to retry.")
        return cls(f"the {operation} on pool {pool} reached {acknowledged} of the {wanted} "
                   f"replicas it waits for within {timeout:g} s, so a failover could lose it."
                   f"{after}", pool=pool, operation=operation, wanted=wanted,
                   acknowledged=acknowledged)

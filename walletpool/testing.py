"""Helpers for testing code that uses walletpool: valid addresses nobody holds keys for
(`sample_addresses`), and a pool's clock, frozen or moved ahead, so that lease expiry and
cooldowns can be tested without sleeping.

The clock is a setting of the pool in Redis that every script reads; a pool in
production never has it. Use these on test pools only:

    from walletpool.testing import freeze_clock, shift_clock
    freeze_clock(pool, "BTC", at=1_800_000_000)   # the pool's time stands still
    shift_clock(pool, "BTC", 61)                  # ... and jumps 61 s ahead

With an AsyncWalletPool each returns an awaitable: `await freeze_clock(apool, ...)`.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import overload

from .aio import AsyncWalletPool
from .chains.samples import sample_addresses
from .client import WalletPool
from .engine.calls import Call

__all__ = ["freeze_clock", "sample_addresses", "shift_clock"]


@overload
def freeze_clock(client: WalletPool, pool: str, at: float) -> None: ...
@overload
def freeze_clock(client: AsyncWalletPool, pool: str, at: float) -> Awaitable[None]: ...


def freeze_clock(client: WalletPool | AsyncWalletPool, pool: str,
                 at: float) -> Awaitable[None] | None:
    """Stop `pool`'s clock at epoch seconds `at` (0: Redis TIME again). The offset of
    shift_clock starts again from 0."""
    return _run(client, client._ops.freeze_clock(pool, at))


@overload
def shift_clock(client: WalletPool, pool: str, offset: float) -> None: ...
@overload
def shift_clock(client: AsyncWalletPool, pool: str, offset: float) -> Awaitable[None]: ...


def shift_clock(client: WalletPool | AsyncWalletPool, pool: str,
                offset: float) -> Awaitable[None] | None:
    """Run `pool`'s clock `offset` seconds ahead of Redis's (or of the frozen time)."""
    return _run(client, client._ops.shift_clock(pool, offset))


def _run(client: WalletPool | AsyncWalletPool, call: Call[bool]) -> Awaitable[None] | None:
    if isinstance(client, AsyncWalletPool):
        return _settled(client._do(call))
    client._do(call)
    return None


async def _settled(done: Awaitable[bool]) -> None:
    await done

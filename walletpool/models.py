"""Typed results of pool operations."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Lease:
    """A wallet held by an owner. `token` is the fencing token: release and extend
    accept the lease only while it is the wallet's current one."""

    pool: str
    address: str
    owner: str
    token: int
    expires_at: float
    """Epoch seconds (Redis clock) when the lease runs out."""
    leased_at: float
    correlation_id: str | None = None
    user_id: str | None = None
    fresh: bool = True
    """False when allocate returned a lease the owner already held (an idempotent retry)."""


@dataclass(frozen=True)
class AddResult:
    added: int
    duplicates: int
    """Addresses the pool already knew (in any state, retired included) or that repeated."""


@dataclass(frozen=True)
class PoolStats:
    pool: str
    free: int
    leased: int
    cooling: int
    retired: int
    total: int
    """Every address the pool knows, retired included."""
    last_token: int
    """The highest fencing token issued so far."""
    events: int
    """Entries in the pool's event stream (not yet trimmed)."""
    expired_unreaped: int
    """Leases past their deadline that no allocate or reap has settled yet."""
    cooled_ready: int
    """Cooling wallets whose cooldown is over, waiting for the next allocate or reap."""
    lease_ttl: float
    cooldown: float
    max_size: int
    max_uses: int | None
    server_time: float

    @property
    def in_service(self) -> int:
        return self.free + self.leased + self.cooling

"""Typed results of pool operations, and the vocabulary they speak in (docs/design.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Literal

WalletState = Literal["free", "leased", "cooling", "retired", "reserve"]
"""Where a wallet is. `reserve`: held back by the database for a Redis outage."""
ReleasedTo = Literal["free", "cooling", "retired", "reserve", "queued"]
"""What `release` made of a wallet: back in the free queue, cooling, retired (worn out),
back in the database's reserve, or `queued`: Redis was down and the release waits in the
database until it is back."""
EventType = Literal["added", "allocated", "extended", "released", "expired", "cooled",
                    "retired", "reserved", "unreserved", "configured", "fenced", "healed",
                    "repaired", "queued", "handed", "abandoned", "present"]
"""The kinds of entry in a pool's event stream (and the database's events table)."""
Mode = Literal["redis", "fallback"]
Priority = Literal["normal", "high"]
"""An order's place among the waiters: "high" orders are handed wallets first."""
"""Where a client allocates now: Redis, or the database's reserve ('fallback')."""

# Fencing tokens of leases from the database's reserve start here, so they never collide
# with Redis's (its counter would need 4.5e15 leases to get here) and stay exact in
# Lua's doubles.
RESERVE_TOKEN_BASE = 2**52


@dataclass(frozen=True, kw_only=True)
class Lease:
    """A wallet held by an owner. `token` is the fencing token: release and extend
    accept the lease only while it is the wallet's current one. A lease from the
    database's reserve (taken while Redis was down) has a token of its own range,
    RESERVE_TOKEN_BASE and up (`from_reserve`)."""

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
    tag: str | None = None
    """The memo/destination tag in a tag pool (XRP, XLM, TON): deposits to `address`
    must carry it. None in other pools."""
    waited: float = field(default=0.0, compare=False)
    """Seconds the order waited in line for this wallet (allocate with `wait`); 0 when
    one was free at once. Not part of the lease's identity: two views of one lease are
    equal whoever waited."""

    @property
    def from_reserve(self) -> bool:
        """True for a lease the database's reserve issued (see walletpool.reserve.lane)."""
        return self.token >= RESERVE_TOKEN_BASE

    @property
    def wallet(self) -> str:
        """The wallet as the pool stores it: the address, or `address#tag` in a tag pool."""
        return self.address if self.tag is None else f"{self.address}#{self.tag}"


@dataclass(frozen=True)
class AddResult:
    added: int
    duplicates: int
    """Addresses the pool already knew (in any state, retired included) or that repeated."""


@dataclass(frozen=True, kw_only=True)
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
    network: str = "plain"
    """How the pool's addresses are checked (walletpool.chains)."""
    min_free: int = 0
    """Low-water mark: an allocation that leaves fewer free wallets raises an alert."""
    low_water_alerts: int = 0
    """Allocations that left fewer than min_free wallets free, since the pool was made."""
    exhaustions: int = 0
    """Allocations refused with PoolExhausted, since the pool was made."""
    reserve: int = 0
    """Wallets the database holds back for a Redis outage (free or leased there)."""
    reserve_target: int | None = None
    """The reserve's configured size; None: the default, min_free."""
    mode: Mode = "redis"
    """Where this client allocates now: 'redis', or 'fallback' (the database's reserve,
    while Redis is unreachable; these figures then come from the database)."""
    fallback_switches: int = 0
    """Switches between the two modes this client has made (each logged at WARNING)."""
    waiting: int = 0
    """Orders waiting for a wallet now (allocate with `wait`)."""
    oldest_wait: float = 0.0
    """How long the order waiting longest has waited, in seconds (0 when none waits)."""
    max_waiters: int = 100
    """How many orders may wait at once; one more is refused with QueueFull."""
    max_wait: float = 300.0
    """The longest an order waits, in seconds; a longer `wait` is capped to it."""
    fenced: bool = False
    """The pool refuses every change (PoolFenced) until it is healed from the database:
    Redis restarted or failed over and may have lost writes the database holds. A
    running syncer heals it within a second; else `walletpool heal`."""

    @property
    def in_service(self) -> int:
        return self.free + self.leased + self.cooling + self.reserve


@dataclass(frozen=True)
class LowWater:
    """What the low-water hook receives: `pool` has `free` free wallets after an
    allocation, fewer than its `min_free`."""

    pool: str
    free: int
    min_free: int


@dataclass(frozen=True)
class Rejected:
    """One input line an import refused, and why."""

    line: int
    text: str
    reason: str


@dataclass(frozen=True)
class ImportReport:
    pool: str
    network: str
    read: int
    """Wallet lines read (blank lines, comments and a header excluded)."""
    added: int
    """Wallets written (or, in a dry run, that would be)."""
    duplicates: int
    """Lines naming a wallet the pool already knows or an earlier line named."""
    rejected: list[Rejected]
    dry_run: bool = False


def utc(epoch_seconds: float) -> str:
    """A time as people read it in a message: '2026-12-01 16:58:12.345 UTC'."""
    moment = datetime.fromtimestamp(epoch_seconds, tz=timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d} UTC"

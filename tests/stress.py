"""The stress workload and its analysis, shared by the process and asyncio tests.

Each worker logs every holding as (address, owner, token, start, end) on the machine's
monotonic clock, which all processes share. `start` is taken after allocate returned.
`end` is the earlier of: just before release was sent, and the send time of the last
allocate or extend plus its TTL less 1 ms (Redis stamps a lease in whole milliseconds,
rounded down, so its deadline can come up to 1 ms before send + TTL). So each logged
interval lies inside the time the lease really held the wallet. If the pool never
gives one wallet to two holders at once, the logged intervals of one address cannot
overlap. A found overlap is a real
double allocation, never an artefact of timing.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from walletpool import AsyncWalletPool, LeaseLost, PoolExhausted, WalletPool

TTL = 0.03          # seconds; short, so abandoned leases expire during the run
ABANDON = 0.02      # share of holdings left to expire, then released late
EXTEND = 0.2        # share of holdings extended once
CLOCK_STEP = 0.001  # Redis's lease clock counts whole ms


@dataclass(frozen=True)
class Holding:
    address: str
    owner: str
    token: int
    start: float
    end: float


@dataclass
class Tally:
    holdings: list[Holding] = field(default_factory=list)
    exhausted: int = 0
    late_release_refused: int = 0
    lost: int = 0
    operations: int = 0

    def merge(self, other: Tally) -> None:
        self.holdings += other.holdings
        self.exhausted += other.exhausted
        self.late_release_refused += other.late_release_refused
        self.lost += other.lost
        self.operations += other.operations

    def refused(self, answered: float, valid_until: float, abandoned: bool = False) -> None:
        """Count a release refused with LeaseLost: rightly when the lease was abandoned or
        the refusal came back after the deadline (Redis may have run the release after
        it: on a busy machine an asyncio task's command can reach Redis well after the
        task called release), else a lost lease: a bug. `answered` is when the refusal
        came back, the latest moment Redis can have decided."""
        if abandoned or answered >= valid_until:
            self.late_release_refused += 1
        else:
            self.lost += 1


def make_pool(kind: str, url: str, pool: str) -> Any:
    if kind == "walletpool":
        return WalletPool.from_url(url)
    from tests.naive import NaivePool

    return NaivePool(url, pool)


def worker(kind: str, url: str, pool_name: str, worker_id: int, cycles: int, seed: int) -> Tally:
    """One process's share of the workload."""
    rng = random.Random(seed)
    pool = make_pool(kind, url, pool_name)
    tally = Tally()
    for i in range(cycles):
        owner = f"w{worker_id}-{i}"
        sent = time.monotonic()
        try:
            lease = (pool.allocate(pool_name, owner, ttl=TTL) if kind == "walletpool"
                     else pool.allocate(owner, TTL))
        except PoolExhausted:
            tally.exhausted += 1
            tally.operations += 1
            time.sleep(0.001)
            continue
        start = time.monotonic()
        valid_until = sent + TTL - CLOCK_STEP
        tally.operations += 1
        abandon = rng.random() < ABANDON
        if abandon:
            time.sleep(TTL * 1.5)
        else:
            time.sleep(rng.uniform(0, 0.001))
            if rng.random() < EXTEND:
                sent = time.monotonic()
                try:
                    lease = pool.extend(lease, TTL)
                    valid_until = sent + TTL - CLOCK_STEP
                except LeaseLost:
                    tally.lost += 1
                tally.operations += 1
                time.sleep(rng.uniform(0, 0.001))
        released = time.monotonic()
        try:
            pool.release(lease)
        except LeaseLost:
            tally.refused(time.monotonic(), valid_until, abandoned=abandon)
        tally.operations += 1
        tally.holdings.append(Holding(lease.address, owner, lease.token, start,
                                      min(released, valid_until)))
    pool.close()
    return tally


STOP_KEY = "stress:stop"


def reaper(kind: str, url: str, pool_name: str) -> int:
    """Reap every 5 ms until the test sets STOP_KEY."""
    import redis

    pool = make_pool(kind, url, pool_name)
    control = redis.Redis.from_url(url)
    reaped = 0
    while not control.exists(STOP_KEY):
        reaped += pool.reap(pool_name) if kind == "walletpool" else pool.reap()
        time.sleep(0.005)
    pool.close()
    control.close()
    return reaped


async def async_worker(pool: AsyncWalletPool, pool_name: str, worker_id: int, cycles: int,
                       seed: int) -> Tally:
    rng = random.Random(seed)
    tally = Tally()
    for i in range(cycles):
        owner = f"t{worker_id}-{i}"
        sent = time.monotonic()
        try:
            lease = await pool.allocate(pool_name, owner, ttl=TTL * 10)
        except PoolExhausted:
            tally.exhausted += 1
            tally.operations += 1
            await asyncio.sleep(0.001)
            continue
        start = time.monotonic()
        valid_until = sent + TTL * 10 - CLOCK_STEP
        tally.operations += 1
        await asyncio.sleep(rng.uniform(0, 0.002))
        released = time.monotonic()
        try:
            await pool.release(lease)
        except LeaseLost:
            tally.refused(time.monotonic(), valid_until)
        tally.operations += 1
        tally.holdings.append(Holding(lease.address, owner, lease.token, start,
                                      min(released, valid_until)))
    return tally


def by_address(holdings: list[Holding]) -> list[list[Holding]]:
    """The holdings of each address, in the order they started."""
    groups: dict[str, list[Holding]] = defaultdict(list)
    for h in holdings:
        groups[h.address].append(h)
    return [sorted(held, key=lambda h: h.start) for held in groups.values()]


def overlaps(holdings: list[Holding]) -> list[tuple[Holding, Holding]]:
    """Pairs of holdings of one address whose intervals overlap."""
    found = []
    for held in by_address(holdings):
        latest = held[0]
        for h in held[1:]:
            if h.start < latest.end:
                found.append((latest, h))
            if h.end > latest.end:
                latest = h
    return found


def token_order_breaks(holdings: list[Holding]) -> list[tuple[Holding, Holding]]:
    """Holdings of one address whose tokens do not grow with time (invariant 4)."""
    return [(a, b) for held in by_address(holdings) for a, b in itertools.pairwise(held)
            if b.token <= a.token]

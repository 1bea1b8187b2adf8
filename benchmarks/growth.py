"""How cost grows: cycles/s with 1k, 100k and 1M wallets in the pool, Redis memory per
free wallet, and the time to reap 10k expired leases."""

from __future__ import annotations

import time
from collections.abc import Callable

import redis

from walletpool import WalletPool
from walletpool.keys import key
from walletpool.testing import shift_clock

from .measure import Row, measure
from .walletpool_rows import sequential

CHUNK = 20_000


def addresses(prefix: str, count: int) -> list[str]:
    """Distinct 42-character addresses, the length of a bc1q segwit address (the pools
    use the plain network, so generating a million checksummed ones is not timed here)."""
    return [f"{prefix}{i:0{42 - len(prefix)}d}" for i in range(count)]


def fill(pool: WalletPool, name: str, wallets: list[str],
         progress: Callable[[str], None]) -> None:
    pool.configure(name, lease_ttl=600, cooldown=0, max_size=len(wallets), min_free=0,
                   network="plain")
    for i in range(0, len(wallets), CHUNK):
        pool.add(name, wallets[i:i + CHUNK])
        if i and i % 200_000 == 0:
            progress(f"{name}: {i:,} of {len(wallets):,} added")


def sizes(pool: WalletPool, client: redis.Redis, counts: list[int], rounds: int, cycles: int,
          progress: Callable[[str], None]) -> tuple[list[Row], float, float]:
    """A sequential row per pool size, and the bytes of Redis memory per free wallet
    measured on the largest (used_memory before and after it was filled): once with
    each wallet's 'added' event still in the stream, and once the stream is trimmed,
    as the syncer does once the events are in the database (the steady state)."""
    rows = []
    per_wallet = per_wallet_unsynced = 0.0
    for count in counts:
        name = f"SIZE{count}"
        before = int(client.info("memory")["used_memory"])
        fill(pool, name, addresses(f"s{count}x", count), progress)
        after = int(client.info("memory")["used_memory"])
        if count == max(counts):
            per_wallet_unsynced = (after - before) / count
            client.xtrim(key("wp", name, "events"), maxlen=0, approximate=False)
            per_wallet = (int(client.info("memory")["used_memory"]) - before) / count
        label = f"walletpool sequential, {count:,} wallets"
        progress(label)
        rows.append(measure("growth", label, rounds, cycles, sequential(pool, name)))
    return rows, per_wallet, per_wallet_unsynced


def reap_time(pool: WalletPool, expired: int) -> float:
    """Seconds `reap` takes to reclaim `expired` leases that are all past their deadline."""
    name = "REAPBENCH"
    fill(pool, name, addresses("reap", expired), lambda _: None)
    for i in range(0, expired, 1000):
        pool.allocate_many(name, [f"r{j}" for j in range(i, min(expired, i + 1000))], ttl=60)
    shift_clock(pool, name, 120)
    began = time.perf_counter()
    reclaimed = pool.reap(name)
    elapsed = time.perf_counter() - began
    if reclaimed != expired:
        raise RuntimeError(f"reap reclaimed {reclaimed} of {expired} expired leases")
    return elapsed

"""What `replicas` costs: sequential allocate + release cycles on a primary with one
replica attached, with replicas=0 and replicas=1 side by side (and fsync=True where
the server has WAITAOF), so the ratio is the price of waiting for the replica in the
same round trip, not of replication itself."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import redis

from walletpool import WalletPool
from walletpool.dev.redis_server import RedisServer, binary_features

from . import growth
from .measure import Row, measure
from .report import Results
from .walletpool_rows import sequential

ROWS = {0: "walletpool sequential, replica attached, replicas=0",
        1: "walletpool sequential, replica attached, replicas=1"}
FSYNC_ROW = "walletpool sequential, replica attached, replicas=1, fsync"


def rows(folder: Path, rounds: int, cycles: int, progress: Callable[[str], None]) -> list[Row]:
    primary = RedisServer(folder / "durable-primary").start()
    replica = RedisServer(folder / "durable-replica",
                          extra_args=["--replicaof", "127.0.0.1", str(primary.port)]).start()
    out: list[Row] = []
    try:
        with redis.Redis(port=primary.port) as client:
            while client.execute_command("WAIT", 1, 1000) < 1:
                pass  # the replica is in sync
        settings = [(ROWS[0], {"replicas": 0}), (ROWS[1], {"replicas": 1})]
        if binary_features(primary.binary)["waitaof"]:
            settings.append((FSYNC_ROW, {"replicas": 1, "fsync": True}))
        for name, options in settings:
            with WalletPool.from_url(primary.url, **options) as pool:  # type: ignore[arg-type]
                pool.configure("DUR", lease_ttl=600, cooldown=0, max_size=100_000)
                if pool.stats("DUR").total == 0:
                    pool.add("DUR", growth.addresses("dur", 10_000))
                progress(name)
                out.append(measure("walletpool", name, rounds, cycles, sequential(pool, "DUR")))
    finally:
        replica.stop()
        primary.stop()
    return out


def cost(r: Results) -> str:
    """The note of the run: what replicas=1 (and fsync) cost per cycle."""
    base = r.rate(ROWS[0])
    parts = [f"replicas=1 runs at {r.rate(ROWS[1]) / base:.2f}x the cycles/s of replicas=0 "
             f"({(1 / r.rate(ROWS[1]) - 1 / base) * 1e6:,.0f} µs more per cycle)"]
    if r.has(FSYNC_ROW):
        parts.append(f"with fsync {r.rate(FSYNC_ROW) / base:.2f}x")
    return "Durable writes, one replica on loopback: " + "; ".join(parts) + "."

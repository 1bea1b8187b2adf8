"""The syncer's figures: events/s into a local PostgreSQL with the default batch size,
and the lag it keeps while the pool runs a steady allocate+release load.

    python -m benchmarks.syncer [--events N] [--cycles-per-s R] [--seconds S]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

import redis

from walletpool import WalletPool
from walletpool.dev.postgres_server import PostgresServer
from walletpool.dev.redis_server import RedisServer, binary_version
from walletpool.store.migrations import upgrade
from walletpool.syncer import Syncer, lag

from .measure import machine_line

BATCH = 50


def fill(pool: WalletPool, name: str, events: int) -> int:
    made = 0
    owners = [f"o{i}" for i in range(BATCH)]
    while made < events:
        pool.release_many(pool.allocate_many(name, owners))
        made += 2 * BATCH
    return made


def throughput(pool: WalletPool, engine, events: int, rounds: int,  # type: ignore[no-untyped-def]
               batch_size: int) -> list[float]:
    rates = []
    for r in range(rounds):
        made = fill(pool, "BENCH", events)
        syncer = Syncer(pool.redis, engine, consumer=f"bench-{r}", batch_size=batch_size)
        started = time.perf_counter()
        done = 0
        while done < made:
            done += syncer.run_once()
        rates.append(done / (time.perf_counter() - started))
    return rates


def lag_under_load(pool: WalletPool, engine, cycles_per_s: int, seconds: float  # type: ignore[no-untyped-def]
                   ) -> tuple[float, list[float], list[int]]:
    syncer = Syncer(pool.redis, engine, consumer="bench-live", block=0.01, report_every=3600)
    thread = threading.Thread(target=syncer.run)
    thread.start()
    time.sleep(1.0)  # steady state: the syncer is connected and has run its first rounds
    owners = [f"live{i}" for i in range(BATCH)]
    ages: list[float] = []
    backlog: list[int] = []
    started = time.perf_counter()
    done = 0
    next_sample = started
    while (now := time.perf_counter()) - started < seconds:
        if done < (now - started) * cycles_per_s:
            pool.release_many(pool.allocate_many("BENCH", owners))
            done += BATCH
        else:
            time.sleep(0.001)
        if now >= next_sample:
            current = lag(pool.redis, "wp", "BENCH")
            ages.append(current.oldest_age)
            backlog.append(current.unsynced)
            next_sample = now + 0.1
    achieved = done / (time.perf_counter() - started)
    syncer.stop()
    thread.join()
    return achieved, ages, backlog


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cycles-per-s", type=int, default=5_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, RedisServer(Path(folder) / "redis") as server, \
            PostgresServer(Path(folder) / "pg", fsync=True) as postgres:
        engine = __import__("walletpool.store.engine", fromlist=["create_engine"]) \
            .create_engine(postgres.url)
        upgrade(engine)
        pool = WalletPool.from_url(server.url)
        pool.configure("BENCH", lease_ttl=600, max_size=10_000)
        pool.add("BENCH", [f"bench{i:05d}" for i in range(5_000)])
        print(machine_line(binary_version(server.binary)) + f", PostgreSQL from {postgres.bin_dir}")
        for size in (1000, 2000):
            rates = throughput(pool, engine, args.events, args.rounds, size)
            median = statistics.median(rates)
            print(f"syncer throughput, batch {size}: median {median:,.0f} events/s over"
                  f" {args.rounds} rounds of {args.events:,} events "
                  f"({', '.join(f'{r:,.0f}' for r in rates)})")
        achieved, ages, backlog = lag_under_load(pool, engine, args.cycles_per_s, args.seconds)
        ages.sort()
        print(f"lag under {achieved:,.0f} allocate+release cycles/s ({2 * achieved:,.0f} "
              f"events/s) for {args.seconds:g} s: oldest unsynced event median "
              f"{statistics.median(ages) * 1000:.0f} ms, "
              f"p99 {ages[int(len(ages) * 0.99)] * 1000:.0f} ms, max {ages[-1] * 1000:.0f} ms; "
              f"backlog max {max(backlog):,} events")
        pool.close()
        engine.dispose()
        redis.Redis(port=server.port).close()


if __name__ == "__main__":
    main()

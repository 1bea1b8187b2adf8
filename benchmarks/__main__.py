"""Allocate+release cycles per second, side by side in one run against one throwaway
Redis: walletpool sequential, batched and pipelined, and the floor every Redis client
pays, a no-op EVALSHA, so the ratio shows what walletpool's own Python costs.

    python -m benchmarks [--cycles N] [--rounds R] [--json FILE]

Each row is the median of R rounds; the machine and versions are printed above it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import redis

from walletpool import WalletPool
from walletpool.server import RedisServer, binary_version

POOL_SIZE = 1_000
BATCH = 100


@dataclass
class Row:
    name: str
    cycles_per_s: float
    p50_us: float | None
    p99_us: float | None
    ratio: str = ""


def timed_rounds(rounds: int, cycles: int, one_round: Callable[[int, list[float]], None]
                 ) -> tuple[float, float | None, float | None]:
    """Median cycles/s over rounds, and p50/p99 of the per-cycle latencies seen."""
    rates, latencies = [], []
    for _ in range(rounds):
        started = time.perf_counter()
        one_round(cycles, latencies)
        rates.append(cycles / (time.perf_counter() - started))
    if not latencies:
        return statistics.median(rates), None, None
    latencies.sort()
    return (statistics.median(rates), latencies[len(latencies) // 2] * 1e6,
            latencies[int(len(latencies) * 0.99)] * 1e6)


def noop_evalsha(client: redis.Redis) -> Callable[[int, list[float]], None]:
    sha = client.script_load("return 1")

    def one_round(cycles: int, latencies: list[float]) -> None:
        for _ in range(cycles):  # two round trips a cycle, like allocate + release
            t = time.perf_counter()
            client.evalsha(sha, 0)
            client.evalsha(sha, 0)
            latencies.append(time.perf_counter() - t)

    return one_round


def sequential(pool: WalletPool) -> Callable[[int, list[float]], None]:
    def one_round(cycles: int, latencies: list[float]) -> None:
        for i in range(cycles):
            t = time.perf_counter()
            pool.release(pool.allocate("COIN", f"order-{i}"))
            latencies.append(time.perf_counter() - t)

    return one_round


def batched(pool: WalletPool) -> Callable[[int, list[float]], None]:
    owners = [f"order-{i}" for i in range(BATCH)]

    def one_round(cycles: int, latencies: list[float]) -> None:
        for _ in range(cycles // BATCH):
            pool.release_many(pool.allocate_many("COIN", owners))

    return one_round


def pipelined(pool: WalletPool) -> Callable[[int, list[float]], None]:
    def one_round(cycles: int, latencies: list[float]) -> None:
        for _ in range(cycles // BATCH):
            pipe = pool.pipeline()
            for i in range(BATCH):
                pipe.allocate("COIN", f"order-{i}")
            leases = pipe.execute()
            for lease in leases:
                pipe.release(lease)  # type: ignore[arg-type]
            pipe.execute()

    return one_round


def machine_line(redis_version: str) -> str:
    return (f"# {platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"redis-server {redis_version}, redis-py {redis.__version__}, "
            f"{time.strftime('%Y-%m-%d')}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=3_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder, RedisServer(Path(folder)) as server:
        client = redis.Redis(port=server.port)
        pool = WalletPool.from_url(server.url)
        pool.configure("COIN", lease_ttl=600, max_size=POOL_SIZE)
        pool.add("COIN", [f"bc1qbench{i:06d}" for i in range(POOL_SIZE)])
        print(machine_line(binary_version(server.binary)))
        print(f"# {args.rounds} rounds of {args.cycles} allocate+release cycles, "
              f"pool of {POOL_SIZE}, medians\n")

        rows = []
        for name, job, cycles in [
            ("no-op EVALSHA x2 (redis-py floor)", noop_evalsha(client), args.cycles),
            ("walletpool sequential", sequential(pool), args.cycles),
            (f"walletpool allocate_many/release_many ({BATCH})", batched(pool), args.cycles * 10),
            (f"walletpool pipeline ({BATCH})", pipelined(pool), args.cycles * 10),
        ]:
            rate, p50, p99 = timed_rounds(args.rounds, cycles, job)
            rows.append(Row(name, rate, p50, p99))
        floor, seq = rows[0].cycles_per_s, rows[1].cycles_per_s
        for row in rows[1:]:
            row.ratio = f"{row.cycles_per_s / floor:.2f}x floor, {row.cycles_per_s / seq:.1f}x seq"
        print(f"| {'what':45} | {'cycles/s':>9} | {'p50 µs':>7} | {'p99 µs':>7} | ratio |")
        print(f"|{'-' * 47}|{'-' * 11}|{'-' * 9}|{'-' * 9}|-------|")
        for r in rows:
            p50 = f"{r.p50_us:7.0f}" if r.p50_us else "      -"
            p99 = f"{r.p99_us:7.0f}" if r.p99_us else "      -"
            print(f"| {r.name:45} | {r.cycles_per_s:9.0f} | {p50} | {p99} | {r.ratio} |")
        if args.json:
            args.json.write_text(json.dumps([asdict(r) for r in rows], indent=2))
        pool.close()
        client.close()


if __name__ == "__main__":
    main()

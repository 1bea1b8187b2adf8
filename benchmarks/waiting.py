"""Orders that wait: how soon a released wallet reaches the order waiting for it, and
how a pool kept drained by more orders than wallets serves them, waiting in line
(allocate with `wait`) against the same load retrying on PoolExhausted.

- Hand-off latency: one wallet, one order waiting for it on a client of its own (a
  thread blocked in allocate(wait=...)); the clock runs from the call that releases
  the wallet to the waiting call's return. The lease then goes back, the next order
  waits, and so on.
- A drained pool: WALLETS wallets, ORDERS asyncio orders in one process, each
  allocating, holding HOLD seconds and releasing, for a while; once with wait=, once
  retrying every RETRY seconds. cycles/s, and each allocation's time from the first
  ask to the lease (its wait included): p50 and p99.

`python -m benchmarks` runs these rows with the others; `python -m benchmarks.waiting
[--rounds R] [--handoffs N] [--seconds S]` runs them alone and prints them.
"""

from __future__ import annotations

import argparse
import asyncio
import queue
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from walletpool import AsyncWalletPool, Lease, PoolExhausted, WalletPool
from walletpool.dev.redis_server import RedisServer, binary_version

from .measure import Row, machine_line, row_from

WALLETS, ORDERS = 10, 40
HOLD = 0.002
RETRY = 0.01
NAMES = {
    "handoff": "hand-off: release to the waiting order's return",
    "drained_wait": f"drained pool ({WALLETS} wallets, {ORDERS} asyncio orders), orders wait",
    "drained_retry": f"drained pool ({WALLETS} wallets, {ORDERS} asyncio orders), "
                     f"client-side retry every {RETRY * 1000:g} ms",
}


def handoff(url: str, pool: str, rounds: int, handoffs: int) -> Row:
    """Rate and latency of hand-offs (rate: hand-offs per second of the loop)."""
    with WalletPool.from_url(url) as releaser, WalletPool.from_url(url) as waiting:
        releaser.configure(pool, lease_ttl=600, max_waiters=10)
        releaser.add(pool, ["handoff-wallet"])
        held = releaser.allocate(pool, "first")
        asks: queue.Queue[str | None] = queue.Queue()
        got: queue.Queue[tuple[Lease, float]] = queue.Queue()

        def order() -> None:  # waits for each wallet it is asked to, on its own client
            while (owner := asks.get()) is not None:
                lease = waiting.allocate(pool, owner, wait=30)
                got.put((lease, time.perf_counter()))

        thread = threading.Thread(target=order, daemon=True)
        thread.start()
        rates: list[float] = []
        latencies: list[float] = []
        n = 0
        try:
            for _ in range(rounds):
                started = time.perf_counter()
                for _ in range(handoffs):
                    n += 1
                    asks.put(f"o{n}")
                    while releaser.stats(pool).waiting < 1:
                        time.sleep(0.0005)
                    released = time.perf_counter()
                    releaser.release(held)
                    held, returned = got.get(timeout=30)
                    latencies.append(returned - released)
                rates.append(handoffs / (time.perf_counter() - started))
        finally:
            asks.put(None)
            thread.join(timeout=30)
    return row_from("waiting", NAMES["handoff"], rates, latencies)


def drained(url: str, pool: str, rounds: int, seconds: float, wait: bool) -> Row:
    """A pool of WALLETS kept drained by ORDERS orders."""
    rates: list[float] = []
    latencies: list[float] = []

    async def one_round(client: AsyncWalletPool, tag: str) -> float:
        stop = time.perf_counter() + seconds
        cycles = 0

        async def orders(i: int) -> None:
            nonlocal cycles
            n = 0
            while time.perf_counter() < stop:
                n += 1
                owner = f"{tag}-{i}-{n}"
                asked = time.perf_counter()
                lease = await _allocate(client, pool, owner, wait)
                latencies.append(time.perf_counter() - asked)
                await asyncio.sleep(HOLD)
                await client.release(lease)
                cycles += 1

        started = time.perf_counter()
        await asyncio.gather(*(orders(i) for i in range(ORDERS)))
        return cycles / (time.perf_counter() - started)

    async def run() -> None:
        async with AsyncWalletPool.from_url(url) as client:
            await client.configure(pool, lease_ttl=600, max_waiters=ORDERS)
            await client.add(pool, [f"{pool.lower()}-{i}" for i in range(WALLETS)])
            await one_round(client, "warm")
            latencies.clear()
            for r in range(rounds):
                rates.append(await one_round(client, f"r{r}"))

    asyncio.run(run())
    return row_from("waiting", NAMES["drained_wait" if wait else "drained_retry"], rates,
                    latencies)


async def _allocate(client: AsyncWalletPool, pool: str, owner: str, wait: bool) -> Lease:
    if wait:
        return await client.allocate(pool, owner, wait=30)
    while True:
        try:
            return await client.allocate(pool, owner)
        except PoolExhausted:
            await asyncio.sleep(RETRY)


def rows(url: str, rounds: int, handoffs: int, seconds: float,
         progress: Callable[[str], None]) -> list[Row]:
    progress(NAMES["handoff"])
    found = [handoff(url, "HANDOFF", rounds, handoffs)]
    for name, pool, wait in (("drained_wait", "DRAINW", True),
                             ("drained_retry", "DRAINR", False)):
        progress(NAMES[name])
        found.append(drained(url, pool, rounds, seconds, wait))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--handoffs", type=int, default=300, help="hand-offs per round")
    parser.add_argument("--seconds", type=float, default=3.0, help="per drained round")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, RedisServer(Path(folder) / "redis") as server:
        print(machine_line(binary_version(server.binary)))
        print(f"medians of {args.rounds} rounds; latency p50/p99 in ms")
        print("| what | per s | p50 ms | p99 ms | rounds |")
        print("|---|---:|---:|---:|---|")
        for row in rows(server.url, args.rounds, args.handoffs, args.seconds, lambda _: None):
            rates = ", ".join(f"{r:,.0f}" for r in row.rounds)
            print(f"| {row.name} | {row.cycles_per_s:,.0f} | {(row.p50_us or 0) / 1000:.2f} | "
                  f"{(row.p99_us or 0) / 1000:.2f} | {rates} |")


if __name__ == "__main__":
    main()

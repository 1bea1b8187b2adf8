"""walletpool's own rows: one client sequential, batched and pipelined, asyncio tasks,
and the floor they all stand on, a no-op EVALSHA (several processes: processes.py)."""

from __future__ import annotations

import asyncio
import time

import redis

from walletpool import AsyncWalletPool, WalletPool

from .measure import Job, Round, Row, row_from

BATCH = 100


def noop_evalsha(client: redis.Redis) -> Round:
    sha = client.script_load("return 1")

    def one_round(cycles: int, latencies: list[float]) -> None:
        for _ in range(cycles):  # two round trips a cycle, like allocate + release
            t = time.perf_counter()
            client.evalsha(sha, 0)
            client.evalsha(sha, 0)
            latencies.append(time.perf_counter() - t)

    return one_round


def sequential(pool: WalletPool, name: str) -> Round:
    def one_round(cycles: int, latencies: list[float]) -> None:
        for i in range(cycles):
            t = time.perf_counter()
            pool.release(pool.allocate(name, f"order-{i}"))
            latencies.append(time.perf_counter() - t)

    return one_round


def batched(pool: WalletPool, name: str) -> Round:
    owners = [f"order-{i}" for i in range(BATCH)]

    def one_round(cycles: int, latencies: list[float]) -> None:
        for _ in range(cycles // BATCH):
            pool.release_many(pool.allocate_many(name, owners))

    return one_round


def pipelined(pool: WalletPool, name: str) -> Round:
    def one_round(cycles: int, latencies: list[float]) -> None:
        for _ in range(cycles // BATCH):
            pipe = pool.pipeline()
            for i in range(BATCH):
                pipe.allocate(name, f"order-{i}")
            leases = pipe.execute()
            for lease in leases:
                pipe.release(lease)  # type: ignore[arg-type]
            pipe.execute()

    return one_round


def measure_async(url: str, name: str, tasks: int, rounds: int, cycles: int) -> Row:
    async def run() -> tuple[list[float], list[float]]:
        rates: list[float] = []
        latencies: list[float] = []
        async with AsyncWalletPool.from_url(url) as pool:
            async def task(t: int, count: int) -> None:
                for i in range(count):
                    began = time.perf_counter()
                    await pool.release(await pool.allocate(name, f"t{t}-{i}"))
                    latencies.append(time.perf_counter() - began)

            await asyncio.gather(*(task(t, 1) for t in range(tasks)))  # warm the connections
            latencies.clear()
            for _ in range(rounds):
                share = max(1, cycles // tasks)
                began = time.perf_counter()
                await asyncio.gather(*(task(t, share) for t in range(tasks)))
                rates.append(share * tasks / (time.perf_counter() - began))
        return rates, latencies

    rates, latencies = asyncio.run(run())
    return row_from("walletpool", f"AsyncWalletPool, {tasks} tasks", rates, latencies)


def jobs(client: redis.Redis, pool: WalletPool, name: str, cycles: int) -> list[Job]:
    """walletpool's one-client rows and the no-op floor, to measure beside the others."""
    return [
        Job("walletpool", "no-op EVALSHA x2 (redis-py floor)", cycles, noop_evalsha(client)),
        Job("walletpool", "walletpool sequential", cycles, sequential(pool, name)),
        Job("walletpool", f"walletpool allocate_many/release_many ({BATCH})", cycles * 10,
            batched(pool, name)),
        Job("walletpool", f"walletpool pipeline ({BATCH})", cycles * 10, pipelined(pool, name)),
    ]

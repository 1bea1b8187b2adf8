"""walletpool's own rows: one client sequential, batched and pipelined, asyncio tasks,
and the floor they all stand on, a no-op EVALSHA (several processes: processes.py)."""

from __future__ import annotations

import asyncio
import threading
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


def threads(pool: WalletPool, name: str, count: int) -> Round:
    """`count` threads on one client, sharing the round's cycles: what a threaded web
    service does (coalescing makes their concurrent calls batches)."""
    def one_round(cycles: int, latencies: list[float]) -> None:
        share = max(1, cycles // count)
        seen: list[list[float]] = [[] for _ in range(count)]

        def work(t: int) -> None:
            for i in range(share):
                began = time.perf_counter()
                pool.release(pool.allocate(name, f"th{t}-{i}"))
                seen[t].append(time.perf_counter() - began)

        workers = [threading.Thread(target=work, args=(t,)) for t in range(count)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        for one in seen:
            latencies += one

    return one_round


class Tasks:
    """`count` asyncio tasks on one AsyncWalletPool, sharing a round's cycles, on an
    event loop of their own that lives across rounds (so that the rows can be taken in
    turn with the others, side by side)."""

    def __init__(self, url: str, name: str, count: int, coalesce: bool = True,
                 owners: str = "t") -> None:
        """`owners`: the prefix of this client's owner names (apart from other clients')."""
        self.name = name
        self.count = count
        self.owners = owners
        self.loop = asyncio.new_event_loop()
        self.pool = self.loop.run_until_complete(self._connect(url, coalesce))

    @staticmethod
    async def _connect(url: str, coalesce: bool) -> AsyncWalletPool:
        return AsyncWalletPool.from_url(url, coalesce=coalesce)

    def one_round(self, cycles: int, latencies: list[float]) -> None:
        """Exactly `cycles` cycles, shared by the tasks."""
        async def task(t: int, share: int) -> None:
            for i in range(share):
                began = time.perf_counter()
                await self.pool.release(await self.pool.allocate(
                    self.name, f"{self.owners}{t}-{i}"))
                latencies.append(time.perf_counter() - began)

        async def all_tasks() -> None:
            await asyncio.gather(*(task(t, cycles // self.count + (t < cycles % self.count))
                                   for t in range(self.count)))

        self.loop.run_until_complete(all_tasks())

    def close(self) -> None:
        self.loop.run_until_complete(self.pool.close())
        self.loop.close()


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


THREADS = 16
TASKS = 64


def jobs(client: redis.Redis, pool: WalletPool, name: str, cycles: int) -> list[Job]:
    """walletpool's one-client rows and the no-op floor, to measure beside the others.
    `pool` is a WalletPool as made by default (each call alone); each row that measures
    what coalescing changes has a twin with it on, measured in turn with it."""
    coalescing = WalletPool.from_url(pool.settings.redis_url, coalesce=True)
    return [
        Job("walletpool", "no-op EVALSHA x2 (redis-py floor)", cycles, noop_evalsha(client)),
        Job("walletpool", "walletpool sequential", cycles, sequential(pool, name)),
        Job("walletpool", "walletpool sequential, coalesce on", cycles,
            sequential(coalescing, name)),
        Job("walletpool", f"walletpool allocate_many/release_many ({BATCH})", cycles * 10,
            batched(pool, name)),
        Job("walletpool", f"walletpool pipeline ({BATCH})", cycles * 10, pipelined(pool, name)),
        Job("walletpool", f"WalletPool, {THREADS} threads", cycles * 4,
            threads(pool, name, THREADS)),
        Job("walletpool", f"WalletPool, {THREADS} threads, coalesce on", cycles * 2,
            threads(coalescing, name, THREADS)),
    ]


def task_jobs(url: str, name: str, cycles: int) -> tuple[list[Job], list[Tasks]]:
    """The asyncio rows, coalescing on and off: jobs to take in turn with the others,
    and the loops to close after."""
    on, off = Tasks(url, name, TASKS), Tasks(url, name, TASKS, coalesce=False)
    return [Job("walletpool", f"AsyncWalletPool, {TASKS} tasks", cycles * 4, on.one_round),
            Job("walletpool", f"AsyncWalletPool, {TASKS} tasks, coalesce off", cycles * 4,
                off.one_round)], [on, off]

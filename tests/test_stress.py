"""Concurrency stress on a small pool (high contention), with expiries and a reaper.

Invariants checked (docs/design.md): 2 and 8, no wallet held by two owners at once (no
overlapping holdings); 4, tokens grow per address; 5, conservation after the run. The
same workload on the naive client-side design must show double allocations, so the
check is known to be able to see the bug.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor

import pytest
import redis

from tests.conftest import on_first_server
from tests.invariants import check_invariants
from tests.naive import NaivePool
from tests.stress import (
    STOP_KEY,
    TTL,
    Tally,
    async_worker,
    overlaps,
    reaper,
    token_order_breaks,
    worker,
)
from walletpool import AsyncWalletPool, WalletPool
from walletpool.dev.redis_server import RedisServer

WORKERS = 4
CYCLES = 2_000
WALLETS = [f"stress{i}" for i in range(4)]


def run_processes(kind: str, url: str, pool: str) -> tuple[Tally, float, int]:
    tally = Tally()
    control = redis.Redis.from_url(url)
    control.delete(STOP_KEY)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=WORKERS + 1, mp_context=context) as processes:
        reaping = processes.submit(reaper, kind, url, pool)
        started = time.monotonic()
        shares = [processes.submit(worker, kind, url, pool, i, CYCLES, seed=1000 + i)
                  for i in range(WORKERS)]
        for share in shares:
            tally.merge(share.result(timeout=300))
        elapsed = time.monotonic() - started
        control.set(STOP_KEY, 1)
        reaped = reaping.result(timeout=30)
    control.close()
    return tally, elapsed, reaped


def report(capsys: pytest.CaptureFixture[str], label: str, tally: Tally, elapsed: float,
           reaped: int, doubles: int) -> None:
    with capsys.disabled():
        print(f"\n  {label}: {tally.operations} ops in {elapsed:.1f} s "
              f"({tally.operations / elapsed:,.0f} ops/s), {len(tally.holdings)} holdings of "
              f"{len(WALLETS)} wallets, {tally.exhausted} exhausted, {reaped} reaped, "
              f"{tally.late_release_refused} late releases refused, {tally.lost} lost, "
              f"{doubles} double allocations")


@on_first_server
def test_processes_never_share_a_wallet_but_the_naive_design_does(
        redis_server: RedisServer, redis_client: redis.Redis, sync_pool: WalletPool,
        capsys: pytest.CaptureFixture[str]) -> None:
    pool = sync_pool  # the processes run clients of their own; this one sets up and checks
    pool.configure("STRESS", lease_ttl=TTL, cooldown=0, max_size=100)
    pool.add("STRESS", WALLETS)
    ours, elapsed, reaped = run_processes("walletpool", redis_server.url, "STRESS")
    doubles = overlaps(ours.holdings)
    report(capsys, "walletpool", ours, elapsed, reaped, len(doubles))

    NaivePool(redis_server.url, "STRESS").add(WALLETS)
    naive, n_elapsed, n_reaped = run_processes("naive", redis_server.url, "STRESS")
    naive_doubles = overlaps(naive.holdings)
    report(capsys, "naive RPOP/check/mark", naive, n_elapsed, n_reaped, len(naive_doubles))

    assert doubles == [], f"walletpool double-allocated: {doubles[:3]}"
    assert token_order_breaks(ours.holdings) == []
    assert len(ours.holdings) > WORKERS * CYCLES * 0.8
    assert ours.late_release_refused > 0, "the workload let no lease expire"
    assert len(naive_doubles) > 0, "the stress test cannot see a double allocation"

    time.sleep(TTL * 2)
    pool.reap("STRESS")
    stats = pool.stats("STRESS")
    assert (stats.free, stats.leased, stats.total) == (len(WALLETS), 0, len(WALLETS))
    check_invariants(redis_client, "wp", "STRESS")


@on_first_server
def test_many_asyncio_tasks_never_share_a_wallet(
        redis_server: RedisServer, redis_client: redis.Redis,
        capsys: pytest.CaptureFixture[str]) -> None:
    tasks, cycles, wallets = 50, 250, [f"task{i}" for i in range(20)]

    async def scenario() -> tuple[Tally, float]:
        async with AsyncWalletPool.from_url(redis_server.url, max_connections=20) as pool:
            await pool.configure("ASYNC", lease_ttl=60, max_size=100)
            await pool.add("ASYNC", wallets)
            started = time.monotonic()
            shares = await asyncio.gather(*(async_worker(pool, "ASYNC", i, cycles, seed=i)
                                            for i in range(tasks)))
            elapsed = time.monotonic() - started
        tally = Tally()
        for share in shares:
            tally.merge(share)
        return tally, elapsed

    tally, elapsed = asyncio.run(scenario())
    doubles = overlaps(tally.holdings)
    with capsys.disabled():
        print(f"\n  asyncio: {tally.operations} ops by {tasks} tasks in {elapsed:.1f} s "
              f"({tally.operations / elapsed:,.0f} ops/s), {len(tally.holdings)} holdings of "
              f"{len(wallets)} wallets, {tally.exhausted} exhausted, {len(doubles)} double "
              "allocations")
    assert doubles == [] and token_order_breaks(tally.holdings) == []
    assert tally.exhausted > 0, "the pool was never contended"
    assert tally.lost == 0
    check_invariants(redis_client, "wp", "ASYNC")

"""Low-water alerts (log record, counter, hook) and the count of exhausted allocations."""

from __future__ import annotations

import asyncio
import logging

import pytest

from walletpool import AsyncWalletPool, LowWater, PoolExhausted, WalletPool
from walletpool.chains import sample_addresses
from walletpool.dev.redis_server import RedisServer


def test_default_marks_follow_the_currency(pool: WalletPool) -> None:
    cases = (("BTC", "btc", 3), ("ETH", "eth", 2), ("USDT-TRC20", "tron", 5), ("LTC", "ltc", 2),
             ("TRX", "tron", 0), ("COIN", "plain", 0))
    for seed, (name, network, mark) in enumerate(cases):  # distinct: TRX shares tron's family
        if network == "plain":  # no name implies it: made on purpose
            pool.configure(name)
        pool.add(name, sample_addresses(network, 1, seed=seed))
        assert pool.stats(name).min_free == mark, name


def test_an_allocation_below_the_mark_logs_counts_and_calls_the_hook(
        redis_server: RedisServer, redis_client: object, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[LowWater] = []
    with WalletPool.from_url(redis_server.url, on_low_water=seen.append) as pool:
        pool.add("BTC", sample_addresses("btc", 5))  # min_free 3
        pool.allocate("BTC", "o1")
        pool.allocate("BTC", "o2")
        pool.allocate("BTC", "o2")  # leaves 3 free: not below the mark
        pool.allocate("BTC", "o2")  # a retry takes nothing: no alert
        assert seen == [] and pool.stats("BTC").low_water_alerts == 0
        with caplog.at_level(logging.WARNING, logger="walletpool"):
            pool.allocate("BTC", "o3")
        assert seen == [LowWater("BTC", 2, 3)]
        record = next(r for r in caplog.records if "low-water" in r.getMessage())
        assert (record.pool, record.free, record.min_free) == ("BTC", 2, 3)  # type: ignore[attr-defined]
        pool.allocate_many("BTC", ["o4", "o5"])
        assert seen[-1] == LowWater("BTC", 0, 3)
        assert pool.stats("BTC").low_water_alerts == 2


def test_the_mark_is_configurable_and_zero_turns_alerts_off(redis_server: RedisServer,
                                                           redis_client: object) -> None:
    seen: list[LowWater] = []
    with WalletPool.from_url(redis_server.url, on_low_water=seen.append) as pool:
        pool.configure("COIN")  # a plain pool, made on purpose
        pool.add("COIN", ["a", "b", "c"])
        pool.allocate("COIN", "o1")
        assert seen == []
        pool.configure("COIN", min_free=5)
        pool.allocate("COIN", "o2")
        assert seen == [LowWater("COIN", 1, 5)]
        pool.configure("BTC", min_free=0)
        pool.add("BTC", sample_addresses("btc", 1))
        pool.allocate("BTC", "o1")
        assert len(seen) == 1 and pool.stats("BTC").low_water_alerts == 0


def test_a_failing_hook_does_not_undo_the_allocation(
        redis_server: RedisServer, redis_client: object, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(alert: LowWater) -> None:
        raise RuntimeError("refill service down")

    with WalletPool.from_url(redis_server.url, on_low_water=broken) as pool:
        pool.configure("COIN", min_free=2)
        pool.add("COIN", ["a", "b"])
        lease = pool.allocate("COIN", "o1")
        assert lease.address == "a" and pool.stats("COIN").leased == 1
    assert any("low-water hook failed" in r.getMessage() for r in caplog.records)


def test_exhaustions_are_counted(btc: WalletPool) -> None:
    btc.allocate_many("COIN", [f"o{i}" for i in range(5)])
    for owner in ("x", "y"):
        with pytest.raises(PoolExhausted):
            btc.allocate("COIN", owner)
    with pytest.raises(PoolExhausted):
        btc.allocate_many("COIN", ["p", "q"])
    assert btc.allocate_many("COIN", ["p"], partial=True) == []  # no refusal, not counted
    assert btc.stats("COIN").exhaustions == 3


def test_an_async_hook_runs_as_a_task(redis_server: RedisServer, redis_client: object) -> None:
    async def scenario() -> list[LowWater]:
        seen: list[LowWater] = []

        async def refill(alert: LowWater) -> None:
            await asyncio.sleep(0)
            seen.append(alert)

        async with AsyncWalletPool.from_url(redis_server.url, on_low_water=refill) as pool:
            await pool.configure("COIN", min_free=2)
            await pool.add("COIN", ["a", "b"])
            await pool.allocate("COIN", "o1")
            for _ in range(5):
                await asyncio.sleep(0)
        return seen

    assert asyncio.run(scenario()) == [LowWater("COIN", 1, 2)]

"""AsyncWalletPool: the same contract as WalletPool, as coroutines."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest
import redis

from tests.invariants import check_invariants
from walletpool import AsyncWalletPool, LeaseLost, PoolExhausted, PoolNotFound
from walletpool.dev.redis_server import RedisServer
from walletpool.testing import shift_clock

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def test_the_async_client_covers_the_lease_lifecycle(redis_server: RedisServer,
                                                      redis_client: redis.Redis) -> None:
    async def scenario() -> None:
        async with AsyncWalletPool.from_url(redis_server.url) as pool:
            assert await pool.configure("COIN", lease_ttl=60, cooldown=0, max_size=10) is True
            assert (await pool.add("COIN", ["a0", "a1", "a2"])).added == 3
            lease = await pool.allocate("COIN", "o1", correlation_id="c1")
            assert (lease.address, lease.correlation_id) == ("a0", "c1")
            assert (await pool.allocate("COIN", "o1")).token == lease.token
            longer = await pool.extend(lease, ttl=120)
            assert longer.expires_at > lease.expires_at
            assert await pool.get_lease("COIN", "o1") is not None
            assert await pool.peek("COIN", 5) == ["a1", "a2"]
            assert await pool.release(lease) == "free"
            with pytest.raises(LeaseLost):
                await pool.release(lease)
            many = await pool.allocate_many("COIN", ["o2", "o3", "o4"])
            with pytest.raises(PoolExhausted):
                await pool.allocate("COIN", "o5")
            assert await pool.release_many(many) == [True, True, True]
            assert await pool.retire("COIN", "a2") is True
            stats = await pool.stats("COIN")
            assert (stats.free, stats.retired) == (2, 1)
            assert await pool.pools() == ["COIN"]
            with pytest.raises(PoolNotFound):
                await pool.stats("TOKEN")
            await shift_clock(pool, "COIN", 0)
            assert await pool.reap("COIN") == 0

    run(scenario())
    check_invariants(redis_client, "wp", "COIN")


def test_many_async_tasks_never_share_a_wallet(redis_server: RedisServer,
                                                redis_client: redis.Redis) -> None:
    async def scenario() -> list[str]:
        async with AsyncWalletPool.from_url(redis_server.url) as pool:
            await pool.configure("TOKEN")  # a plain pool, made on purpose
            await pool.add("TOKEN", [f"e{i}" for i in range(200)])
            leases = await asyncio.gather(*(pool.allocate("TOKEN", f"o{i}") for i in range(200)))
            return [lease.address for lease in leases]

    addresses = run(scenario())
    assert sorted(addresses) == sorted(f"e{i}" for i in range(200))
    check_invariants(redis_client, "wp", "TOKEN")


def test_async_calls_and_pipelines_heal_after_script_flush(redis_server: RedisServer,
                                                           redis_client: redis.Redis) -> None:
    async def scenario() -> None:
        async with AsyncWalletPool.from_url(redis_server.url) as pool:
            await pool.configure("CASH")  # a plain pool, made on purpose
            await pool.add("CASH", ["l0", "l1", "l2"])
            redis_client.script_flush()
            lease = await pool.allocate("CASH", "o1")
            redis_client.script_flush()
            pipe = pool.pipeline()
            pipe.release(lease).allocate("CASH", "o2").peek("CASH")
            released, second, head = await pipe.execute()
            assert released == "free"
            assert second.address == "l1"  # type: ignore[attr-defined]
            assert head == ["l2", "l0"]

    run(scenario())

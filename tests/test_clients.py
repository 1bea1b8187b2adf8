"""The two clients are one behaviour: the shared fixture runs each behaviour test on
WalletPool and on AsyncWalletPool, and both run the same plans."""

from __future__ import annotations

import asyncio

import pytest

from tests.blocking import Blocking
from walletpool import AsyncWalletPool, Lease, WalletPool
from walletpool.dev.redis_server import RedisServer


def test_the_shared_fixture_gives_each_client(pool: WalletPool,
                                              request: pytest.FixtureRequest) -> None:
    kind = request.node.callspec.params["pool"]
    if kind == "AsyncWalletPool":
        assert isinstance(pool, Blocking) and isinstance(pool._target, AsyncWalletPool)
    else:
        assert type(pool) is WalletPool
    pool.configure("COIN")  # a plain pool, made on purpose
    pool.add("COIN", ["a0"])
    assert isinstance(pool.allocate("COIN", "o1"), Lease)  # a result, not a coroutine


def test_both_clients_expose_the_same_operations() -> None:
    public = {name for name in dir(WalletPool) if not name.startswith("_")}
    assert public == {name for name in dir(AsyncWalletPool) if not name.startswith("_")}


def test_an_async_pipeline_runs_on_the_async_client(redis_server: RedisServer) -> None:
    async def scenario() -> list[object]:
        async with AsyncWalletPool.from_url(redis_server.url) as pool:
            await pool.configure("COIN")  # a plain pool, made on purpose
            await pool.add("COIN", ["a0", "a1"])
            async with pool.pipeline() as pipe:
                pipe.allocate("COIN", "o1").allocate("COIN", "o2").peek("COIN")
                return await pipe.execute()

    first, second, head = asyncio.run(scenario())
    assert [first.address, second.address, head] == ["a0", "a1", []]  # type: ignore[attr-defined]

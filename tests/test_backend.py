"""Redis unreachable: a clear BackendUnavailable naming the server, never its password."""

from __future__ import annotations

import asyncio

import pytest

from walletpool import AsyncWalletPool, BackendUnavailable, WalletPool
from walletpool.dev.redis_server import RedisServer, free_port


def test_an_unreachable_redis_raises_backend_unavailable_without_the_password() -> None:
    url = f"redis://app:s3cret@127.0.0.1:{free_port()}/0"
    pool = WalletPool.from_url(url, socket_timeout=0.5)
    for call in (lambda: pool.allocate("COIN", "o1"), lambda: pool.stats("COIN"), pool.pools):
        with pytest.raises(BackendUnavailable) as caught:
            call()
        assert "app:***@127.0.0.1" in str(caught.value)
        assert "s3cret" not in str(caught.value)


def test_the_async_client_raises_backend_unavailable_too() -> None:
    async def scenario() -> None:
        pool = AsyncWalletPool.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_timeout=0.5)
        with pytest.raises(BackendUnavailable, match="unavailable"):
            await pool.allocate("COIN", "o1")
        await pool.close()

    asyncio.run(scenario())


def test_the_pool_recovers_by_itself_when_redis_is_back(tmp_path) -> None:  # type: ignore[no-untyped-def]
    server = RedisServer(tmp_path, appendfsync="always")
    server.start()
    pool = WalletPool.from_url(server.url, socket_timeout=1)
    pool.configure("COIN")  # a plain pool, made on purpose
    pool.add("COIN", ["a0", "a1"])
    lease = pool.allocate("COIN", "o1")
    server.kill()
    with pytest.raises(BackendUnavailable):
        pool.allocate("COIN", "o2")
    with pytest.raises(BackendUnavailable, match="may or may not have been applied"):
        pool.release(lease)
    server.start()
    try:
        assert pool.get_lease("COIN", "o1") == lease.__class__(**{**lease.__dict__, "fresh": False})
        assert pool.release(lease) == "free"
        assert pool.allocate("COIN", "o2").address == "a1"
    finally:
        pool.close()
        server.stop()

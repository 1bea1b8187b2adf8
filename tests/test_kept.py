"""The connections a client keeps between its script calls (walletpool/kept.py): reused
across calls and error replies, made again when the server closed them, dropped when
Sentinel is asked for the primary again (see also tests/test_faults.py, "connections
the server closed while they were idle")."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest
import redis

from tests.replication import Replicated, Sentinels
from walletpool import AsyncWalletPool, InvalidInput, LeaseLost, WalletPool
from walletpool.dev.redis_server import RedisServer


def _connections_made(client: redis.Redis) -> int:
    return int(client.info("stats")["total_connections_received"])


def test_script_calls_and_error_replies_reuse_the_kept_connections(
        pool: WalletPool, redis_client: redis.Redis) -> None:
    """Calls one after another open no new connection, error replies among them (a
    refused argument leaves the connection as good as before)."""
    pool.configure("COIN", lease_ttl=60)
    pool.add("COIN", ["a0", "a1"])
    pool.release(pool.allocate("COIN", "warm"))
    before = _connections_made(redis_client)
    bad = replace(pool._ops.allocate("COIN", "bad"), args=("bad", "-5", "", ""))
    for i in range(20):
        pool.release(pool.allocate("COIN", f"o{i}"))
        with pytest.raises(InvalidInput, match="bad ttl"):
            pool._call_alone(bad)
    assert _connections_made(redis_client) == before


def test_a_call_on_a_connection_the_server_closed_while_kept_goes_once(
        pool: WalletPool, redis_client: redis.Redis) -> None:
    """Killed while kept, a connection is made again before a call goes on it: the call
    is sent once and answered for itself. Sent on the dead connection, a release would
    lose its reply and go again as its resolving resend, which reads a stale lease's
    refusal as the first send's success."""
    pool.configure("COIN", lease_ttl=60)
    pool.add("COIN", ["a0"])
    lease = pool.allocate("COIN", "o1")
    assert redis_client.client_kill_filter(_type="normal", skipme=True) >= 1
    with pytest.raises(LeaseLost) as lost:
        pool.release(replace(lease, token=lease.token + 1))
    assert lost.value.reason == "stale"


def test_sentinel_asked_for_the_primary_again_drops_the_kept_connections(
        tmp_path: Path, redis_server: RedisServer, pair: Replicated) -> None:
    """After a call refused for want of replicas (a demoted primary that believes it
    still leads), a client asks Sentinel for the primary, and redis-py drops its idle
    connections to one Sentinel no longer names: the connections the client kept go
    too, so that no later call meets the old primary on one. Both clients."""
    sentinels = Sentinels(tmp_path, redis_server.binary, pair.primary.port).start()
    try:
        with WalletPool.from_url(sentinels.url) as client:
            first = client._execute("CLIENT", "ID")
            assert client._execute("CLIENT", "ID") == first  # kept, not made again
            assert client._follow_primary()
            assert client._execute("CLIENT", "ID") != first

        async def asyncio_client() -> None:
            async with AsyncWalletPool.from_url(sentinels.url) as client:
                first = await client._execute("CLIENT", "ID")
                assert await client._execute("CLIENT", "ID") == first
                assert await client._follow_primary()
                assert await client._execute("CLIENT", "ID") != first

        asyncio.run(asyncio_client())
    finally:
        sentinels.stop()

"""Bounded memory without a syncer: a pool's stream, while no syncer has attached to it,
keeps at most its stream_cap entries (includes/emit.lua); a group's entries are never
trimmed but by its syncer; and a syncer that attaches after the cap dropped history
first records every wallet as it stands (resync.lua), so that the database misses
nothing the cap dropped."""

from __future__ import annotations

from typing import Any

import pytest
import redis
import sqlalchemy as sa

from walletpool import InvalidInput, WalletPool
from walletpool.store import schema
from walletpool.store.restore import reconcile, restore
from walletpool.syncer import GROUP, Syncer

EVENTS = "wp:{COIN}:events"
CONF = "wp:{COIN}:conf"


def cycles(pool: WalletPool, count: int, prefix: str = "c") -> None:
    for i in range(count):
        pool.release(pool.allocate("COIN", f"{prefix}{i}"))


def sync_all(pool: WalletPool, engine: sa.Engine) -> int:
    syncer = Syncer(pool.redis, engine, rebalance_every=None)
    total = 0
    while done := syncer.run_once():
        total += done
    return total


@pytest.fixture
def coin(sync_pool: WalletPool) -> WalletPool:
    sync_pool.configure("COIN", lease_ttl=60, cooldown=0, max_size=1000, stream_cap=200)
    sync_pool.add("COIN", [f"w{i}" for i in range(50)])
    return sync_pool


def test_without_a_syncer_the_stream_stays_under_its_cap(
        coin: WalletPool, redis_client: redis.Redis) -> None:
    cycles(coin, 1_500)  # 3,000 calls, one entry each
    length = redis_client.xlen(EVENTS)
    assert 180 <= length <= 200
    assert redis_client.hget(CONF, "capped") == "1"
    memory = redis_client.memory_usage(EVENTS) or 0
    cycles(coin, 1_500, prefix="d")  # as many again: the stream does not grow
    assert redis_client.xlen(EVENTS) <= 200
    assert 0 < (redis_client.memory_usage(EVENTS) or 0) <= 2 * memory
    assert coin.stats("COIN").events == redis_client.xlen(EVENTS)


def test_the_default_cap_and_its_bounds(sync_pool: WalletPool,
                                        redis_client: redis.Redis) -> None:
    sync_pool.configure("COIN", cooldown=0)
    sync_pool.add("COIN", ["w1"])
    for i in range(1_100):  # just past the default cap, 1,000
        sync_pool.release(sync_pool.allocate("COIN", f"o{i}"))
    assert 900 <= redis_client.xlen(EVENTS) <= 1_000
    for bad in (99, 0, 10**9 + 1):
        with pytest.raises(InvalidInput, match="stream_cap"):
            sync_pool.configure("COIN", stream_cap=bad)


def test_a_syncers_group_keeps_every_entry_until_its_syncer_commits_them(
        coin: WalletPool, redis_client: redis.Redis, store: sa.Engine) -> None:
    sync_all(coin, store)  # a syncer attached, then went away
    first: Any = redis_client.xrange(EVENTS, count=1)
    cycles(coin, 500)
    assert redis_client.xlen(EVENTS) >= 1_000  # past the cap: nothing trimmed
    assert redis_client.xrange(EVENTS, count=1) == first
    assert sync_all(coin, store) >= 1_000
    assert redis_client.xlen(EVENTS) <= 1  # its syncer trims what it committed
    assert reconcile(redis_client, store, "wp", "COIN") == []


def test_a_syncer_attaching_after_the_cap_records_every_wallet_as_it_stands(
        coin: WalletPool, redis_client: redis.Redis, store: sa.Engine) -> None:
    coin.configure("COIN", cooldown=600, max_uses=1_000)
    held = [coin.allocate("COIN", f"held{i}") for i in range(5)]
    coin.release(coin.allocate("COIN", "cools"))  # cooling for 600 s
    coin.retire("COIN", "w49")
    coin.configure("COIN", cooldown=0)
    cycles(coin, 600)  # the history of all the above is capped away
    assert redis_client.hget(CONF, "capped") == "1"
    oldest: Any = redis_client.xrange(EVENTS, count=1)
    assert "added" not in oldest[0][1]["c"]

    sync_all(coin, store)

    assert reconcile(redis_client, store, "wp", "COIN") == []
    assert redis_client.hget(CONF, "capped") is None
    with store.connect() as conn:
        states = dict(conn.execute(sa.select(schema.wallets.c.address,
                                             schema.wallets.c.state)).all())
        top = conn.execute(sa.select(schema.pools.c.max_token)).scalar()
    assert len(states) == 50
    assert states["w49"] == "retired"
    assert sorted(a for a, s in states.items() if s == "leased") == sorted(
        lease.wallet for lease in held)
    assert list(states.values()).count("cooling") == 1
    assert top == int(redis_client.get("wp:{COIN}:seq") or 0)

    # what the database holds rebuilds the pool: nothing the cap dropped is missing
    redis_client.flushall()
    restore(redis_client, store, "wp", "COIN")
    stats = coin.stats("COIN")
    assert (stats.free + stats.cooling, stats.leased) == (44, 5)  # w49 retired
    assert coin.allocate("COIN", "after").token > top


def test_a_pool_that_changes_during_the_resync_ends_right(
        coin: WalletPool, redis_client: redis.Redis, store: sa.Engine) -> None:
    cycles(coin, 300)
    coin.configure("COIN", max_size=5_000)
    coin.add("COIN", [f"x{i}" for i in range(2_500)])  # three resync pages
    cycles(coin, 300, prefix="e")
    syncer = Syncer(coin.redis, store, rebalance_every=None)
    redis_client.xgroup_create(EVENTS, GROUP, id="0")
    pages: list[int] = []
    original = coin._ops.resync

    def resync_with_churn(pool: str) -> Any:  # a wallet moves between the pages
        program = original(pool)
        step = next(program)
        while True:
            reply = yield step
            pages.append(1)
            coin.release(coin.allocate("COIN", f"between{len(pages)}"))
            try:
                step = program.send(reply)
            except StopIteration as done:
                return done.value

    syncer._pool_client()._ops.resync = resync_with_churn
    while syncer.run_once():
        pass
    assert len(pages) >= 3
    assert reconcile(redis_client, store, "wp", "COIN") == []


def test_a_fenced_pool_is_healed_before_it_is_resynced(
        coin: WalletPool, redis_client: redis.Redis, store: sa.Engine) -> None:
    """The resync records Redis's state as the truth, so it never runs on a pool whose
    Redis may have lost what the database holds."""
    cycles(coin, 300)
    redis_client.hset(CONF, mapping={"run_id": "fenced", "heal_from": "0-0"})
    client = Syncer(coin.redis, store, rebalance_every=None)._pool_client()
    with pytest.raises(Exception, match="fenced"):
        client._do(client._ops.resync("COIN"))
    assert redis_client.hget(CONF, "capped") == "1"


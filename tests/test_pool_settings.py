"""configure, stats, peek and pools."""

from __future__ import annotations

import pytest
import redis

from walletpool import KEEP, InvalidInput, PoolNotFound, WalletPool


def test_configure_creates_a_pool_then_changes_only_what_is_given(pool: WalletPool) -> None:
    assert pool.configure("TOKEN", lease_ttl=120, max_size=50) is True
    assert pool.configure("TOKEN", cooldown=30, max_uses=3) is False
    stats = pool.stats("TOKEN")
    assert (stats.lease_ttl, stats.cooldown, stats.max_size, stats.max_uses) == (120, 30, 50, 3)
    pool.configure("TOKEN", max_uses=None)
    pool.configure("TOKEN", max_uses=KEEP, lease_ttl=60)
    stats = pool.stats("TOKEN")
    assert (stats.lease_ttl, stats.max_uses) == (60, None)


def test_configure_refuses_bad_values(pool: WalletPool) -> None:
    for bad in ({"lease_ttl": 0}, {"lease_ttl": float("nan")}, {"cooldown": -1},
                {"max_size": 0}, {"max_uses": 0}, {"lease_ttl": True}):
        with pytest.raises(InvalidInput):
            pool.configure("TOKEN", **bad)
    assert pool.pools() == []


def test_stats_counts_every_state(btc: WalletPool) -> None:
    btc.configure("COIN", cooldown=60)
    leases = btc.allocate_many("COIN", ["o1", "o2", "o3"])
    btc.release(leases[0])
    btc.retire("COIN", "a4")
    stats = btc.stats("COIN")
    assert (stats.free, stats.leased, stats.cooling, stats.retired, stats.total) == (1, 2, 1, 1, 5)
    assert stats.in_service == 4 and stats.last_token == leases[-1].token
    assert stats.events > 0


def test_stats_of_an_unknown_pool_raises_pool_not_found(pool: WalletPool) -> None:
    with pytest.raises(PoolNotFound):
        pool.stats("DOGE")


def test_peek_shows_the_head_of_the_queue_without_taking_it(btc: WalletPool) -> None:
    assert btc.peek("COIN", 2) == ["a0", "a1"]
    assert btc.peek("COIN", 2) == ["a0", "a1"]
    assert btc.allocate("COIN", owner="o").address == "a0"


def test_pools_lists_every_pool_under_the_prefix(pool: WalletPool,
                                                 redis_client: redis.Redis) -> None:
    pool.configure("COIN")  # a plain pool, made on purpose
    pool.add("COIN", ["a"])
    pool.configure("TOKEN-NET1", lease_ttl=60)
    assert pool.pools() == ["COIN", "TOKEN-NET1"]
    other = WalletPool(redis_client, prefix="other")
    assert other.pools() == []


def test_prefixes_keep_pools_apart(pool: WalletPool, redis_client: redis.Redis) -> None:
    other = WalletPool(redis_client, prefix="shop2")
    pool.configure("COIN")  # a plain pool, made on purpose
    pool.add("COIN", ["a0"])
    other.configure("COIN")
    other.add("COIN", ["z0"])
    assert pool.peek("COIN") == ["a0"] and other.peek("COIN") == ["z0"]

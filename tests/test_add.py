"""add: deduplicated, bounded, all or nothing, validated before writing."""

from __future__ import annotations

import io

import pytest
import redis

from tests.invariants import check_invariants
from walletpool import InvalidAddress, PoolFull, PoolNotFound, WalletPool
from walletpool.chains import sample_addresses


def test_add_creates_the_pool_with_defaults(pool: WalletPool) -> None:
    assert pool.add("BTC", sample_addresses("btc", 2)).added == 2
    stats = pool.stats("BTC")
    assert (stats.free, stats.lease_ttl, stats.max_size, stats.max_uses) == (2, 900, 1_000_000,
                                                                           None)
    assert stats.network == "btc"  # the one its name implies


def test_an_add_to_a_mistyped_pool_is_refused_and_writes_nothing(
        pool: WalletPool, redis_client: redis.Redis) -> None:
    """A name that implies no network (a typo of BTC, a new name) would make a pool whose
    addresses nobody checks: refused, naming the command that makes one on purpose."""
    for name in ("BTCC", "NEWPOOL"):
        with pytest.raises(PoolNotFound, match=f"walletpool configure {name} --network"):
            pool.add(name, sample_addresses("btc", 2))
        with pytest.raises(PoolNotFound, match="implies no network"):
            pool.import_wallets(name, io.StringIO("a0\na1\n"))
    assert redis_client.dbsize() == 0
    pool.configure("NEWPOOL", network="plain")  # on purpose: then any charset-valid address
    assert pool.add("NEWPOOL", ["a0", "a1"]).added == 2


def test_add_skips_known_and_repeated_addresses(btc: WalletPool) -> None:
    result = btc.add("COIN", ["a0", "b1", "b1", "b2"])
    assert (result.added, result.duplicates) == (2, 2)
    assert btc.peek("COIN", 10) == ["a0", "a1", "a2", "a3", "a4", "b1", "b2"]


def test_add_does_not_requeue_a_leased_wallet(btc: WalletPool, redis_client: redis.Redis) -> None:
    lease = btc.allocate("COIN", owner="o1")
    assert btc.add("COIN", [lease.address]).duplicates == 1
    assert lease.address not in btc.peek("COIN", 10)
    check_invariants(redis_client, "wp", "COIN")


def test_a_retired_address_cannot_come_back(btc: WalletPool) -> None:
    btc.retire("COIN", "a2")
    assert btc.add("COIN", ["a2"]).duplicates == 1
    assert "a2" not in btc.peek("COIN", 10)


def test_add_beyond_max_size_raises_pool_full_and_adds_nothing(btc: WalletPool) -> None:
    btc.configure("COIN", max_size=6)
    with pytest.raises(PoolFull, match="max_size is 6") as caught:
        btc.add("COIN", ["b0", "b1"])
    assert (caught.value.in_service, caught.value.would_add) == (5, 2)
    assert btc.stats("COIN").total == 5
    assert btc.add("COIN", ["b0"]).added == 1


def test_retired_wallets_do_not_count_against_max_size(btc: WalletPool) -> None:
    btc.configure("COIN", max_size=5)
    btc.retire("COIN", "a0")
    assert btc.add("COIN", ["b0"]).added == 1


def test_an_invalid_address_rejects_the_whole_call(btc: WalletPool) -> None:
    with pytest.raises(InvalidAddress, match="item 2"):
        btc.add("COIN", ["b0", "bad address", "b2"])
    assert btc.stats("COIN").total == 5


def test_a_large_add_runs_in_chunks_and_reports_progress(pool: WalletPool,
                                                         redis_client: redis.Redis) -> None:
    addresses = [f"t{i:06d}" for i in range(12_000)]
    seen: list[int] = []
    pool.configure("CHIP")  # a plain pool, made on purpose
    result = pool.add("CHIP", addresses + addresses[:10], progress=seen.append)
    assert (result.added, result.duplicates) == (12_000, 10)
    assert seen == [5000, 10_000, 12_000]  # repeats are dropped before sending
    assert pool.peek("CHIP", 3) == addresses[:3]
    check_invariants(redis_client, "wp", "CHIP")


def test_a_large_add_that_cannot_fit_is_refused_before_writing(pool: WalletPool) -> None:
    pool.configure("CHIP", max_size=9_000)
    with pytest.raises(PoolFull, match="nothing was added"):
        pool.add("CHIP", [f"t{i}" for i in range(9_001)])
    assert pool.stats("CHIP").total == 0

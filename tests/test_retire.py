"""retire: out of service for good, from any state."""

from __future__ import annotations

import pytest
import redis

from tests.invariants import check_invariants
from walletpool import LeaseLost, WalletPool


def test_retire_a_free_wallet_removes_it_from_the_queue(btc: WalletPool) -> None:
    assert btc.retire("BTC", "a2") is True
    assert btc.peek("BTC", 10) == ["a0", "a1", "a3", "a4"]
    assert btc.stats("BTC").retired == 1


def test_retire_a_leased_wallet_ends_the_lease(btc: WalletPool, redis_client: redis.Redis) -> None:
    lease = btc.allocate("BTC", owner="o1")
    assert btc.retire("BTC", lease.address) is True
    assert btc.get_lease("BTC", "o1") is None
    with pytest.raises(LeaseLost):
        btc.release(lease)
    check_invariants(redis_client, "wp", "BTC")


def test_retire_a_cooling_wallet(btc: WalletPool, redis_client: redis.Redis) -> None:
    btc.configure("BTC", cooldown=60)
    lease = btc.allocate("BTC", owner="o1")
    btc.release(lease)
    assert btc.retire("BTC", lease.address) is True
    assert btc.stats("BTC").cooling == 0
    check_invariants(redis_client, "wp", "BTC")


def test_retire_an_unknown_or_retired_address_returns_false(btc: WalletPool) -> None:
    assert btc.retire("BTC", "nowhere") is False
    btc.retire("BTC", "a0")
    assert btc.retire("BTC", "a0") is False
    assert btc.stats("BTC").retired == 1

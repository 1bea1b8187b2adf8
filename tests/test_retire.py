"""retire: out of service for good, from any state."""

from __future__ import annotations

import pytest
import redis

from tests.invariants import check_invariants
from walletpool import LeaseLost, WalletNotFound, WalletPool


def test_retire_a_free_wallet_removes_it_from_the_queue(btc: WalletPool) -> None:
    assert btc.retire("COIN", "a2") is True
    assert btc.peek("COIN", 10) == ["a0", "a1", "a3", "a4"]
    assert btc.stats("COIN").retired == 1


def test_retire_a_leased_wallet_ends_the_lease(btc: WalletPool, redis_client: redis.Redis) -> None:
    lease = btc.allocate("COIN", owner="o1")
    assert btc.retire("COIN", lease.address) is True
    assert btc.get_lease("COIN", "o1") is None
    with pytest.raises(LeaseLost):
        btc.release(lease)
    check_invariants(redis_client, "wp", "COIN")


def test_retire_a_cooling_wallet(btc: WalletPool, redis_client: redis.Redis) -> None:
    btc.configure("COIN", cooldown=60)
    lease = btc.allocate("COIN", owner="o1")
    btc.release(lease)
    assert btc.retire("COIN", lease.address) is True
    assert btc.stats("COIN").cooling == 0
    check_invariants(redis_client, "wp", "COIN")


def test_retire_refuses_an_unknown_address_and_returns_false_once_retired(
        btc: WalletPool) -> None:
    with pytest.raises(WalletNotFound, match="pool COIN has no wallet nowhere"):
        btc.retire("COIN", "nowhere")
    btc.retire("COIN", "a0")
    assert btc.retire("COIN", "a0") is False
    assert btc.stats("COIN").retired == 1

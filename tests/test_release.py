"""release and release_many: token checked, back to the tail or to cooling."""

from __future__ import annotations

import pytest
import redis

from tests.invariants import check_invariants
from walletpool import Lease, LeaseLost, WalletPool
from walletpool.testing import shift_clock


def test_release_puts_the_wallet_at_the_tail_of_the_free_queue(btc: WalletPool) -> None:
    lease = btc.allocate("COIN", owner="order-1")
    assert btc.release(lease) == "free"
    assert btc.peek("COIN", 10) == ["a1", "a2", "a3", "a4", "a0"]
    assert btc.get_lease("COIN", "order-1") is None


def test_release_twice_raises_lease_lost(btc: WalletPool) -> None:
    lease = btc.allocate("COIN", owner="order-1")
    btc.release(lease)
    with pytest.raises(LeaseLost, match="not leased") as caught:
        btc.release(lease)
    assert (caught.value.reason, caught.value.address, caught.value.token) == (
        "none", lease.address, lease.token)
    assert btc.peek("COIN", 10).count(lease.address) == 1


def test_release_with_a_stale_token_raises_lease_lost(btc: WalletPool) -> None:
    lease = btc.allocate("COIN", owner="order-1")
    stale = Lease(**{**lease.__dict__, "token": lease.token - 1 if lease.token > 1 else 99})
    with pytest.raises(LeaseLost, match="another token or owner") as caught:
        btc.release(stale)
    assert caught.value.reason == "stale"
    assert btc.get_lease("COIN", "order-1") == Lease(**{**lease.__dict__, "fresh": False})


def test_release_by_another_owner_raises_lease_lost(btc: WalletPool) -> None:
    lease = btc.allocate("COIN", owner="order-1")
    with pytest.raises(LeaseLost):
        btc.release(Lease(**{**lease.__dict__, "owner": "order-2"}))
    assert btc.get_lease("COIN", "order-1") is not None


def test_an_old_lease_cannot_release_the_wallet_after_it_was_reallocated(btc: WalletPool) -> None:
    for address in ["a1", "a2", "a3", "a4"]:
        btc.retire("COIN", address)
    old = btc.allocate("COIN", owner="order-1")
    btc.release(old)
    new = btc.allocate("COIN", owner="order-2")
    assert new.address == old.address and new.token > old.token
    with pytest.raises(LeaseLost):
        btc.release(old)
    assert btc.get_lease("COIN", "order-2") is not None


def test_release_of_an_expired_lease_raises_lease_lost_and_reclaims_it(
        btc: WalletPool, redis_client: redis.Redis) -> None:
    lease = btc.allocate("COIN", owner="order-1", ttl=10)
    shift_clock(btc, "COIN", 11)
    with pytest.raises(LeaseLost, match="expired") as caught:
        btc.release(lease)
    assert caught.value.reason == "expired"
    assert btc.stats("COIN").leased == 0
    assert btc.peek("COIN", 10)[-1] == lease.address
    check_invariants(redis_client, "wp", "COIN")


def test_release_with_a_cooldown_rests_the_wallet_before_reuse(btc: WalletPool) -> None:
    btc.configure("COIN", cooldown=30)
    lease = btc.allocate("COIN", owner="order-1")
    assert btc.release(lease) == "cooling"
    stats = btc.stats("COIN")
    assert (stats.free, stats.cooling) == (4, 1)
    assert lease.address not in btc.peek("COIN", 10)
    shift_clock(btc, "COIN", 31)
    btc.reap("COIN")
    assert btc.peek("COIN", 10)[-1] == lease.address


def test_release_many_releases_each_lease_on_its_own(btc: WalletPool) -> None:
    leases = btc.allocate_many("COIN", ["o1", "o2", "o3"])
    btc.release(leases[1])
    assert btc.release_many(leases) == [True, False, True]
    assert btc.stats("COIN").leased == 0
    assert btc.peek("COIN", 10) == ["a3", "a4", "a1", "a0", "a2"]


def test_release_many_refuses_leases_of_two_pools(btc: WalletPool) -> None:
    btc.configure("TOKEN")  # a plain pool, made on purpose
    btc.add("TOKEN", ["e0"])
    with pytest.raises(ValueError, match="one pool at a time"):
        btc.release_many([btc.allocate("COIN", owner="o"), btc.allocate("TOKEN", owner="o")])


def test_max_uses_retires_a_wallet_when_it_is_worn_out(btc: WalletPool) -> None:
    btc.configure("COIN", max_uses=2)
    for address in ["a1", "a2", "a3", "a4"]:
        btc.retire("COIN", address)
    assert btc.release(btc.allocate("COIN", owner="o1")) == "free"
    assert btc.release(btc.allocate("COIN", owner="o2")) == "retired"
    stats = btc.stats("COIN")
    assert (stats.free, stats.retired, stats.max_uses) == (0, 5, 2)

"""reap and the settling done by allocate: expired leases and cooled wallets come back."""

from __future__ import annotations

import redis

from tests.invariants import check_invariants
from walletpool import LeaseLost, WalletPool


def test_reap_reclaims_expired_leases_and_counts_them(btc: WalletPool,
                                                       redis_client: redis.Redis) -> None:
    short = [btc.allocate("BTC", owner=f"short-{i}", ttl=5) for i in range(3)]
    long = btc.allocate("BTC", owner="long", ttl=500)
    btc._shift_clock("BTC", 6)
    assert btc.stats("BTC").expired_unreaped == 3
    assert btc.reap("BTC") == 3
    assert btc.reap("BTC") == 0
    assert btc.peek("BTC", 10) == ["a4", *(x.address for x in short)]
    assert btc.get_lease("BTC", "long") is not None and long.address not in btc.peek("BTC")
    check_invariants(redis_client, "wp", "BTC")


def test_a_killed_client_lease_expires_and_its_late_release_is_refused(btc: WalletPool) -> None:
    lease = btc.allocate("BTC", owner="order-crashed", ttl=5)
    btc._shift_clock("BTC", 6)
    assert btc.reap("BTC") == 1
    try:
        btc.release(lease)
        raise AssertionError("release of a reaped lease succeeded")
    except LeaseLost as exc:
        assert exc.reason == "none"


def test_expired_leases_return_in_deadline_order(btc: WalletPool) -> None:
    late = btc.allocate("BTC", owner="late", ttl=9)
    early = btc.allocate("BTC", owner="early", ttl=3)
    btc._shift_clock("BTC", 10)
    btc.reap("BTC")
    assert btc.peek("BTC", 10)[-2:] == [early.address, late.address]


def test_cooled_wallets_return_in_the_order_their_leases_ended(btc: WalletPool) -> None:
    btc.configure("BTC", cooldown=20)
    first = btc.allocate("BTC", owner="o1")
    second = btc.allocate("BTC", owner="o2")
    btc.release(second)
    btc._shift_clock("BTC", 1)
    btc.release(first)
    btc._shift_clock("BTC", 20.5)
    btc.reap("BTC")
    assert btc.peek("BTC", 10) == ["a2", "a3", "a4", second.address]
    btc._shift_clock("BTC", 21.5)
    btc.reap("BTC")
    assert btc.peek("BTC", 10)[-2:] == [second.address, first.address]


def test_an_expired_lease_with_a_cooldown_cools_from_its_deadline(btc: WalletPool) -> None:
    btc.configure("BTC", cooldown=10)
    lease = btc.allocate("BTC", owner="o1", ttl=5)
    btc._shift_clock("BTC", 12)
    btc.reap("BTC")
    assert btc.stats("BTC").cooling == 1
    btc._shift_clock("BTC", 15.5)
    btc.reap("BTC")
    assert btc.peek("BTC", 10)[-1] == lease.address


def test_allocate_settles_expired_leases_without_a_reaper(btc: WalletPool) -> None:
    for i in range(5):
        btc.allocate("BTC", owner=f"o{i}", ttl=5)
    btc._shift_clock("BTC", 6)
    fresh = btc.allocate("BTC", owner="new-order")
    assert fresh.address == "a0"
    assert btc.stats("BTC").leased == 1


def test_an_owner_whose_lease_expired_gets_a_new_lease(btc: WalletPool) -> None:
    old = btc.allocate("BTC", owner="o1", ttl=5)
    btc._shift_clock("BTC", 6)
    assert btc.get_lease("BTC", "o1") is None
    new = btc.allocate("BTC", owner="o1")
    assert new.token > old.token and new.fresh


def test_reap_works_through_more_than_one_chunk(pool: WalletPool,
                                                redis_client: redis.Redis) -> None:
    pool.add("LTC", [f"l{i}" for i in range(2500)])
    pool.allocate_many("LTC", [f"o{i}" for i in range(2500)], ttl=1)
    pool._shift_clock("LTC", 2)
    assert pool.reap("LTC") == 2500
    assert pool.stats("LTC").free == 2500
    check_invariants(redis_client, "wp", "LTC")


def test_a_lease_at_its_exact_deadline_is_over_even_between_settles(btc: WalletPool) -> None:
    btc.allocate("BTC", owner="warm-up")  # settles now; the next settle is 1 s away
    old = btc.allocate("BTC", owner="o1", ttl=0.5)
    btc._shift_clock("BTC", 0.5)  # exactly the deadline, before the next settle
    assert btc.get_lease("BTC", "o1") is None
    new = btc.allocate("BTC", owner="o1")
    assert new.fresh and new.token > old.token and new.address != old.address

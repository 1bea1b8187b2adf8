"""reap and the settling done by allocate: expired leases and cooled wallets come back."""

from __future__ import annotations

import redis

from tests.invariants import check_invariants
from walletpool import LeaseLost, WalletPool
from walletpool.testing import shift_clock


def test_reap_reclaims_expired_leases_and_counts_them(btc: WalletPool,
                                                       redis_client: redis.Redis) -> None:
    short = [btc.allocate("COIN", owner=f"short-{i}", ttl=5) for i in range(3)]
    long = btc.allocate("COIN", owner="long", ttl=500)
    shift_clock(btc, "COIN", 6)
    assert btc.stats("COIN").expired_unreaped == 3
    assert btc.reap("COIN") == 3
    assert btc.reap("COIN") == 0
    assert btc.peek("COIN", 10) == ["a4", *(x.address for x in short)]
    assert btc.get_lease("COIN", "long") is not None and long.address not in btc.peek("COIN")
    check_invariants(redis_client, "wp", "COIN")


def test_a_killed_client_lease_expires_and_its_late_release_is_refused(btc: WalletPool) -> None:
    lease = btc.allocate("COIN", owner="order-crashed", ttl=5)
    shift_clock(btc, "COIN", 6)
    assert btc.reap("COIN") == 1
    try:
        btc.release(lease)
        raise AssertionError("release of a reaped lease succeeded")
    except LeaseLost as exc:
        assert exc.reason == "none"


def test_expired_leases_return_in_deadline_order(btc: WalletPool) -> None:
    late = btc.allocate("COIN", owner="late", ttl=9)
    early = btc.allocate("COIN", owner="early", ttl=3)
    shift_clock(btc, "COIN", 10)
    btc.reap("COIN")
    assert btc.peek("COIN", 10)[-2:] == [early.address, late.address]


def test_cooled_wallets_return_in_the_order_their_leases_ended(btc: WalletPool) -> None:
    btc.configure("COIN", cooldown=20)
    first = btc.allocate("COIN", owner="o1")
    second = btc.allocate("COIN", owner="o2")
    btc.release(second)
    shift_clock(btc, "COIN", 1)
    btc.release(first)
    shift_clock(btc, "COIN", 20.5)
    btc.reap("COIN")
    assert btc.peek("COIN", 10) == ["a2", "a3", "a4", second.address]
    shift_clock(btc, "COIN", 21.5)
    btc.reap("COIN")
    assert btc.peek("COIN", 10)[-2:] == [second.address, first.address]


def test_an_expired_lease_with_a_cooldown_cools_from_its_deadline(btc: WalletPool) -> None:
    btc.configure("COIN", cooldown=10)
    lease = btc.allocate("COIN", owner="o1", ttl=5)
    shift_clock(btc, "COIN", 12)
    btc.reap("COIN")
    assert btc.stats("COIN").cooling == 1
    shift_clock(btc, "COIN", 15.5)
    btc.reap("COIN")
    assert btc.peek("COIN", 10)[-1] == lease.address


def test_allocate_settles_expired_leases_without_a_reaper(btc: WalletPool) -> None:
    for i in range(5):
        btc.allocate("COIN", owner=f"o{i}", ttl=5)
    shift_clock(btc, "COIN", 6)
    fresh = btc.allocate("COIN", owner="new-order")
    assert fresh.address == "a0"
    assert btc.stats("COIN").leased == 1


def test_an_owner_whose_lease_expired_gets_a_new_lease(btc: WalletPool) -> None:
    old = btc.allocate("COIN", owner="o1", ttl=5)
    shift_clock(btc, "COIN", 6)
    assert btc.get_lease("COIN", "o1") is None
    new = btc.allocate("COIN", owner="o1")
    assert new.token > old.token and new.fresh


def test_reap_works_through_more_than_one_chunk(pool: WalletPool,
                                                redis_client: redis.Redis) -> None:
    pool.configure("CASH")  # a plain pool, made on purpose
    pool.add("CASH", [f"l{i}" for i in range(2500)])
    pool.allocate_many("CASH", [f"o{i}" for i in range(2500)], ttl=1)
    shift_clock(pool, "CASH", 2)
    assert pool.reap("CASH") == 2500
    assert pool.stats("CASH").free == 2500
    check_invariants(redis_client, "wp", "CASH")


def test_a_lease_at_its_exact_deadline_is_over_even_between_settles(btc: WalletPool) -> None:
    btc.allocate("COIN", owner="warm-up")  # settles now; the next settle is 1 s away
    old = btc.allocate("COIN", owner="o1", ttl=0.5)
    shift_clock(btc, "COIN", 0.5)  # exactly the deadline, before the next settle
    assert btc.get_lease("COIN", "o1") is None
    new = btc.allocate("COIN", owner="o1")
    assert new.fresh and new.token > old.token and new.address != old.address

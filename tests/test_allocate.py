"""allocate and allocate_many: FIFO, idempotent per owner, fencing, exhaustion."""

from __future__ import annotations

import pytest
import redis

from tests.invariants import check_invariants
from walletpool import Lease, PoolExhausted, PoolNotFound, WalletPool


def test_allocate_hands_out_wallets_in_the_order_they_were_added(btc: WalletPool) -> None:
    got = [btc.allocate("COIN", owner=f"order-{i}").address for i in range(5)]
    assert got == ["a0", "a1", "a2", "a3", "a4"]


def test_allocate_returns_a_complete_lease(btc: WalletPool) -> None:
    lease = btc.allocate("COIN", owner="order-42", correlation_id="cid-1", user_id="user-7")
    assert isinstance(lease, Lease)
    assert (lease.pool, lease.address, lease.owner) == ("COIN", "a0", "order-42")
    assert (lease.correlation_id, lease.user_id, lease.fresh) == ("cid-1", "user-7", True)
    assert lease.token >= 1
    assert lease.expires_at - lease.leased_at == pytest.approx(60, abs=0.01)


def test_allocate_takes_an_explicit_ttl(btc: WalletPool) -> None:
    lease = btc.allocate("COIN", owner="order-1", ttl=5.5)
    assert lease.expires_at - lease.leased_at == pytest.approx(5.5, abs=0.01)


def test_allocating_again_for_the_same_owner_returns_the_same_lease(btc: WalletPool) -> None:
    first = btc.allocate("COIN", owner="order-42")
    again = btc.allocate("COIN", owner="order-42", ttl=1)
    assert (again.address, again.token, again.expires_at) == (
        first.address, first.token, first.expires_at)
    assert again.fresh is False
    assert btc.stats("COIN").leased == 1


def test_tokens_strictly_increase_across_leases(btc: WalletPool) -> None:
    tokens = []
    for i in range(12):
        lease = btc.allocate("COIN", owner=f"order-{i}")
        tokens.append(lease.token)
        btc.release(lease)
    assert tokens == sorted(tokens) and len(set(tokens)) == len(tokens)


def test_tokens_start_at_the_clock_in_microseconds_or_go_on_from_a_counter_ahead(
        pool: WalletPool, redis_client: redis.Redis) -> None:
    pool.configure("LIVE")  # a plain pool, made on purpose
    pool.add("LIVE", [f"w{i}" for i in range(5)])  # the server's clock, not a frozen one
    seq = "wp:{LIVE}:seq"
    seconds, micros = redis_client.time()
    before = seconds * 1_000_000 + micros
    first = pool.allocate("LIVE", owner="order-1")
    seconds, micros = redis_client.time()
    assert before < first.token <= seconds * 1_000_000 + micros + 1  # the clock, in µs
    assert int(redis_client.get(seq) or 0) == first.token
    ahead = first.token + 10**9  # a counter ahead of the clock (a batch, a clock stepped back)
    redis_client.set(seq, ahead)
    second = pool.allocate("LIVE", owner="order-2")
    assert second.token == ahead + 1 and int(redis_client.get(seq) or 0) == ahead + 1
    many = pool.allocate_many("LIVE", ["order-3", "order-4"])
    assert [lease.token for lease in many] == [ahead + 2, ahead + 3]


def test_an_empty_pool_raises_pool_exhausted_with_the_counts(btc: WalletPool) -> None:
    for i in range(5):
        btc.allocate("COIN", owner=f"order-{i}")
    with pytest.raises(PoolExhausted, match="pool COIN has no free wallet") as caught:
        btc.allocate("COIN", owner="order-late")
    assert (caught.value.pool, caught.value.free, caught.value.leased) == ("COIN", 0, 5)
    assert btc.get_lease("COIN", "order-late") is None


def test_allocate_from_a_pool_never_created_raises_pool_not_found(pool: WalletPool) -> None:
    with pytest.raises(PoolNotFound, match="pool TOKEN does not exist"):
        pool.allocate("TOKEN", owner="order-1")


def test_allocate_many_serves_owners_in_fifo_order(btc: WalletPool) -> None:
    leases = btc.allocate_many("COIN", ["o1", "o2", "o3"], correlation_id="batch-1")
    assert [(x.owner, x.address) for x in leases] == [("o1", "a0"), ("o2", "a1"), ("o3", "a2")]
    assert all(x.correlation_id == "batch-1" for x in leases)
    assert len({x.token for x in leases}) == 3


def test_allocate_many_gives_a_repeated_or_holding_owner_one_lease(btc: WalletPool) -> None:
    held = btc.allocate("COIN", owner="o1")
    leases = btc.allocate_many("COIN", ["o1", "o2", "o2"])
    assert [(x.owner, x.address, x.fresh) for x in leases] == [
        ("o1", held.address, False), ("o2", "a1", True)]


def test_allocate_many_is_all_or_nothing_by_default(btc: WalletPool,
                                                    redis_client: redis.Redis) -> None:
    before = check_invariants(redis_client, "wp", "COIN")
    with pytest.raises(PoolExhausted, match="needs 6 free wallets, has 5"):
        btc.allocate_many("COIN", [f"o{i}" for i in range(6)])
    assert check_invariants(redis_client, "wp", "COIN") == before


def test_allocate_many_partial_serves_as_many_as_it_can(btc: WalletPool) -> None:
    leases = btc.allocate_many("COIN", [f"o{i}" for i in range(7)], partial=True)
    assert [x.owner for x in leases] == ["o0", "o1", "o2", "o3", "o4"]


def test_allocate_never_hands_out_a_leased_wallet(btc: WalletPool,
                                                  redis_client: redis.Redis) -> None:
    leases = [btc.allocate("COIN", owner=f"o{i}") for i in range(3)]
    btc.release(leases[1])
    more = [btc.allocate("COIN", owner=f"p{i}") for i in range(3)]
    held = [leases[0], leases[2], *more]
    assert len({x.address for x in held}) == len(held)
    check_invariants(redis_client, "wp", "COIN")

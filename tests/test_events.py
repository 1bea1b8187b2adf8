"""Invariant 7: every state change is recorded in the pool's stream by the script that
makes it, carrying absolute values (new state, lease deadline, use count); one entry
holds all the changes of one call."""

from __future__ import annotations

import contextlib
from typing import Any

import redis

from walletpool import WalletPool, WalletPoolError
from walletpool.store.apply import Event
from walletpool.testing import freeze_clock, shift_clock

STREAM = "wp:{COIN}:events"


def new_events(client: redis.Redis, after: str = "-") -> list[Event]:
    """Every change recorded in the stream from `after` on, as the syncer reads them."""
    entries: Any = client.xrange(STREAM, min=after)
    return [e for entry_id, fields in entries for e in Event.of_entry("COIN", entry_id, fields)]


def test_every_state_change_is_recorded_with_its_values(
        pool: WalletPool, redis_client: redis.Redis) -> None:
    pool.configure("COIN", lease_ttl=60, cooldown=0, max_uses=10)
    freeze_clock(pool, "COIN", 1_800_000_000)
    pool.add("COIN", ["a0", "a1", "a0"])
    lease = pool.allocate("COIN", "order-1", correlation_id="c1", user_id="u1")
    pool.allocate("COIN", "order-1")  # idempotent: no change, no event
    longer = pool.extend(lease, ttl=120)
    pool.release(longer)
    short = pool.allocate("COIN", "order-2", ttl=1)
    pool.configure("COIN", cooldown=5)
    shift_clock(pool, "COIN", 2)
    pool.reap("COIN")
    shift_clock(pool, "COIN", 8)
    pool.reap("COIN")
    pool.retire("COIN", "a1")
    pool.retire("COIN", "a1")  # already retired: no change, no event
    events = new_events(redis_client)
    kinds = [e.type for e in events]
    assert kinds == ["configured", "added", "added", "allocated", "extended", "released",
                     "allocated", "configured", "expired", "cooled", "retired"]
    # one entry per call: the add's two wallets share one
    assert redis_client.xlen(STREAM) == len(events) - 1
    assert [e.part for e in events[:3]] == [0, 0, 1] and events[1].seq == events[2].seq
    allocated = events[3]
    assert (allocated.address, allocated.state, allocated.owner, allocated.token,
            allocated.correlation_id, allocated.user_id, allocated.uses) == (
        "a0", "leased", "order-1", lease.token, "c1", "u1", 1)
    assert allocated.expires_at == round(lease.expires_at * 1000)
    assert allocated.at == round(lease.leased_at * 1000) == allocated.leased_at
    assert events[4].expires_at == round(longer.expires_at * 1000)
    assert (events[5].type, events[5].state, events[5].owner) == ("released", "free", "order-1")
    expired = events[8]
    assert (expired.address, expired.state, expired.owner, expired.expires_at) == (
        short.address, "cooling", "order-2", round(short.expires_at * 1000))
    assert events[10].state == "retired"
    assert "cooldown_ms=5000" in (events[7].settings or "")
    assert "max_uses=10" in (events[0].settings or "")


def test_a_batch_call_records_all_its_changes_in_one_entry(
        btc: WalletPool, redis_client: redis.Redis) -> None:
    before = redis_client.xlen(STREAM)
    leases = btc.allocate_many("COIN", ["o1", "o2", "o3"])
    assert redis_client.xlen(STREAM) == before + 1
    btc.release_many(leases)
    assert redis_client.xlen(STREAM) == before + 2
    last: Any = redis_client.xrevrange(STREAM, count=1)
    released = Event.of_entry("COIN", *last[0])
    assert [(e.type, e.address, e.token, e.part) for e in released] == [
        ("released", x.address, x.token, i) for i, x in enumerate(leases)]


def test_a_refused_operation_appends_nothing(btc: WalletPool, redis_client: redis.Redis) -> None:
    lease = btc.allocate("COIN", "o1")
    btc.release(lease)
    before = redis_client.xlen(STREAM)
    for refused in (lambda: btc.release(lease), lambda: btc.extend(lease),
                    lambda: btc.allocate_many("COIN", [f"x{i}" for i in range(9)])):
        with contextlib.suppress(WalletPoolError):  # the refusal itself is tested elsewhere
            refused()
    assert redis_client.xlen(STREAM) == before

"""Invariant 7: every state change appends exactly one event to the pool's stream, in
the same script, carrying absolute values (new state, lease deadline, use count)."""

from __future__ import annotations

import contextlib
from typing import Any

import redis

from walletpool import WalletPool, WalletPoolError
from walletpool.testing import freeze_clock, shift_clock

STREAM = "wp:{COIN}:events"
FIELDS = ["type", "address", "state", "owner", "token", "leased", "expires", "at", "cid", "uid",
          "uses"]


def new_events(client: redis.Redis, after: str = "-") -> list[dict[str, str]]:
    entries: Any = client.xrange(STREAM, min=after)
    return [fields for _, fields in entries]


def test_every_state_change_appends_one_event_with_its_values(
        pool: WalletPool, redis_client: redis.Redis) -> None:
    pool.configure("COIN", lease_ttl=60, cooldown=0)
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
    kinds = [e["type"] for e in events]
    assert kinds == ["configured", "added", "added", "allocated", "extended", "released",
                     "allocated", "configured", "expired", "cooled", "retired"]
    for e in events:
        if e["type"] != "configured":
            assert list(e) == FIELDS, e
    allocated = events[3]
    assert (allocated["address"], allocated["state"], allocated["owner"], allocated["token"],
            allocated["cid"], allocated["uid"], allocated["uses"]) == (
        "a0", "leased", "order-1", str(lease.token), "c1", "u1", "1")
    assert allocated["expires"] == str(round(lease.expires_at * 1000))
    assert events[4]["expires"] == str(round(longer.expires_at * 1000))
    assert (events[5]["type"], events[5]["state"]) == ("released", "free")
    expired = events[8]
    assert (expired["address"], expired["state"], expired["owner"], expired["expires"]) == (
        short.address, "cooling", "order-2", str(round(short.expires_at * 1000)))
    assert events[10]["state"] == "retired"
    assert "cooldown_ms=5000" in events[7]["settings"]


def test_a_refused_operation_appends_nothing(btc: WalletPool, redis_client: redis.Redis) -> None:
    lease = btc.allocate("COIN", "o1")
    btc.release(lease)
    before = redis_client.xlen(STREAM)
    for refused in (lambda: btc.release(lease), lambda: btc.extend(lease),
                    lambda: btc.allocate_many("COIN", [f"x{i}" for i in range(9)])):
        with contextlib.suppress(WalletPoolError):  # the refusal itself is tested elsewhere
            refused()
    assert redis_client.xlen(STREAM) == before

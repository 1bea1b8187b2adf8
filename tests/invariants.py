"""Checks of DESIGN.md's invariants made on the Redis keys themselves, not through the API."""

from __future__ import annotations

import json
from collections import Counter

import redis

from walletpool.keys import KEY_ORDER, pool_keys


def pool_state(client: redis.Redis, prefix: str, pool: str) -> dict[str, object]:
    k = dict(zip(KEY_ORDER, pool_keys(prefix, pool), strict=False))
    return {
        "free": [_s(a) for a in client.lrange(k["free"], 0, -1)],
        "state": {_s(a): _s(s) for a, s in client.hgetall(k["state"]).items()},
        "lease": {_s(a): json.loads(v) for a, v in client.hgetall(k["lease"]).items()},
        "owner": {_s(o): _s(a) for o, a in client.hgetall(k["owner"]).items()},
        "expiry": {_s(a): s for a, s in client.zrange(k["expiry"], 0, -1, withscores=True)},
        "cooling": {_s(a): s for a, s in client.zrange(k["cooling"], 0, -1, withscores=True)},
        "seq": int(client.get(k["seq"]) or 0),
    }


def check_invariants(client: redis.Redis, prefix: str, pool: str) -> dict[str, object]:
    """Invariants 1, 2 and 5 of DESIGN.md, read from the keys. Returns the state read."""
    st = pool_state(client, prefix, pool)
    free, state, lease, owner = st["free"], st["state"], st["lease"], st["owner"]
    expiry, cooling = st["expiry"], st["cooling"]
    assert isinstance(free, list) and isinstance(state, dict) and isinstance(lease, dict)
    assert isinstance(owner, dict) and isinstance(expiry, dict) and isinstance(cooling, dict)

    # 1. one state each; the free queue holds each wallet at most once
    repeated = [a for a, n in Counter(free).items() if n > 1]
    assert not repeated, f"free queue repeats {repeated}"
    by_state = Counter(state.values())
    assert set(by_state) <= {"free", "leased", "cooling", "retired"}, by_state
    assert {a for a, s in state.items() if s == "free"} == set(free)
    assert {a for a, s in state.items() if s == "leased"} == set(lease) == set(expiry)
    assert {a for a, s in state.items() if s == "cooling"} == set(cooling)

    # 2. one lease per wallet (a hash field) and one per owner, both ways consistent
    assert {v["o"]: a for a, v in lease.items()} == owner, "owner index out of step with leases"
    assert len(owner) == len(lease)
    for address, held in lease.items():
        assert float(held["e"]) == expiry[address], f"expiry of {address} out of step"
        assert 1 <= int(held["t"]) <= int(str(st["seq"])), f"token of {address} above seq"

    # 5. conservation: every known wallet is in exactly one of the structures
    assert len(free) + len(lease) + len(cooling) + by_state["retired"] == len(state)
    return st


def _s(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)

"""Checks of docs/design.md's invariants made on the Redis keys themselves, not through the API
(walletpool.verify), as assertions for the tests."""

from __future__ import annotations

from dataclasses import asdict

import redis

from walletpool.verify import pool_state as read_state
from walletpool.verify import problems


def pool_state(client: redis.Redis, prefix: str, pool: str) -> dict[str, object]:
    return asdict(read_state(client, prefix, pool))


def check_invariants(client: redis.Redis, prefix: str, pool: str) -> dict[str, object]:
    """Invariants 1, 2 and 5 of docs/design.md, read from the keys. Returns the state read."""
    st = read_state(client, prefix, pool)
    found = problems(st)
    assert not found, f"pool {pool}: " + "; ".join(found)
    return asdict(st)

"""Invariants 1, 2 and 5 of docs/design.md (the database's reserve counted by its Redis
tombstones, state 'reserve'), checked on a pool's Redis keys themselves (not
through the API): used by `walletpool demo` after its run and by the test suite."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

from .engine.calls import Reply, text
from .engine.wire import SyncRedis
from .keys import KEY_ORDER, pool_keys

STATES = {"free", "leased", "cooling", "retired", "reserve"}


@dataclass(frozen=True)
class PoolState:
    free: list[str]
    state: dict[str, str]
    lease: dict[str, dict[str, str]]
    owner: dict[str, str]
    expiry: dict[str, float]
    cooling: dict[str, float]
    seq: int
    reserve: set[str]


def _scored(client: SyncRedis, key: str) -> Reply:
    """A sorted set's (member, score) pairs, as redis-py's typing cannot say."""
    return client.zrange(key, 0, -1, withscores=True)


def pool_state(client: SyncRedis, prefix: str, pool: str) -> PoolState:
    """Every key of `pool`, read one by one (take it while the pool is quiet)."""
    k = dict(zip(KEY_ORDER, pool_keys(prefix, pool), strict=True))
    return PoolState(
        free=[text(a) for a in client.lrange(k["free"], 0, -1)],
        state={text(a): text(s) for a, s in client.hgetall(k["state"]).items()},
        lease={text(a): json.loads(v) for a, v in client.hgetall(k["lease"]).items()},
        owner={text(o): text(a) for o, a in client.hgetall(k["owner"]).items()},
        expiry={text(a): s for a, s in _scored(client, k["expiry"])},
        cooling={text(a): s for a, s in _scored(client, k["cooling"])},
        seq=int(client.get(k["seq"]) or 0),
        reserve={text(a) for a in client.smembers(k["reserve"])},
    )


def problems(st: PoolState) -> list[str]:
    """What breaks an invariant in `st`; empty when the pool is sound."""
    found: list[str] = []
    # 1. one state each; the free queue holds each wallet at most once
    repeated = sorted(a for a, n in Counter(st.free).items() if n > 1)
    if repeated:
        found.append(f"free queue repeats {repeated[:5]}")
    unknown = set(st.state.values()) - STATES
    if unknown:
        found.append(f"unknown states {sorted(unknown)}")
    by_state: dict[str, set[str]] = {s: set() for s in STATES}
    for address, state in st.state.items():
        by_state.setdefault(state, set()).add(address)
    if by_state["free"] != set(st.free):
        found.append("free queue and states disagree")
    if not by_state["leased"] == set(st.lease) == set(st.expiry):
        found.append("leased states, leases and deadlines disagree")
    if by_state["cooling"] != set(st.cooling):
        found.append("cooling states and cooling set disagree")
    if by_state["reserve"] != st.reserve:
        found.append("reserve states and reserve set disagree")
    # 2. one lease per wallet (a hash field) and one per owner, both ways consistent
    if {v["o"]: a for a, v in st.lease.items()} != st.owner or len(st.owner) != len(st.lease):
        found.append("owner index out of step with leases")
    for address, held in st.lease.items():
        if float(held["e"]) != st.expiry.get(address):
            found.append(f"deadline of {address} out of step")
        if not 1 <= int(held["t"]) <= st.seq:
            found.append(f"token of {address} outside 1..{st.seq}")
    # 5. conservation: every known wallet is in exactly one of the structures
    if len(st.free) + len(st.lease) + len(st.cooling) + len(st.reserve) \
            + len(by_state["retired"]) != len(st.state):
        found.append("free + leased + cooling + reserve + retired != every wallet added")
    return found

"""Invariants 1, 2 and 5 of docs/design.md (the database's reserve counted by its Redis
tombstones, state 'reserve'), checked on a pool's Redis keys themselves (not
through the API): used by `walletpool demo` after its run and by the test suite."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from .engine.calls import Reply, text
from .engine.wire import SyncRedis
from .keys import KEY_ORDER, OWNER_MARK, pool_keys, unpack_lease

STATES = {"free", "leased", "cooling", "retired", "reserve"}


@dataclass(frozen=True)
class PoolState:
    free: list[str]
    known: dict[str, str]
    """Every address ever added -> '1', or 'retired'."""
    lease: dict[str, dict[str, str]]
    """Address -> its lease by the one-letter names of keys.LEASE_FIELDS."""
    owner: dict[str, str]
    """Owner -> address: the owner index of the leases hash."""
    expiry: dict[str, float]
    cooling: dict[str, float]
    seq: int
    reserve: set[str]
    state: dict[str, str]
    """Address -> its state, read from where it stands (several when the keys disagree:
    joined with '+')."""
    waiters: list[str] = field(default_factory=list)
    """The owners waiting for a wallet, in line."""
    tickets: dict[str, str] = field(default_factory=dict)
    """Owner -> its ticket (includes/waiters.lua)."""


def _scored(client: SyncRedis, key: str) -> Reply:
    """A sorted set's (member, score) pairs, as redis-py's typing cannot say."""
    return client.zrange(key, 0, -1, withscores=True)


def pool_state(client: SyncRedis, prefix: str, pool: str) -> PoolState:
    """Every key of `pool`, read one by one (take it while the pool is quiet)."""
    k = dict(zip(KEY_ORDER, pool_keys(prefix, pool), strict=True))
    free = [text(a) for a in client.lrange(k["free"], 0, -1)]
    known = {text(a): text(s) for a, s in client.hgetall(k["known"]).items()}
    lease: dict[str, dict[str, str]] = {}
    owner: dict[str, str] = {}
    for key_field, value in client.hgetall(k["leases"]).items():
        name, raw = text(key_field), text(value)
        if name.startswith(OWNER_MARK):
            owner[name[len(OWNER_MARK):]] = raw
        else:
            lease[name] = unpack_lease(raw)
    cooling = {text(a): s for a, s in _scored(client, k["cooling"])}
    reserve = {text(a) for a in client.smembers(k["reserve"])}
    places: dict[str, list[str]] = {}
    for name, members in (("free", free), ("leased", lease), ("cooling", cooling),
                          ("reserve", reserve),
                          ("retired", [a for a, v in known.items() if v == "retired"])):
        for address in members:
            places.setdefault(address, []).append(name)
    return PoolState(
        free=free, known=known, lease=lease, owner=owner,
        expiry={text(a): s for a, s in _scored(client, k["expiry"])},
        cooling=cooling, seq=int(client.get(k["seq"]) or 0), reserve=reserve,
        state={a: "+".join(places.get(a, ["nowhere"])) for a in known} | {
            a: "+".join(p) + "+unknown" for a, p in places.items() if a not in known},
        waiters=[text(o) for o in client.zrange(k["waiters"], 0, -1)],
        tickets={text(o): text(t) for o, t in client.hgetall(k["tickets"]).items()},
    )


def problems(st: PoolState) -> list[str]:
    """What breaks an invariant in `st`; empty when the pool is sound."""
    found: list[str] = []
    # 1. one state each; the free queue holds each wallet at most once
    repeated = sorted(a for a, n in Counter(st.free).items() if n > 1)
    if repeated:
        found.append(f"free queue repeats {repeated[:5]}")
    marks = set(st.known.values()) - {"1", "retired"}
    if marks:
        found.append(f"unknown marks in known {sorted(marks)}")
    unsound = sorted(a for a, s in st.state.items() if s not in STATES)
    if unsound:
        found.append(f"wallets in no state or several: "
                     f"{[(a, st.state[a]) for a in unsound[:5]]}")
    if set(st.lease) != set(st.expiry):
        found.append("leases and deadlines disagree")
    # 2. one lease per wallet (a hash field) and one per owner, both ways consistent
    if {v["o"]: a for a, v in st.lease.items()} != st.owner or len(st.owner) != len(st.lease):
        found.append("owner index out of step with leases")
    for address, held in st.lease.items():
        if float(held["e"]) != st.expiry.get(address):
            found.append(f"deadline of {address} out of step")
        if not 1 <= int(held["t"]) <= st.seq:
            found.append(f"token of {address} outside 1..{st.seq}")
    # 9. an order waits in line with its ticket, and a ticket is in line
    if set(st.waiters) != set(st.tickets):
        found.append("orders waiting and their tickets disagree")
    # 5. conservation: every known wallet is in exactly one of the structures
    retired = sum(1 for v in st.known.values() if v == "retired")
    if len(st.free) + len(st.lease) + len(st.cooling) + len(st.reserve) + retired \
            != len(st.known):
        found.append("free + leased + cooling + reserve + retired != every wallet added")
    return found

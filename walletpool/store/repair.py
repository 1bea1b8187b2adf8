"""What `reconcile` finds wrong in a pool's own Redis structures, and `--repair`.

The structures must agree with each other (docs/design.md, invariants 1, 2 and 5): each
wallet ever added stands in exactly one place (once in the free queue, or leased with a
deadline and its owner's index entry, or cooling, or in the reserve, or retired), and
nothing stands anywhere that was never added. A wallet that fell out of the free queue
(a stray `RPOP` by hand, a bug, a partial restore) is never handed out again; one that
stands in two places can be handed out while it is held. Each finding says what it is
and what `--repair` does about it:

- a wallet in no place: the database's state when it has the wallet (its lease, its
  cooling, its retirement), else back to the tail of the free queue;
- a wallet in several places: the one that holds it most (retired, then leased, then
  the reserve, then cooling, then free), so a repair never frees a held wallet;
- twice in the free queue, a lease without its deadline or owner entry, a deadline
  without a lease: put right from the lease it has;
- an address in a place that was never added: taken out, unless the database knows the
  wallet (then it is added back to `known` where it stands);
- an owner index entry that names no lease of that owner: dropped;
- a token above the fencing counter: the counter moves up to it;
- a wallet the database knows newer than Redis (its row's event is above the stream's
  newest entry: Redis lost that write): as the database has it.

Every repair is one `repaired` change in the pool's stream (lua/repair.lua), so the
database learns it like any other change."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import sqlalchemy as sa

from ..engine.calls import Program, Query
from ..engine.operations import Operations
from ..engine.wire import SyncRedis
from ..verify import PoolState, pool_state
from . import schema
from .heal import HealRow, heal_row, lost_rows

CHUNK = 1_000
HOLDS_MOST = ("retired", "leased", "reserve", "cooling", "free")
"""Where a wallet found in several places goes: the first of these it stands in."""


@dataclass(frozen=True)
class Damage:
    pool: str
    address: str
    found: str
    repair: str
    target: HealRow | None = None
    """The state --repair gives the wallet (heal.lua's argument form), or None."""
    stray: bool = False
    """An address that was never added: --repair takes it out of every place."""
    owner: str | None = None
    """An owner index entry to drop."""

    def __str__(self) -> str:
        return f"{self.pool} {self.address}: {self.found} (repair: {self.repair})"


def database_rows(engine: sa.Engine, pool: str) -> dict[str, HealRow]:
    """The database's wallets of `pool` in heal.lua's argument form."""
    w = schema.wallets
    with engine.connect() as conn:
        rows = conn.execute(sa.select(w).where(w.c.pool == pool)).mappings().all()
    return {r["address"]: heal_row(r) for r in rows}


def inspect(st: PoolState, pool: str, known_to_db: dict[str, HealRow],
            newer_in_db: list[HealRow]) -> tuple[list[Damage], int]:
    """Every damage of `st` and the token floor the counter needs (0: none)."""
    found: list[Damage] = []
    decided: set[str] = set()

    def add(damage: Damage) -> None:
        if damage.address not in decided:
            decided.add(damage.address)
            found.append(damage)

    repeated = {a for a, n in Counter(st.free).items() if n > 1}
    for address, where in sorted(st.state.items()):
        places = list(dict.fromkeys(p for p in where.split("+")  # twice in free: once here
                                    if p not in ("unknown", "nowhere")))
        if "unknown" in where.split("+"):
            if address in known_to_db:
                add(Damage(pool, address, f"in {'+'.join(places)} but never added",
                           f"added back, {_kept(places)}", _own(st, address, _kept(places))))
            else:
                add(Damage(pool, address, f"in {'+'.join(places)} but never added",
                           "taken out of every place", stray=True))
        elif where == "nowhere":
            row = known_to_db.get(address)
            if row is not None:
                add(Damage(pool, address, "in no place: it can never be handed out",
                           f"as the database has it: {_describe(row)}", row))
            else:
                add(Damage(pool, address, "in no place: it can never be handed out",
                           "back to the tail of the free queue", _row(address, "free")))
        elif len(places) > 1:
            kept = _kept(places)
            add(Damage(pool, address, f"in {'+'.join(places)} at once: it could be handed "
                       "out while held", f"{kept} only", _own(st, address, kept)))
        elif address in repeated:
            add(Damage(pool, address, f"{Counter(st.free)[address]} times in the free queue",
                       "once, at the tail", _row(address, "free")))
    for address, held in sorted(st.lease.items()):
        deadline = st.expiry.get(address)
        if deadline is None or float(held["e"]) != deadline:
            add(Damage(pool, address, "leased without its deadline in the expiry index",
                       "its deadline indexed again", _own(st, address, "leased")))
        elif st.owner.get(held["o"]) != address:
            add(Damage(pool, address, f"leased to {held['o']}, whose index entry names "
                       f"{st.owner.get(held['o']) or 'nothing'}", "the owner's entry set",
                       _own(st, address, "leased")))
    for address in sorted(set(st.expiry) - set(st.lease)):
        place = st.state.get(address, "")
        target = _own(st, address, place) if place in HOLDS_MOST else None
        add(Damage(pool, address, "a deadline in the expiry index without a lease",
                   "the deadline dropped", target, stray=target is None))
    leased_to = {held["o"]: a for a, held in st.lease.items()}
    for owner, address in sorted(st.owner.items()):
        if leased_to.get(owner) != address and st.lease.get(address, {}).get("o") != owner:
            found.append(Damage(pool, f">{owner}", f"owner index entry names {address}, "
                                "which that owner does not lease", "the entry dropped",
                                owner=owner))
    for row in newer_in_db:
        if row[0] not in decided and _redis_state(st, row[0]) != _state_of(row):
            add(Damage(pool, row[0], f"the database has a newer record: {_describe(row)} "
                       f"(Redis: {st.state.get(row[0], 'absent')})", "as the database has it",
                       row))
    top = max((int(held["t"]) for held in st.lease.values()), default=0)
    if top > st.seq:
        found.append(Damage(pool, "", f"a lease's token {top} is above the fencing counter "
                            f"{st.seq}", "the counter moved up to it"))
    return found, top if top > st.seq else 0


def _kept(places: list[str]) -> str:
    return next(p for p in HOLDS_MOST if p in places)


def _row(address: str, state: str, *, lease: dict[str, str] | None = None,
         since: float | None = None) -> HealRow:
    if lease is not None:
        return (address, "leased", lease["o"], lease["t"], lease["l"], lease["e"], lease["c"],
                lease["u"], "", "")
    return (address, state, "", "", "", "", "", "", "",
            "" if since is None else str(int(since)))


def _own(st: PoolState, address: str, state: str) -> HealRow:
    """The wallet as Redis's own structures say, in `state`."""
    if state == "leased":
        return _row(address, state, lease=st.lease[address])
    if state == "cooling":
        return _row(address, state, since=st.cooling[address])
    return _row(address, state)


def _state_of(row: HealRow) -> str:
    return f"{row[1]} {row[2]} {row[3]}" if row[1] == "leased" else row[1]


def _redis_state(st: PoolState, address: str) -> str:
    where = st.state.get(address, "")
    if where == "leased":
        held = st.lease[address]
        return f"leased {held['o']} {held['t']}"
    return where


def _describe(row: HealRow) -> str:
    if row[1] == "leased":
        return f"leased to {row[2]} (token {row[3]})"
    return row[1]


def reconcile_structures(ops: Operations, client: SyncRedis, engine: sa.Engine | None,
                         prefix: str, pool: str, *, repair: bool = False
                         ) -> Program[list[Damage]]:
    """The damage in `pool`'s own structures (and what the database knows newer);
    with `repair`, mended (lua/repair.lua) and returned as it was found."""
    st: PoolState = yield Query(lambda: pool_state(client, prefix, pool))
    known: dict[str, HealRow] = {}
    newer: list[HealRow] = []
    if engine is not None:
        known = yield Query(lambda: database_rows(engine, pool))
        top = yield ops.newest_event(pool)
        lost = yield Query(lambda: lost_rows(engine, pool, top))
        newer = [r for r in lost.rows if r[1] != "reserve"]
    damage, token_floor = inspect(st, pool, known, newer)
    if repair and damage:
        strays = [d.address for d in damage if d.stray]
        owners = [d.owner for d in damage if d.owner]
        targets = [d.target for d in damage if d.target is not None]
        # a lease put back from the database may hold a token above the counter too
        token_floor = max([token_floor, *(int(t[3]) for t in targets if t[1] == "leased")])
        token_floor = token_floor if token_floor > st.seq else 0
        chunks = [targets[i : i + CHUNK] for i in range(0, len(targets), CHUNK)] or [[]]
        for i, chunk in enumerate(chunks):
            yield ops.repair(pool, chunk, strays=strays if i == 0 else [],
                             owners=owners if i == 0 else [], token_floor=token_floor)
    return damage

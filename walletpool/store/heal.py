"""Healing a pool whose Redis lost writes that the database has.

A replica promoted after it missed the last writes, or a Redis restarted from an AOF
that lost its last second, holds an older copy of the pool: the leases made in the
lost moments are gone, so their wallets sit in its free queue and would be handed out
while their holders still use them. The pool's scripts notice that they run on another
Redis process than the one the database last vouched for and fence the pool
(lua/includes/fence.lua); this puts back what was lost and lifts the fence.

What Redis lost is exactly what the database knows newer than Redis's newest stream
entry (`heal_from`, recorded when the pool was fenced): the wallet rows whose event is
above it. They go back as the database has them (a lease with its owner and token, a
cooling wallet, a retired one, a free one at the tail), together with every wallet the
database holds in its reserve. The fencing counter moves above the highest token the
database saw, and the final entry is written above the database's newest event, so
the syncer takes every later change as newer. Rows at or below `heal_from` are left
alone: Redis saw those changes, or newer ones.

A heal is a Program (engine/calls.py), so the syncer, both clients and `walletpool
heal` run the same steps. Chunks can go one by one because a fenced pool refuses every
other change; a second healer racing the first applies the same rows (each is applied
only where it differs), and a chunk that arrives after the fence was lifted is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from ..engine.calls import Program, Query, fields
from ..engine.operations import Operations
from ..errors import BackendUnavailable, PoolFenced
from ..logs import ContextLogger
from . import schema
from .apply import stream_id
from .migrations import check

log = ContextLogger()
CHUNK = 1_000
HealRow = tuple[str, ...]


@dataclass(frozen=True)
class Healed:
    pool: str
    fenced: bool
    """The pool was fenced (False: it ran on the process it was armed on, nothing to do)."""
    wallets: int = 0
    """Wallets whose state Redis had wrong and now has as the database does."""
    rows: int = 0
    """Database rows compared (those above heal_from, and the reserve's)."""
    heal_from: str = ""


@dataclass(frozen=True)
class Lost:
    """What the database knows that a fenced pool's Redis may not: its rows in heal.lua's
    argument form, the newest event id among them and the highest token ever seen."""

    rows: list[HealRow]
    entry_floor: str
    token_floor: int


def lost_rows(engine: sa.Engine, pool: str, heal_from: str) -> Lost:
    """The pool's wallet rows whose event is above `heal_from`, and every row the
    database holds (its reserve), in event order."""
    ms, seq = stream_id(heal_from)
    w = schema.wallets
    newer = sa.tuple_(w.c.event_ms, w.c.event_seq) > sa.tuple_(sa.literal(ms), sa.literal(seq))
    query = (sa.select(w).where(w.c.pool == pool, sa.or_(newer, schema.database_owned_sql(w)))
             .order_by(w.c.event_ms, w.c.event_seq, w.c.event_part))
    try:
        check(engine)
        with engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
            max_token = conn.execute(sa.select(schema.pools.c.max_token)
                                     .where(schema.pools.c.name == pool)).scalar() or 0
    except sa.exc.OperationalError as exc:
        raise BackendUnavailable(f"pool {pool} is fenced and the database to heal it from "
                                 f"is unavailable: {exc.orig}") from exc
    top = max(((r["event_ms"], r["event_seq"]) for r in rows), default=(0, 0))
    return Lost([heal_row(r) for r in rows], f"{top[0]}-{top[1]}" if rows else "",
                int(max_token))


def heal_row(row: sa.RowMapping) -> HealRow:
    """A wallet row in heal.lua's (and repair.lua's) argument form."""
    def s(value: object) -> str:
        return "" if value is None else str(value)

    state = row["state"]
    if schema.database_owned(state, row["token"]):
        return (row["address"], "reserve", "", "", "", "", "", "", s(row["uses"]), "")
    if state == "leased":
        return (row["address"], state, row["owner"], s(row["token"]), s(row["leased_at"]),
                s(row["expires_at"]), s(row["correlation_id"]), s(row["user_id"]),
                s(row["uses"]), "")
    return (row["address"], state, "", "", "", "", "", "", s(row["uses"]),
            s(row["cooling_since"]) if state == "cooling" else "")


def heal(ops: Operations, engine: sa.Engine, pool: str, *, arm: bool = False
         ) -> Program[Healed]:
    """Heal `pool` when it is fenced (see the module's text); `arm`: arm a pool that is
    not armed yet, as the syncer does for every pool it syncs."""
    status, heal_from = yield ops.heal_begin(pool, arm)
    if status != "fenced":
        return Healed(pool, fenced=False)
    log.warning("pool fenced: its Redis may have lost writes; healing from the database",
                extra=fields(pool=pool, heal_from=heal_from))
    lost: Lost = yield Query(lambda: lost_rows(engine, pool, heal_from))
    changed = 0
    chunks = [lost.rows[i : i + CHUNK] for i in range(0, len(lost.rows), CHUNK)] or [[]]
    for i, chunk in enumerate(chunks):
        final = i == len(chunks) - 1
        done = yield ops.heal(pool, heal_from, chunk, final=final,
                              entry_floor=lost.entry_floor if final else "",
                              token_floor=lost.token_floor if final else 0)
        if done is None:  # another healer finished first, or the pool was fenced again
            status, _ = yield ops.heal_begin(pool, False)
            if status == "fenced":
                raise PoolFenced.of(pool, "heal")
            break
        changed += done
    log.warning("pool healed from the database", extra=fields(
        pool=pool, heal_from=heal_from, rows=len(lost.rows), wallets=changed))
    return Healed(pool, fenced=True, wallets=changed, rows=len(lost.rows), heal_from=heal_from)

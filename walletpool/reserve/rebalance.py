"""`rebalance`: keep each pool's reserve in the database at its size. Needs Redis and
the database both; `walletpool rebalance` runs it, and so does the syncer every
`rebalance_every` seconds.

One pass over a pool:
1. applies the releases queued while Redis was down (Redis checks each token: a lease
   that ended meanwhile is refused, nothing else changes);
2. finishes moves a crash left half-way (rows still 'moving');
3. takes wallets from the head of Redis's free queue into the reserve while the reserve
   has fewer free wallets than its size (never leaving Redis fewer than max(1, min_free)
   free), or gives the surplus back to the tail of the free queue.
Each move is one script on the Redis side, with an event per wallet, and is written to
the database right after (reserve/queries.py explains why no wallet is ever on both
sides).

A pass is a Program (engine/calls.py): its Redis steps are script calls, its database
steps queries, so the sync and async clients run the same pass."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from ..engine.calls import Program, Query, fields
from ..engine.operations import Operations
from ..errors import LeaseLost
from ..logs import ContextLogger
from . import queries as reserve

log = ContextLogger()
CHUNK = 1_000


@dataclass(frozen=True, kw_only=True)
class Rebalanced:
    pool: str
    size: int
    """The reserve's size (configured, else the pool's min_free)."""
    taken: int
    """Wallets moved from Redis's free queue into the reserve."""
    returned: int
    """Wallets given back from the reserve to Redis."""
    released: int
    """Queued releases Redis applied."""
    refused: int
    """Queued releases Redis refused: the lease had expired or been reclaimed meanwhile."""
    repaired: int
    """Wallets of an interrupted move put right."""
    free_in_reserve: int
    """The reserve's free wallets afterwards."""


def rebalance(ops: Operations, engine: sa.Engine, name: str) -> Program[Rebalanced]:
    released, refused = yield from _apply_queued(ops, engine, name)
    moving = yield Query(lambda: reserve.moving(engine, name))
    repaired = yield from _give_back(ops, engine, name, moving)
    stats = yield ops.stats(name)  # Redis itself: this needs it up
    yield Query(lambda: reserve.ensure_pool(engine, name, {
        "lease_ttl_ms": round(stats.lease_ttl * 1000), "cooldown_ms": round(stats.cooldown * 1000),
        "max_size": stats.max_size, "max_uses": stats.max_uses or 0, "min_free": stats.min_free,
        "network": stats.network, "reserve": stats.reserve_target}))
    size = stats.reserve_target if stats.reserve_target is not None else stats.min_free
    have = (yield Query(lambda: reserve.counts(engine, name))).free
    taken = returned = 0
    if have < size:
        moved = yield ops.reserve_take(name, size - have, max(1, stats.min_free))
        yield Query(lambda: reserve.take(engine, name, moved))
        taken = len(moved)
    elif have > size:
        surplus = yield Query(lambda: reserve.mark_moving(engine, name, have - size))
        returned = yield from _give_back(ops, engine, name, surplus)
    free_now = (yield Query(lambda: reserve.counts(engine, name))).free
    done = Rebalanced(pool=name, size=size, taken=taken, returned=returned, released=released,
                      refused=refused, repaired=repaired, free_in_reserve=free_now)
    if taken or returned or released or refused or repaired:
        log.info("reserve rebalanced", extra=fields(
            pool=name, size=size, taken=taken, returned=returned, released=released,
            refused=refused, repaired=repaired, free_in_reserve=done.free_in_reserve))
    return done


def _apply_queued(ops: Operations, engine: sa.Engine, name: str) -> Program[tuple[int, int]]:
    released = refused = 0
    applied = []
    for row_id, lease in (yield Query(lambda: reserve.queued(engine, name))):
        try:
            yield ops.release(lease)
            released += 1
        except LeaseLost:
            refused += 1
        applied.append(row_id)
    yield Query(lambda: reserve.forget_queued(engine, applied))
    return released, refused


def _give_back(ops: Operations, engine: sa.Engine, name: str,
               wallets: Sequence[str]) -> Program[int]:
    """Hand 'moving' wallets to Redis and close the move in the database. Returns how
    many Redis took back now."""
    returned = 0
    for i in range(0, len(wallets), CHUNK):
        chunk = list(wallets[i : i + CHUNK])
        ids = yield ops.reserve_return(name, chunk)
        back = [(w, stream_id) for w, stream_id in zip(chunk, ids, strict=True) if stream_id]
        unsure = [w for w, stream_id in zip(chunk, ids, strict=True) if not stream_id]
        states = (yield ops.lookup(name, unsure)) if unsure else []
        # Not in Redis's reserve: in its service already (an earlier pass returned it), or
        # unknown to Redis (lost with its data): then the database keeps it. The first
        # take the stream's newest id: every event of theirs so far is then old news to
        # the syncer (a late 'reserved' above all), every later one applies.
        now = (yield ops.newest_event(name)) if any(states) else None
        in_redis = [(w, now) for w, state in zip(unsure, states, strict=True) if state]
        unknown = [w for w, state in zip(unsure, states, strict=True) if not state]
        settled, lost = [*back, *in_redis], unknown
        yield Query(lambda: reserve.finish_moving(engine, name, settled, lost))  # noqa: B023 (runs now)
        returned += len(back)
    return returned

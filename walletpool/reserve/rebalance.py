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
sides)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa

from ..engine.calls import fields, text
from ..errors import LeaseLost
from ..keys import key
from . import queries as reserve

if TYPE_CHECKING:
    from ..client import WalletPool

log = logging.getLogger("walletpool")
CHUNK = 1_000


@dataclass(frozen=True)
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


def rebalance(pool: WalletPool, engine: sa.Engine, name: str) -> Rebalanced:
    released, refused = _apply_queued(pool, engine, name)
    repaired = _give_back(pool, engine, name, reserve.moving(engine, name))
    stats = pool._call(pool._ops.stats(name))  # Redis itself: this needs it up
    reserve.ensure_pool(engine, name, {
        "lease_ttl_ms": round(stats.lease_ttl * 1000), "cooldown_ms": round(stats.cooldown * 1000),
        "max_size": stats.max_size, "max_uses": stats.max_uses or 0, "min_free": stats.min_free,
        "network": stats.network, "reserve": stats.reserve_target})
    size = stats.reserve_target if stats.reserve_target is not None else stats.min_free
    have = reserve.counts(engine, name).free
    taken = returned = 0
    if have < size:
        moved = pool._call(pool._ops.reserve_take(name, size - have, max(1, stats.min_free)))
        reserve.take(engine, name, moved)
        taken = len(moved)
    elif have > size:
        returned = _give_back(pool, engine, name, reserve.mark_moving(engine, name, have - size))
    done = Rebalanced(name, size, taken, returned, released, refused, repaired,
                      reserve.counts(engine, name).free)
    if taken or returned or released or refused or repaired:
        log.info("reserve rebalanced", extra=fields(
            pool=name, size=size, taken=taken, returned=returned, released=released,
            refused=refused, repaired=repaired, free_in_reserve=done.free_in_reserve))
    return done


def _apply_queued(pool: WalletPool, engine: sa.Engine, name: str) -> tuple[int, int]:
    released = refused = 0
    applied = []
    for row_id, lease in reserve.queued(engine, name):
        try:
            pool._call(pool._ops.release(lease))
            released += 1
        except LeaseLost:
            refused += 1
        applied.append(row_id)
    reserve.forget_queued(engine, applied)
    return released, refused


def _newest_event(pool: WalletPool, name: str) -> str:
    newest = pool.redis.xinfo_stream(key(pool.settings.prefix, name, "events"))
    return text(newest["last-generated-id"])


def _give_back(pool: WalletPool, engine: sa.Engine, name: str, wallets: Sequence[str]) -> int:
    """Hand 'moving' wallets to Redis and close the move in the database. Returns how
    many Redis took back now."""
    returned = 0
    for i in range(0, len(wallets), CHUNK):
        chunk = list(wallets[i : i + CHUNK])
        ids = pool._call(pool._ops.reserve_return(name, chunk))
        back = [(w, stream_id) for w, stream_id in zip(chunk, ids, strict=True) if stream_id]
        unsure = [w for w, stream_id in zip(chunk, ids, strict=True) if not stream_id]
        states = pool._call(pool._ops.lookup(name, unsure)) if unsure else []
        # Not in Redis's reserve: in its service already (an earlier pass returned it), or
        # unknown to Redis (lost with its data): then the database keeps it. The first
        # take the stream's newest id: every event of theirs so far is then old news to
        # the syncer (a late 'reserved' above all), every later one applies.
        now = _newest_event(pool, name) if any(states) else None
        in_redis = [(w, now) for w, state in zip(unsure, states, strict=True) if state]
        unknown = [w for w, state in zip(unsure, states, strict=True) if not state]
        reserve.finish_moving(engine, name, [*back, *in_redis], unknown)
        returned += len(back)
    return returned

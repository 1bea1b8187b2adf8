"""The reserve: wallets the database holds back and Redis never sees, so that orders get
wallets while Redis is down without any chance of a wallet Redis handed out in its last
unsynced moments being handed out again (docs/design.md, "The two lanes"; invariant 8).

Every operation here is write-through, one transaction each: the wallet row, the
pool's counters and an event row change together. A wallet is taken FIFO by release
time with `FOR UPDATE SKIP LOCKED` (on PostgreSQL; SQLite serialises writers anyway).
Tokens come from the pool's own counter above RESERVE_TOKEN_BASE, event ids from
`ms-(DB_EVENT_SEQ_BASE + n)`, so neither can collide with what Redis issues. Times
are the database's clock, one clock for every client.

Wallets enter the reserve only through `take` (after reserve_take.lua removed them from
Redis) and leave it only through `mark_moving` + `finish_moving` (around
reserve_return.lua); the syncer never touches a row the database holds
(apply.database_owned)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from ..chains import wallets
from ..errors import LeaseLost, LostReason, PoolNotFound
from ..models import RESERVE_TOKEN_BASE, EventType, Lease, ReleasedTo, WalletState
from ..store import schema
from ..store.apply import Event
from ..store.migrations import check

w = schema.wallets
p = schema.pools
RESERVE_LEASED = schema.reserve_leased(w)


@dataclass(frozen=True)
class ReserveCounts:
    free: int
    """Wallets in the reserve ready to hand out (cooldown over) or cooling there."""
    leased: int
    """Leases the reserve issued that are still live."""
    moving: int
    """Wallets on their way back to Redis."""
    expired: int
    """Reserve leases past their deadline, not yet returned to the reserve."""


def db_now_ms(conn: sa.Connection) -> int:
    """The database's clock in epoch ms."""
    if conn.dialect.name == "postgresql":
        query = "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint"
    else:
        query = "SELECT CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"
    return int(conn.execute(sa.text(query)).scalar_one())


def _locked(conn: sa.Connection, query: sa.Select[Any]) -> sa.Select[Any]:
    return query.with_for_update(skip_locked=True) if conn.dialect.name == "postgresql" \
        else query


def _pool(conn: sa.Connection, pool: str) -> sa.RowMapping:
    row = conn.execute(sa.select(p).where(p.c.name == pool)).mappings().first()
    if row is None:
        raise PoolNotFound(f"pool {pool} is not in the database: nothing in its reserve")
    return row


def _counters(conn: sa.Connection, pool: str, tokens: int, events: int) -> tuple[int, int]:
    """Take `tokens` tokens and `events` event numbers from the pool's counters; returns
    the first of each. The pool row stays locked until the transaction ends."""
    row = conn.execute(
        p.update().where(p.c.name == pool)
        .values(reserve_token=p.c.reserve_token + tokens, db_events=p.c.db_events + events)
        .returning(p.c.reserve_token, p.c.db_events)).one()
    return (RESERVE_TOKEN_BASE + int(row[0]) - tokens + 1,
            schema.DB_EVENT_SEQ_BASE + int(row[1]) - events + 1)


def _event(conn: sa.Connection, pool: str, seq: int, at_ms: int, kind: EventType,
           row: dict[str, Any], state: WalletState) -> tuple[int, int]:
    """Record an event of the database's own; returns its id (ms, seq)."""
    ms = max(at_ms, int(row.get("event_ms") or 0))
    conn.execute(schema.events.insert().values(Event(
        pool=pool, ms=ms, seq=seq, type=kind, at=at_ms, address=row["address"], state=state,
        owner=row.get("owner"), token=row.get("token"), leased_at=row.get("leased_at"),
        expires_at=row.get("expires_at"), correlation_id=row.get("correlation_id"),
        user_id=row.get("user_id"), uses=row.get("uses")).row()))
    return ms, seq


def _live_lease(conn: sa.Connection, pool: str, owner: str, now: int) -> sa.RowMapping | None:
    """The row of `owner`'s live reserve lease, if any."""
    return conn.execute(sa.select(w).where(
        w.c.pool == pool, w.c.owner == owner, RESERVE_LEASED, w.c.expires_at > now)
    ).mappings().first()


def _ready(conn: sa.Connection, pool: str, cooldown_ms: int, now: int, count: int
           ) -> sa.Select[Any]:
    """The reserve's ready wallets (cooldown over), oldest release first, locked and
    skipping the ones another transaction holds."""
    return _locked(conn, sa.select(w).where(
        w.c.pool == pool, w.c.state == "reserve", w.c.released_at <= now - cooldown_ms)
        .order_by(w.c.released_at, w.c.address).limit(count))


def _lease(pool: str, row: Any, fresh: bool) -> Lease:
    address, tag = wallets.split(row["address"])
    return Lease(pool=pool, address=address, owner=row["owner"], token=int(row["token"]),
                 expires_at=row["expires_at"] / 1000, leased_at=row["leased_at"] / 1000,
                 correlation_id=row["correlation_id"], user_id=row["user_id"], fresh=fresh,
                 tag=tag)


def _expire_due(conn: sa.Connection, pool: str, now: int) -> int:
    """Return the reserve's expired leases to it (released at their deadline)."""
    due = conn.execute(_locked(conn, sa.select(w).where(
        w.c.pool == pool, RESERVE_LEASED, w.c.expires_at <= now))).mappings().all()
    if not due:
        return 0
    _, seq = _counters(conn, pool, 0, len(due))
    for i, row in enumerate(due):
        ms, s = _event(conn, pool, seq + i, now, "expired", dict(row), "reserve")
        conn.execute(w.update().where(w.c.pool == pool, w.c.address == row["address"]).values(
            state="reserve", owner=None, token=None, leased_at=None, expires_at=None,
            correlation_id=None, user_id=None, released_at=row["expires_at"],
            event_ms=ms, event_seq=s, event_part=0))
    return len(due)


def allocate(engine: sa.Engine, pool: str, owner: str, ttl_ms: int | None,
             correlation_id: str | None, user_id: str | None) -> Lease | None:
    """Lease the reserve's oldest ready wallet to `owner` (the owner's live reserve lease
    again when it has one); None when the reserve has no ready wallet."""
    with engine.begin() as conn:
        settings = _pool(conn, pool)
        now = db_now_ms(conn)
        held = _live_lease(conn, pool, owner, now)
        if held is not None:
            return _lease(pool, held, fresh=False)
        _expire_due(conn, pool, now)
        picked = conn.execute(_ready(conn, pool, settings["cooldown_ms"], now, 1)
                              ).mappings().first()
        if picked is None:
            return None
        token, seq = _counters(conn, pool, 1, 1)
        row = dict(picked, state="leased", owner=owner, token=token, leased_at=now,
                   expires_at=now + (ttl_ms or settings["lease_ttl_ms"]), released_at=None,
                   cooling_since=None, correlation_id=correlation_id, user_id=user_id,
                   uses=int(picked["uses"] or 0) + 1)
        row["event_ms"], row["event_seq"] = _event(conn, pool, seq, now, "allocated", row,
                                                   "leased")
        row["event_part"] = 0
        conn.execute(w.update().where(w.c.pool == pool, w.c.address == picked["address"])
                     .values({k: v for k, v in row.items() if k not in ("pool", "address")}))
        return _lease(pool, row, fresh=True)


def _held(conn: sa.Connection, lease: Lease, now: int) -> sa.RowMapping:
    """The row of `lease` while it is live, locked; else LeaseLost."""
    row = conn.execute(sa.select(w).where(
        w.c.pool == lease.pool, w.c.address == lease.wallet).with_for_update()
    ).mappings().first()
    if row is None or row["state"] != "leased" or row["token"] != lease.token \
            or row["owner"] != lease.owner:
        reason: LostReason = "stale" if row is not None and row["state"] == "leased" else "none"
    elif row["expires_at"] <= now:
        reason = "expired"
    else:
        return row
    raise LeaseLost.of(pool=lease.pool, address=lease.wallet, owner=lease.owner,
                       token=lease.token, reason=reason)


def release(engine: sa.Engine, lease: Lease) -> ReleasedTo:
    """End a reserve lease: the wallet goes back to the reserve (its cooldown counted from
    now). Returns 'reserve'; LeaseLost when the lease is no longer held."""
    try:
        return _release(engine, lease)
    except LeaseLost as lost:
        if lost.reason == "expired":  # settle it now (the failed transaction rolled back)
            with engine.begin() as conn:
                _expire_due(conn, lease.pool, db_now_ms(conn))
        raise


def _release(engine: sa.Engine, lease: Lease) -> ReleasedTo:
    with engine.begin() as conn:
        now = db_now_ms(conn)
        row = dict(_held(conn, lease, now))
        _, seq = _counters(conn, lease.pool, 0, 1)
        ms, s = _event(conn, lease.pool, seq, now, "released", row, "reserve")
        conn.execute(w.update().where(w.c.pool == lease.pool, w.c.address == lease.wallet)
                     .values(state="reserve", owner=None, token=None, leased_at=None,
                             expires_at=None, correlation_id=None, user_id=None,
                             released_at=now, event_ms=ms, event_seq=s, event_part=0))
        return "reserve"


def extend(engine: sa.Engine, lease: Lease, ttl_ms: int | None) -> Lease:
    with engine.begin() as conn:
        now = db_now_ms(conn)
        row = dict(_held(conn, lease, now))
        settings = _pool(conn, lease.pool)
        row["expires_at"] = now + (ttl_ms or settings["lease_ttl_ms"])
        _, seq = _counters(conn, lease.pool, 0, 1)
        row["event_ms"], row["event_seq"] = _event(conn, lease.pool, seq, now, "extended", row,
                                                   "leased")
        conn.execute(w.update().where(w.c.pool == lease.pool, w.c.address == lease.wallet)
                     .values(expires_at=row["expires_at"], event_ms=row["event_ms"],
                             event_seq=row["event_seq"], event_part=0))
        return _lease(lease.pool, row, fresh=True)


def get_lease(engine: sa.Engine, pool: str, owner: str) -> Lease | None:
    with engine.connect() as conn:
        row = _live_lease(conn, pool, owner, db_now_ms(conn))
        return None if row is None else _lease(pool, row, fresh=False)


def counts(engine: sa.Engine, pool: str) -> ReserveCounts:
    with engine.connect() as conn:
        now = db_now_ms(conn)
        live = sa.and_(RESERVE_LEASED, w.c.expires_at > now)
        dead = sa.and_(RESERVE_LEASED, w.c.expires_at <= now)
        row = conn.execute(sa.select(
            sa.func.count().filter(w.c.state == "reserve"),
            sa.func.count().filter(live), sa.func.count().filter(w.c.state == "moving"),
            sa.func.count().filter(dead)).where(w.c.pool == pool)).one()
        return ReserveCounts(*(int(v) for v in row))


def target(engine: sa.Engine, pool: str) -> int | None:
    """The reserve size the database knows for `pool` (None: the default)."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(p.c.reserve).where(p.c.name == pool)).first()
        return None if row is None or row[0] is None else int(row[0])


# -- moves between Redis and the reserve (store side; walletpool.reserve.rebalance drives them) ---

def ensure_pool(engine: sa.Engine, pool: str, settings: dict[str, Any]) -> None:
    """Create the pool's row from Redis's settings when the syncer has not yet: the
    reserve's counters live in it. Its event id stays 0, so the syncer's first
    'configured' event still applies."""
    with engine.begin() as conn:
        if conn.execute(sa.select(p.c.name).where(p.c.name == pool)).first() is None:
            conn.execute(p.insert().values(name=pool, **settings))


def take(engine: sa.Engine, pool: str, moved: Sequence[tuple[str, str]]) -> None:
    """Record wallets reserve_take.lua moved out of Redis: (wallet, stream id of its
    'reserved' event). The row takes that event's id, so Redis's earlier events of the
    wallet are older and the syncer leaves the row alone."""
    if not moved:
        return
    with engine.begin() as conn:
        for wallet, stream_id in moved:
            ms, seq = (int(x) for x in stream_id.split("-"))
            values = {"state": "reserve", "owner": None, "token": None, "leased_at": None,
                      "expires_at": None, "cooling_since": None, "correlation_id": None,
                      "user_id": None, "released_at": ms, "event_ms": ms, "event_seq": seq,
                      "event_part": 0}
            done = conn.execute(w.update().where(w.c.pool == pool, w.c.address == wallet)
                                .values(values)).rowcount
            if not done:  # the syncer has not written the wallet yet
                conn.execute(w.insert().values(pool=pool, address=wallet, uses=0, **values))


def mark_moving(engine: sa.Engine, pool: str, count: int) -> list[str]:
    """Pick up to `count` of the reserve's ready wallets (oldest first) to give back to
    Redis, and mark them 'moving': from now on neither side hands them out."""
    with engine.begin() as conn:
        settings = _pool(conn, pool)
        now = db_now_ms(conn)
        rows = [r["address"] for r in conn.execute(
            _ready(conn, pool, settings["cooldown_ms"], now, count)).mappings()]
        if rows:
            conn.execute(w.update().where(w.c.pool == pool, w.c.address.in_(rows))
                         .values(state="moving"))
        return rows


def moving(engine: sa.Engine, pool: str) -> list[str]:
    """Wallets left 'moving' (a rebalance that stopped half-way)."""
    with engine.connect() as conn:
        return list(conn.execute(sa.select(w.c.address).where(
            w.c.pool == pool, w.c.state == "moving")).scalars())


def finish_moving(engine: sa.Engine, pool: str, back_in_redis: Sequence[tuple[str, str | None]],
                  still_reserved: Sequence[str]) -> None:
    """Close a move: wallets now in Redis become ordinary rows again, from the stream id
    given (their 'unreserved' event, or the stream's newest when that is unknown), so
    that only later events of theirs apply; wallets Redis does not know return to the
    reserve."""
    with engine.begin() as conn:
        for wallet, stream_id in back_in_redis:
            ms, seq = (int(x) for x in stream_id.split("-")) if stream_id else (0, 0)
            conn.execute(w.update().where(w.c.pool == pool, w.c.address == wallet,
                                          w.c.state == "moving")
                         .values(state="free", released_at=ms or None, event_ms=ms,
                                 event_seq=seq, event_part=0))
        if still_reserved:
            conn.execute(w.update().where(w.c.pool == pool, w.c.address.in_(still_reserved),
                                          w.c.state == "moving").values(state="reserve"))


# -- a pool on the database alone (ENABLE_REDIS_WALLET_QUEUES=false) -------------------------

def configure(engine: sa.Engine, pool: str, settings: dict[str, Any]) -> bool:
    """Create `pool` in the database or change its settings (columns of
    walletpool_pools; None leaves one as it is). Returns True when it was created."""
    given = {k: v for k, v in settings.items() if v is not None}
    with engine.begin() as conn:
        if conn.execute(sa.select(p.c.name).where(p.c.name == pool)).first() is None:
            conn.execute(p.insert().values(name=pool, **{
                "lease_ttl_ms": 900_000, "cooldown_ms": 0, "max_size": 1_000_000,
                "max_uses": 0, "min_free": 0, "network": "", **given}))
            return True
        if given:
            conn.execute(p.update().where(p.c.name == pool).values(given))
        return False


CHUNK = 5_000  # rows a statement: well under PostgreSQL's 65,535 parameters


def known(engine: sa.Engine, pool: str, wallets_: Sequence[str]) -> set[str]:
    """Which of `wallets_` the pool has already (in any state)."""
    with engine.connect() as conn:
        return _known(conn, pool, wallets_)


def _known(conn: sa.Connection, pool: str, wallets_: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for i in range(0, len(wallets_), CHUNK):
        found.update(conn.execute(sa.select(w.c.address).where(
            w.c.pool == pool, w.c.address.in_(list(wallets_[i : i + CHUNK])))).scalars())
    return found


def add(engine: sa.Engine, pool: str, checked: Sequence[str]) -> tuple[int, int]:
    """Add wallets (checked and canonical) straight into the reserve, in order, skipping
    known ones; one 'added' event each; all or nothing. Returns (added, duplicates)."""
    with engine.begin() as conn:
        settings = _pool(conn, pool)
        now = db_now_ms(conn)
        have = _known(conn, pool, checked)
        fresh = list(dict.fromkeys(a for a in checked if a not in have))
        serving = conn.execute(sa.select(sa.func.count()).where(
            w.c.pool == pool, w.c.state != "retired")).scalar_one()
        if serving + len(fresh) > settings["max_size"]:
            from ..errors import PoolFull

            raise PoolFull(f"pool {pool} holds {serving} wallets of at most "
                           f"{settings['max_size']}: adding {len(fresh)} would pass it",
                           pool=pool, in_service=serving, max_size=settings["max_size"],
                           would_add=len(fresh))
        if fresh:
            _, seq = _counters(conn, pool, 0, len(fresh))
            # one ms apart, all in the past: FIFO in the order given, ready at once
            rows = [{"pool": pool, "address": a, "state": "reserve", "uses": 0,
                     "released_at": now - len(fresh) + i, "event_ms": now, "event_seq": seq + i}
                    for i, a in enumerate(fresh)]
            events = [Event(pool=pool, ms=now, seq=seq + i, type="added", at=now, address=a,
                            state="reserve", uses=0).row() for i, a in enumerate(fresh)]
            for i in range(0, len(rows), CHUNK):
                conn.execute(w.insert(), rows[i : i + CHUNK])
                conn.execute(schema.events.insert(), events[i : i + CHUNK])
        return len(fresh), len(checked) - len(fresh)


def reap(engine: sa.Engine, pool: str) -> int:
    """Return the reserve's expired leases to it now; how many."""
    with engine.begin() as conn:
        _pool(conn, pool)
        return _expire_due(conn, pool, db_now_ms(conn))


# -- releases of Redis leases while Redis is down ---------------------------------------------

def queue_release(engine: sa.Engine, lease: Lease) -> None:
    with engine.begin() as conn:
        conn.execute(schema.queued_releases.insert().values(
            pool=lease.pool, address=lease.wallet, owner=lease.owner, token=lease.token,
            queued_at=db_now_ms(conn)))


def queued(engine: sa.Engine, pool: str) -> list[tuple[int, Lease]]:
    """The releases queued for `pool`, oldest first, as (id, the lease to release)."""
    q = schema.queued_releases
    with engine.connect() as conn:
        rows = conn.execute(sa.select(q).where(q.c.pool == pool).order_by(q.c.id)).mappings()
        out = []
        for row in rows:
            address, tag = wallets.split(row["address"])
            out.append((int(row["id"]), Lease(pool=pool, address=address, owner=row["owner"],
                                              token=int(row["token"]), expires_at=0.0,
                                              leased_at=0.0, tag=tag)))
        return out


def forget_queued(engine: sa.Engine, ids: Sequence[int]) -> None:
    q = schema.queued_releases
    with engine.begin() as conn:
        conn.execute(q.delete().where(q.c.id.in_(list(ids))))


def ready(engine: sa.Engine) -> sa.Engine:
    """`engine` once its schema is this walletpool's (raises otherwise)."""
    check(engine)
    return engine

"""Applying a pool's events to the database: one batch, one transaction.

Events are inserted once (keyed by pool and stream id; a replayed batch inserts
nothing). A wallet row takes the state of an event only when the event is newer than
the one that set the row, and a pool's settings likewise; use counts and the highest
token only grow. So batches may arrive twice or out of order (two syncers, entries
reclaimed from a crashed one) and the rows still end as the newest event says."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from ..engine.calls import text
from ..models import EventType, WalletState
from . import schema


@dataclass(frozen=True, kw_only=True)
class Event:
    """One change of a pool, as its stream entry (or a reserve event row) carries it."""

    pool: str
    ms: int
    seq: int
    """(ms, seq) is the stream id: the events' order, and what makes applying idempotent."""
    type: EventType
    part: int = 0
    """The change's place in its stream entry (one entry carries all of a call's changes)."""
    at: int
    """When the change happened, epoch ms."""
    address: str | None = None
    state: WalletState | None = None
    owner: str | None = None
    token: int | None = None
    leased_at: int | None = None
    expires_at: int | None = None
    correlation_id: str | None = None
    user_id: str | None = None
    uses: int | None = None
    settings: str | None = None
    """A 'configured' event's settings, `name=value` pairs."""

    @property
    def stream_id(self) -> str:
        return f"{self.ms}-{self.seq}"

    @classmethod
    def of_entry(cls, pool: str, entry_id: str | bytes, fields: Mapping[Any, Any]
                 ) -> list[Event]:
        """The changes one stream entry carries, in order: the lines of its 'c' field
        (includes/emit.lua), or, in an entry written by walletpool 0.1, its one change."""
        f = {text(k): text(v) for k, v in fields.items()}
        ms, seq = (int(x) for x in text(entry_id).split("-"))
        at = int(f.get("at") or ms)
        if "c" not in f:
            return [cls(pool=pool, ms=ms, seq=seq, type=f["type"],  # type: ignore[arg-type]
                        at=at, address=f.get("address") or None,
                        state=f.get("state") or None,  # type: ignore[arg-type]
                        owner=f.get("owner") or None, token=_int(f.get("token")),
                        leased_at=_int(f.get("leased")), expires_at=_int(f.get("expires")),
                        correlation_id=f.get("cid") or None, user_id=f.get("uid") or None,
                        uses=_int(f.get("uses")), settings=f.get("settings") or None)]
        events = []
        for part, line in enumerate(f["c"].split("\n")):
            kind, address, state, owner, token, leased, expires, cid, uid, uses, *settings = \
                line.split(" ")
            events.append(cls(
                pool=pool, ms=ms, seq=seq, part=part, type=kind,  # type: ignore[arg-type]
                at=at, address=address or None, state=state or None,  # type: ignore[arg-type]
                owner=owner or None, token=_int(token), leased_at=_int(leased),
                expires_at=_int(expires), correlation_id=cid or None, user_id=uid or None,
                uses=_int(uses), settings=" ".join(settings) or None))
        return events

    def row(self) -> dict[str, Any]:
        names = {"event_ms": "ms", "event_seq": "seq", "event_part": "part"}
        return {c.name: getattr(self, names.get(c.name, c.name)) for c in schema.events.columns}



def stream_id(text: str) -> tuple[int, int]:
    """A stream id 'ms-seq' as numbers, so ids compare in stream order."""
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


def _int(value: str | None) -> int | None:
    return int(value) if value else None


def _insert(conn: sa.Connection, table: sa.Table) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def wallet_row(event: Event) -> dict[str, Any]:
    """The wallet as this event leaves it."""
    leased = event.state == "leased"
    ended = event.type in ("released", "expired", "reserved")  # reserved: FIFO from then
    since = None
    if event.state == "cooling":  # an expiry, a heal or a resync carries when it began
        carried = event.type in ("expired", "healed", "repaired", "present")
        since = event.expires_at if carried else event.at
    return {
        "pool": event.pool, "address": event.address, "state": event.state,
        "owner": event.owner if leased else None, "token": event.token if leased else None,
        "leased_at": event.leased_at if leased else None,
        "expires_at": event.expires_at if leased else None,
        "released_at": (event.expires_at if event.type == "expired" else event.at)
        if ended else None,
        "cooling_since": since,
        "correlation_id": event.correlation_id if leased else None,
        "user_id": event.user_id if leased else None,
        "uses": event.uses or 0, "event_ms": event.ms, "event_seq": event.seq,
        "event_part": event.part,
    }


def apply_batch(conn: sa.Connection, batch: Iterable[Event]) -> None:
    """Write `batch` (events of any pools) inside the caller's transaction."""
    events = sorted(batch, key=lambda e: (e.pool, e.ms, e.seq, e.part))
    if not events:
        return
    _insert_events(conn, events)
    _apply_wallets(conn, events)
    _apply_pools(conn, events)


def _insert_events(conn: sa.Connection, events: list[Event]) -> None:
    """Insert the events not yet stored. On PostgreSQL: COPY into a temporary table, then
    one INSERT ... SELECT (several times faster than row-by-row inserts); elsewhere an
    executemany of a compiled, cached statement."""
    rows = [e.row() for e in events]
    if conn.dialect.name != "postgresql":
        conn.execute(_insert(conn, schema.events).on_conflict_do_nothing(), rows)
        return
    staging = _stage(conn, schema.events, rows)
    conn.execute(_insert(conn, schema.events).from_select(
        [c.name for c in schema.events.columns], sa.select(*staging.columns))
        .on_conflict_do_nothing())
    conn.execute(sa.text(f"DELETE FROM {staging.name}"))


def _apply_wallets(conn: sa.Connection, events: list[Event]) -> None:
    newest: dict[tuple[str, str], dict[str, Any]] = {}
    for e in events:
        if e.address is None:
            continue
        row = wallet_row(e)
        old = newest.get((e.pool, e.address))
        if old is not None:
            row["uses"] = max(row["uses"], old["uses"])
        newest[(e.pool, e.address)] = row
    if not newest:
        return
    w = schema.wallets
    rows = list(newest.values())
    if conn.dialect.name == "postgresql":
        staging = _stage(conn, w, rows)
        statement = _insert(conn, w).from_select(
            [c.name for c in w.columns], sa.select(*staging.columns))
    else:
        statement = _insert(conn, w)
    new = statement.excluded
    is_newer = (sa.tuple_(w.c.event_ms, w.c.event_seq, w.c.event_part)
                < sa.tuple_(new.event_ms, new.event_seq, new.event_part))
    taken = {c.name: sa.case((is_newer, new[c.name]), else_=w.c[c.name])
             for c in w.columns if c.name not in ("pool", "address", "uses")}
    taken["uses"] = sa.case((new.uses > w.c.uses, new.uses), else_=w.c.uses)
    upsert = statement.on_conflict_do_update(
        index_elements=[w.c.pool, w.c.address], set_=taken,
        # The syncer never changes a row the database holds, whatever the stream says. (A
        # wallet enters the reserve by its 'reserved' event, which the rebalancer writes
        # at once and the syncer applies too, so a crash between the two loses nothing;
        # it leaves the reserve with a newer event id.)
        where=sa.and_(sa.not_(schema.database_owned_sql(w)),
                      sa.or_(is_newer, new.uses > w.c.uses)))
    if conn.dialect.name == "postgresql":
        conn.execute(upsert)
        conn.execute(sa.text(f"DELETE FROM {staging.name}"))
    else:
        conn.execute(upsert, rows)


def _stage(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> sa.Table:
    """COPY `rows` into a temporary table shaped like `table` (PostgreSQL only)."""
    name = f"{table.name}_incoming"
    columns = [c.name for c in table.columns]
    driver = conn.connection.driver_connection  # psycopg's, in the same transaction
    assert driver is not None
    cursor = driver.cursor()
    try:
        cursor.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {name} "
                       f"(LIKE {table.name}) ON COMMIT DELETE ROWS")
        with cursor.copy(f"COPY {name} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([row[c] for c in columns])
    finally:
        cursor.close()
    return sa.Table(name, sa.MetaData(), *(sa.Column(c.name, c.type) for c in table.columns))


def _apply_pools(conn: sa.Connection, events: list[Event]) -> None:
    p = schema.pools
    by_pool: dict[str, list[Event]] = {}
    for e in events:
        by_pool.setdefault(e.pool, []).append(e)
    for pool, mine in by_pool.items():
        top = max((e.token or 0) for e in mine)
        settings = [e for e in mine if e.type == "configured" and e.settings]
        values: dict[str, Any] = {"name": pool, "lease_ttl_ms": 0, "cooldown_ms": 0,
                                  "max_size": 0, "max_uses": 0, "min_free": 0, "network": "",
                                  "reserve": None, "max_waiters": None, "max_wait_ms": None,
                                  "max_token": top,
                                  "event_ms": 0, "event_seq": 0}
        if settings:
            last = settings[-1]
            values.update(parse_settings(last.settings or ""), event_ms=last.ms,
                          event_seq=last.seq)
        statement = _insert(conn, p).values(values)
        new = statement.excluded
        is_newer = sa.tuple_(p.c.event_ms, p.c.event_seq) < sa.tuple_(new.event_ms,
                                                                      new.event_seq)
        taken: dict[str, Any] = {
            c: sa.case((is_newer, new[c]), else_=p.c[c])
            for c in (*SETTINGS, "event_ms", "event_seq")}
        taken["max_token"] = sa.case((new.max_token > p.c.max_token, new.max_token),
                                     else_=p.c.max_token)
        conn.execute(statement.on_conflict_do_update(index_elements=[p.c.name], set_=taken))


SETTINGS = ("lease_ttl_ms", "cooldown_ms", "max_size", "max_uses", "min_free", "network",
            "reserve", "max_waiters", "max_wait_ms")


def parse_settings(text: str) -> dict[str, int | str]:
    """'lease_ttl_ms=900000 cooldown_ms=0 ... network=btc' as a dict (numbers as int).
    A setting the event does not carry is absent (reserve: the default, min_free)."""
    pairs = (item.split("=", 1) for item in text.split())
    return {k: (v if k == "network" else int(v)) for k, v in pairs if k in SETTINGS}

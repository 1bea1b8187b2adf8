"""The durable record in PostgreSQL (or SQLite), as SQLAlchemy Core tables.

Times are epoch milliseconds (BIGINT), exactly as Redis stamped them. A stream id
`ms-seq` is kept as two integers, so ordering by it is numeric."""

from __future__ import annotations

import sqlalchemy as sa

from ..models import RESERVE_TOKEN_BASE

metadata = sa.MetaData()
ID = sa.String(128)

schema_version = sa.Table(
    "walletpool_schema", metadata,
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("applied_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
)

pools = sa.Table(
    "walletpool_pools", metadata,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("lease_ttl_ms", sa.BigInteger, nullable=False),
    sa.Column("cooldown_ms", sa.BigInteger, nullable=False),
    sa.Column("max_size", sa.BigInteger, nullable=False),
    sa.Column("max_uses", sa.BigInteger, nullable=False),  # 0: no limit
    sa.Column("min_free", sa.BigInteger, nullable=False, server_default="0"),  # schema v2
    sa.Column("network", sa.String(32), nullable=False, server_default=""),  # schema v2
    # schema v3: the reserve's size (NULL: min_free), the last token the reserve issued
    # (an offset above RESERVE_TOKEN_BASE) and the count of events the database wrote
    sa.Column("reserve", sa.BigInteger),
    sa.Column("reserve_token", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("db_events", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("max_token", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("event_ms", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("event_seq", sa.BigInteger, nullable=False, server_default="0"),
    # schema v5: how many orders may wait, and for how long (NULL: the defaults)
    sa.Column("max_waiters", sa.BigInteger),
    sa.Column("max_wait_ms", sa.BigInteger),
)

wallets = sa.Table(
    "walletpool_wallets", metadata,
    sa.Column("pool", sa.String(32), primary_key=True),
    sa.Column("address", ID, primary_key=True),
    sa.Column("state", sa.String(8), nullable=False),
    sa.Column("owner", ID),
    sa.Column("token", sa.BigInteger),
    sa.Column("leased_at", sa.BigInteger),
    sa.Column("expires_at", sa.BigInteger),
    sa.Column("released_at", sa.BigInteger),
    sa.Column("cooling_since", sa.BigInteger),
    sa.Column("correlation_id", ID),
    sa.Column("user_id", ID),
    sa.Column("uses", sa.BigInteger, nullable=False, server_default="0"),
    # the event that set this row: a wallet row only takes a newer one (schema v4: the
    # change's place in its stream entry, which may carry many)
    sa.Column("event_ms", sa.BigInteger, nullable=False),
    sa.Column("event_seq", sa.BigInteger, nullable=False),
    sa.Column("event_part", sa.Integer, nullable=False, server_default="0"),
    # the oldest free wallets of a pool, in the order they entered the free queue
    sa.Index("walletpool_wallets_free", "pool", "event_ms", "event_seq", "event_part",
             postgresql_where=sa.text("state = 'free'"), sqlite_where=sa.text("state = 'free'")),
    # the wallet of an owner
    # schema v3: the reserve's free wallets in the order they were released, and leases
    # by deadline (the reserve's expired ones are settled on every allocation from it)
    sa.Index("walletpool_wallets_reserve", "pool", "released_at", "address",
             postgresql_where=sa.text("state = 'reserve'"),
             sqlite_where=sa.text("state = 'reserve'")),
    sa.Index("walletpool_wallets_deadline", "pool", "expires_at",
             postgresql_where=sa.text("state = 'leased'"),
             sqlite_where=sa.text("state = 'leased'")),
    sa.Index("walletpool_wallets_owner", "pool", "owner",
             postgresql_where=sa.text("owner IS NOT NULL"),
             sqlite_where=sa.text("owner IS NOT NULL")),
)

# A wallet row is the database's own (Redis never hands it out) while its state is
# 'reserve' or 'moving' (on its way back to Redis), or 'leased' with a token of the
# reserve's range. Other rows mirror Redis through the syncer.
DATABASE_STATES = ("reserve", "moving")
DB_EVENT_SEQ_BASE = 2**40   # event ids `ms-seq` the database writes: seq from here up
__all__ = ["RESERVE_TOKEN_BASE"]


def database_owned(state: str, token: int | None) -> bool:
    """Whether a wallet row is the database's own (see above)."""
    return state in DATABASE_STATES or (state == "leased" and (token or 0) >= RESERVE_TOKEN_BASE)


def reserve_leased(table: sa.Table) -> sa.ColumnElement[bool]:
    """SQL: a lease the reserve issued (live or not)."""
    return sa.and_(table.c.state == "leased", table.c.token >= RESERVE_TOKEN_BASE)


def database_owned_sql(table: sa.Table) -> sa.ColumnElement[bool]:
    """SQL form of database_owned. Plain comparisons, no IN: SQLite's upsert runs as an
    executemany, which cannot expand an IN list."""
    return sa.or_(*(table.c.state == state for state in DATABASE_STATES),
                  reserve_leased(table))

# Releases of Redis leases asked for while Redis was down, applied (fenced by token)
# when it is back (schema v3).
queued_releases = sa.Table(
    "walletpool_queued_releases", metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("pool", sa.String(32), nullable=False),
    sa.Column("address", ID, nullable=False),
    sa.Column("owner", ID, nullable=False),
    sa.Column("token", sa.BigInteger, nullable=False),
    sa.Column("queued_at", sa.BigInteger, nullable=False),
)

events = sa.Table(
    "walletpool_events", metadata,
    sa.Column("pool", sa.String(32), primary_key=True),
    sa.Column("event_ms", sa.BigInteger, primary_key=True),
    sa.Column("event_seq", sa.BigInteger, primary_key=True),
    # schema v4: one stream entry carries every change of one call, in order
    sa.Column("event_part", sa.Integer, primary_key=True, server_default="0"),
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("address", ID),
    sa.Column("state", sa.String(8)),
    sa.Column("owner", ID),
    sa.Column("token", sa.BigInteger),
    sa.Column("leased_at", sa.BigInteger),
    sa.Column("expires_at", sa.BigInteger),
    sa.Column("at", sa.BigInteger, nullable=False),
    sa.Column("correlation_id", ID),
    sa.Column("user_id", ID),
    sa.Column("uses", sa.BigInteger),
    sa.Column("settings", sa.String(256)),
)

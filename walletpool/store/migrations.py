"""Versioned DDL: each schema version is one function, applied once, in order, in one
transaction with its version row. Plain SQLAlchemy Core, so the same migrations run on
PostgreSQL and SQLite; for a handful of tables this is simpler to read and to ship
than Alembic's environment and revision files, and needs no extra dependency."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

from . import schema


def _v1(conn: sa.Connection) -> None:
    # Version 1's pools table, frozen as it was: later versions add columns to it.
    sa.Table(
        schema.pools.name, sa.MetaData(),
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("lease_ttl_ms", sa.BigInteger, nullable=False),
        sa.Column("cooldown_ms", sa.BigInteger, nullable=False),
        sa.Column("max_size", sa.BigInteger, nullable=False),
        sa.Column("max_uses", sa.BigInteger, nullable=False),
        sa.Column("max_token", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("event_ms", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("event_seq", sa.BigInteger, nullable=False, server_default="0"),
    ).create(conn)
    for table in (schema.wallets, schema.events):
        table.create(conn)


def _v2(conn: sa.Connection) -> None:
    """Pools get their low-water mark and network (address validation)."""
    table = conn.dialect.identifier_preparer.quote(schema.pools.name)
    conn.execute(sa.text(f"ALTER TABLE {table} ADD COLUMN min_free BIGINT NOT NULL DEFAULT 0"))
    conn.execute(sa.text(f"ALTER TABLE {table} ADD COLUMN network VARCHAR(32) NOT NULL "
                         "DEFAULT ''"))


def _v3(conn: sa.Connection) -> None:
    """The reserve: its size and token counter per pool, and queued releases."""
    table = conn.dialect.identifier_preparer.quote(schema.pools.name)
    conn.execute(sa.text(f"ALTER TABLE {table} ADD COLUMN reserve BIGINT"))
    conn.execute(sa.text(f"ALTER TABLE {table} ADD COLUMN reserve_token BIGINT NOT NULL "
                         "DEFAULT 0"))
    conn.execute(sa.text(f"ALTER TABLE {table} ADD COLUMN db_events BIGINT NOT NULL DEFAULT 0"))
    schema.queued_releases.create(conn)
    # a database made by this version's _v1 has them already (_v1 creates today's wallets)
    for index in schema.wallets.indexes:
        if index.name in ("walletpool_wallets_reserve", "walletpool_wallets_deadline"):
            index.create(conn, checkfirst=True)


def _v4(conn: sa.Connection) -> None:
    """One stream entry carries every change of one call: events are keyed by the
    entry's id and the change's place in it (event_part), and wallet rows compare it."""
    inspector = sa.inspect(conn)
    quote = conn.dialect.identifier_preparer.quote
    events, wallets = quote(schema.events.name), quote(schema.wallets.name)
    # a database made by this version's _v1 has the columns already
    if "event_part" not in {c["name"] for c in inspector.get_columns(schema.events.name)}:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text(f"ALTER TABLE {events} ADD COLUMN event_part INTEGER "
                                 "NOT NULL DEFAULT 0"))
            key = (inspector.get_pk_constraint(schema.events.name)["name"]
                   or "walletpool_events_pkey")
            conn.execute(sa.text(f"ALTER TABLE {events} DROP CONSTRAINT {quote(key)}"))
            conn.execute(sa.text(f"ALTER TABLE {events} ADD PRIMARY KEY "
                                 "(pool, event_ms, event_seq, event_part)"))
        else:  # SQLite cannot change a primary key: copy into the new table
            conn.execute(sa.text(f"ALTER TABLE {events} RENAME TO walletpool_events_v3"))
            schema.events.create(conn)
            columns = ", ".join(c.name for c in schema.events.columns if c.name != "event_part")
            conn.execute(sa.text(f"INSERT INTO {events} ({columns}) SELECT {columns} "
                                 "FROM walletpool_events_v3"))
            conn.execute(sa.text("DROP TABLE walletpool_events_v3"))
    if "event_part" not in {c["name"] for c in inspector.get_columns(schema.wallets.name)}:
        conn.execute(sa.text(f"ALTER TABLE {wallets} ADD COLUMN event_part INTEGER NOT NULL "
                             "DEFAULT 0"))
        conn.execute(sa.text("DROP INDEX walletpool_wallets_free"))
        next(i for i in schema.wallets.indexes if i.name == "walletpool_wallets_free"
             ).create(conn)


def _v5(conn: sa.Connection) -> None:
    """Orders that wait: each pool's max_waiters and max_wait_ms (NULL: the defaults)."""
    table = conn.dialect.identifier_preparer.quote(schema.pools.name)
    conn.execute(sa.text(f"ALTER TABLE {table} ADD COLUMN max_waiters BIGINT"))
    conn.execute(sa.text(f"ALTER TABLE {table} ADD COLUMN max_wait_ms BIGINT"))


MIGRATIONS: list[Callable[[sa.Connection], None]] = [_v1, _v2, _v3, _v4, _v5]
LATEST = len(MIGRATIONS)


def current_version(conn: sa.Connection) -> int:
    if not sa.inspect(conn).has_table(schema.schema_version.name):
        return 0
    return int(conn.execute(sa.select(sa.func.max(schema.schema_version.c.version))).scalar()
               or 0)


def upgrade(engine: sa.Engine) -> list[int]:
    """Apply the versions the database lacks; returns the ones applied."""
    applied = []
    with engine.begin() as conn:
        schema.schema_version.create(conn, checkfirst=True)
    for version in range(1, LATEST + 1):
        with engine.begin() as conn:
            if current_version(conn) >= version:
                continue
            MIGRATIONS[version - 1](conn)
            conn.execute(schema.schema_version.insert().values(version=version))
            applied.append(version)
    return applied


def missing_schema(reason: str) -> bool:
    """Whether a database error's text says a walletpool table is not there (SQLite:
    'no such table'; PostgreSQL: 'relation ... does not exist')."""
    return "no such table" in reason or "does not exist" in reason


def check(engine: sa.Engine) -> None:
    """Refuse to work on a database whose schema is older or newer than this code's."""
    with engine.connect() as conn:
        version = current_version(conn)
    if version != LATEST:
        from ..errors import WalletPoolError

        raise WalletPoolError(
            f"the database schema is at version {version}, this walletpool needs {LATEST}: "
            "run `walletpool db upgrade`" if version < LATEST else
            f"the database schema is at version {version}, newer than this walletpool "
            f"({LATEST}): upgrade walletpool")

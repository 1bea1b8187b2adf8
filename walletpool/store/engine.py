"""Database engines from URLs: PostgreSQL through psycopg 3 (the production target),
SQLite as the embedded default."""

from __future__ import annotations

import os
from pathlib import Path

import sqlalchemy as sa

from ..errors import InvalidInput, WalletPoolError
from ..validation import mask_url

DEFAULT_DATABASE_URL = "sqlite:///walletpool.db"
ENV = "WALLETPOOL_DATABASE_URL"
FORMS = ("postgresql://USER:PASSWORD@HOST:5432/DATABASE or sqlite:///PATH/walletpool.db "
         "(four slashes for an absolute path)")
BACKENDS = ("postgresql", "sqlite")


def database_url(url: str | None = None) -> str:
    url = url or os.environ.get(ENV) or DEFAULT_DATABASE_URL
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):  # psycopg 3, not SQLAlchemy's default psycopg2
            return "postgresql+psycopg://" + url[len(plain):]
    return url


def parse(url: str | None = None) -> sa.URL:
    """The URL a walletpool database can have, or InvalidInput naming the forms it takes:
    a settings check, before any connection (and before any driver loads)."""
    resolved = database_url(url)
    try:
        parsed = sa.make_url(resolved)
    except sa.exc.ArgumentError:
        hint = f" (a file? write sqlite:///{resolved})" if ":" not in resolved else ""
        raise InvalidInput(f"bad database URL {mask_url(resolved)!r}{hint}: expected "
                           f"{FORMS}") from None
    if parsed.get_backend_name() not in BACKENDS:
        raise InvalidInput(f"walletpool keeps its wallets in PostgreSQL or SQLite, not "
                           f"{parsed.get_backend_name()!r} ({mask_url(resolved)}): "
                           f"expected {FORMS}")
    return parsed


def sqlite_file(parsed: sa.URL) -> Path | None:
    """The file a SQLite URL names (None for PostgreSQL and in-memory databases)."""
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database in ("", ":memory:") \
            or database.startswith("file:"):  # a URI: sqlite3 decides what it opens
        return None
    return Path(database)


def create_engine(url: str | None = None, *, create: bool = False) -> sa.Engine:
    """An engine for the database at `url` (default: WALLETPOOL_DATABASE_URL, then
    ./walletpool.db). A SQLite file that does not exist is refused unless `create` (what
    `walletpool db upgrade` passes): a check or a sync must not leave an empty file."""
    parsed = parse(url)
    where = parsed.render_as_string(hide_password=True)
    file = sqlite_file(parsed)
    if file is not None and not create and not file.exists():
        raise WalletPoolError(f"the database at {where} has no walletpool schema (no such "
                              "file): run `walletpool db upgrade`")
    try:
        if parsed.get_backend_name() == "sqlite":
            engine = _sqlite(parsed)
        else:
            # psycopg 3's own executemany (pipeline mode, one prepared statement) beats
            # SQLAlchemy's multi-row VALUES for the syncer's batches
            engine = sa.create_engine(parsed, pool_pre_ping=True, use_insertmanyvalues=False)
    except (ImportError, sa.exc.NoSuchModuleError) as exc:
        raise InvalidInput(f"the database URL {where} needs a driver that is not installed "
                           f"({exc}): use {FORMS}; postgresql:// goes through psycopg 3, "
                           "which walletpool installs") from None
    if engine.dialect.is_async:
        engine.dispose()
        raise InvalidInput(f"the database URL {where} names an asyncio driver; walletpool "
                           f"needs a blocking one: use {FORMS}")
    return engine


def _sqlite(parsed: sa.URL) -> sa.Engine:
    engine = sa.create_engine(parsed, connect_args={"timeout": 30})

    @sa.event.listens_for(engine, "connect")
    def _sqlite_pragmas(connection, _record):  # type: ignore[no-untyped-def]
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        # Python's sqlite3 would BEGIN only before the first write, leaving a
        # transaction's SELECTs outside it: two clients could then both pick the
        # reserve's same wallet. Transactions begin here instead, see _begin.
        connection.isolation_level = None

    @sa.event.listens_for(engine, "begin")
    def _begin(connection):  # type: ignore[no-untyped-def]
        # Take the write lock up front: SQLite then runs one transaction at a
        # time, which is what FOR UPDATE SKIP LOCKED gives on PostgreSQL.
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine

"""Database engines from URLs: PostgreSQL through psycopg 3 (the production target),
SQLite as the embedded default."""

from __future__ import annotations

import os

import sqlalchemy as sa

DEFAULT_DATABASE_URL = "sqlite:///walletpool.db"
ENV = "WALLETPOOL_DATABASE_URL"


def database_url(url: str | None = None) -> str:
    url = url or os.environ.get(ENV) or DEFAULT_DATABASE_URL
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):  # psycopg 3, not SQLAlchemy's default psycopg2
            return "postgresql+psycopg://" + url[len(plain):]
    return url


def create_engine(url: str | None = None) -> sa.Engine:
    resolved = database_url(url)
    if resolved.startswith("sqlite"):
        engine = sa.create_engine(resolved, connect_args={"timeout": 30})

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
    # psycopg 3's own executemany (pipeline mode, one prepared statement) beats
    # SQLAlchemy's multi-row VALUES for the syncer's batches
    return sa.create_engine(resolved, pool_pre_ping=True, use_insertmanyvalues=False)

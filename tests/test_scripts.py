"""The Lua scripts: contract headers, key order, no TTLs, NOSCRIPT recovery."""

from __future__ import annotations

import re

import pytest
import redis

from walletpool import PoolExhausted, PoolNotFound, WalletPool
from walletpool.engine.scripts import LIB, lua_dir, script
from walletpool.keys import KEY_ORDER

SCRIPT_NAMES = sorted(p.stem for p in lua_dir().glob("*.lua") if p.name != LIB)


@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_every_script_opens_with_its_contract(name: str) -> None:
    header = (lua_dir() / f"{name}.lua").read_text().split("\n\n")[0]
    assert header.startswith(f"-- {name}: ")
    for part in ("KEYS:", "ARGV:", "Reply:"):
        assert f"-- {part}" in header, f"{name}.lua's header lacks {part}"


def test_lua_names_the_keys_in_the_order_python_sends_them() -> None:
    lib = (lua_dir() / LIB).read_text()
    table = re.search(r"local K = \{(.*?)\}", lib, re.S)
    assert table is not None
    named = re.findall(r"(\w+) = KEYS\[(\d+)\]", table.group(1))
    assert [(name, int(i)) for name, i in named] == [
        (name, i) for i, name in enumerate(KEY_ORDER, start=1)]


@pytest.mark.parametrize("name", [LIB.removesuffix(".lua"), *SCRIPT_NAMES])
def test_no_script_sets_a_ttl_or_builds_a_key(name: str) -> None:
    code = "\n".join(line.split("--")[0] for line in (lua_dir() / f"{name}.lua").read_text()
                     .splitlines())
    assert not re.search(r"'(P?EXPIRE|SETEX|PSETEX|EXPIREAT|GETEX)'", code, re.I)
    # every key a script touches is a K.<name> from KEYS, or KEYS[n] itself
    for call in re.findall(r"redis\.call\('(\w+)',\s*([^,)]+)", code):
        command, first = call
        if command.upper() not in ("TIME",):
            assert first.strip().startswith(("K.", "KEYS[")), f"{name}: {command} on {first}"


def test_calls_heal_after_script_flush(btc: WalletPool, redis_client: redis.Redis) -> None:
    redis_client.script_flush()
    lease = btc.allocate("COIN", owner="o1")
    redis_client.script_flush()
    assert btc.release(lease) == "free"
    # the fallback's EVAL cached the script again: the next call is a plain EVALSHA
    assert redis_client.script_exists(script("release").sha, script("allocate").sha) == [True,
                                                                                         False]


def test_pipelines_heal_after_script_flush(btc: WalletPool, redis_client: redis.Redis) -> None:
    redis_client.script_flush()
    with btc.pipeline() as pipe:
        pipe.allocate("COIN", "o1").allocate("COIN", "o2").peek("COIN", 10)
        first, second, head = pipe.execute()
    assert [first.address, second.address] == ["a0", "a1"]  # type: ignore[attr-defined]
    assert head == ["a2", "a3", "a4"]
    redis_client.script_flush()
    with btc.pipeline() as pipe:
        pipe.release(first).release(second).stats("COIN")  # type: ignore[arg-type]
        assert pipe.execute()[:2] == ["free", "free"]


def test_a_pipeline_returns_errors_in_place_and_keeps_the_other_results(
        btc: WalletPool) -> None:
    pipe = btc.pipeline()
    for i in range(6):
        pipe.allocate("COIN", f"o{i}")
    results = pipe.execute()
    assert isinstance(results[5], PoolExhausted)
    assert [r.address for r in results[:5]] == ["a0", "a1", "a2", "a3", "a4"]  # type: ignore[attr-defined]


def test_scripts_heal_after_a_restart_without_persistence(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from walletpool.dev.redis_server import RedisServer

    server = RedisServer(tmp_path, appendfsync=None)
    with server:
        pool = WalletPool.from_url(server.url)
        pool.add("COIN", ["a0", "a1"])
        pool.allocate("COIN", "o1")
    with server:  # the same port, nothing kept: the script cache is empty again
        pool.add("COIN", ["a0", "a1"])
        assert pool.allocate("COIN", "o1").address == "a0"
    with server:  # and again, this time the first calls after the restart are a pipeline
        pipe = pool.pipeline()
        pipe.stats("COIN").allocate("COIN", "o1")
        missing, exhausted = pipe.execute()
        assert isinstance(missing, PoolNotFound) and isinstance(exhausted, PoolNotFound)
        pool.add("COIN", ["a0"])
        pipe.allocate("COIN", "o1").peek("COIN")
        lease, head = pipe.execute()
        assert (lease.address, head) == ("a0", [])  # type: ignore[attr-defined]
        pool.close()

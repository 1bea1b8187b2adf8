"""The Lua scripts: contract headers, key order, no TTLs, NOSCRIPT recovery."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.lua_names import defines, includes, uses
from walletpool import PoolExhausted, PoolNotFound, WalletPool, WalletPoolError
from walletpool.engine.scripts import INCLUDES, IncludeError, library, lua_dir, script
from walletpool.keys import KEY_ORDER

SCRIPT_NAMES = sorted(p.stem for p in lua_dir().glob("*.lua"))
INCLUDE_NAMES = sorted(p.stem for p in (lua_dir() / INCLUDES).glob("*.lua"))
ALL_FILES = [f"{name}.lua" for name in SCRIPT_NAMES] + [
    f"{INCLUDES}/{name}.lua" for name in INCLUDE_NAMES]


def source(file: str) -> str:
    return (lua_dir() / file).read_text()


@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_every_script_opens_with_its_contract(name: str) -> None:
    header = source(f"{name}.lua").split("\n\n")[0]
    assert header.startswith(f"-- {name}: ")
    for part in ("KEYS:", "ARGV:", "Reply:"):
        assert f"-- {part}" in header, f"{name}.lua's header lacks {part}"


@pytest.mark.parametrize("name", INCLUDE_NAMES)
def test_every_include_opens_with_a_one_line_header(name: str) -> None:
    first = source(f"{INCLUDES}/{name}.lua").splitlines()[0]
    assert first.startswith(f"-- {name}: ") and len(first) <= 100


@pytest.mark.parametrize("file", ALL_FILES)
def test_every_file_includes_exactly_the_helpers_it_uses(file: str) -> None:
    """No unused include, and no helper used without its include (a transitive one does
    not count: each file names its own world)."""
    text = source(file)
    own = file.removeprefix(f"{INCLUDES}/").removesuffix(".lua")
    needed = {name for name in INCLUDE_NAMES if name != own
              and defines(source(f"{INCLUDES}/{name}.lua")) & uses(text)}
    assert sorted(includes(text)) == sorted(needed)


def test_the_include_check_sees_a_missing_and_an_unused_include() -> None:
    """The check above, shown to fail on a file that uses fmt without including it, and
    includes fail without using it."""
    text = '--- @include "fail"\nreturn fmt(1)\n'
    used = {name for name in INCLUDE_NAMES if defines(source(f"{INCLUDES}/{name}.lua"))
            & uses(text)}
    assert used == {"fmt"} and includes(text) == ["fail"]


def test_includes_are_inlined_once_each_before_what_uses_them() -> None:
    release = script("release")
    files = [file for file, _ in release.origins]
    order = list(dict.fromkeys(files))
    assert order[-1] == "release.lua"
    assert all(files.count(f) == len(source(f).splitlines()) for f in order)
    # every include comes before each file that includes it
    for file in order:
        for name in includes(source(file)):
            assert order.index(f"{INCLUDES}/{name}.lua") < order.index(file)
    # what release does not need is not there
    assert f"{INCLUDES}/exhausted.lua" not in order  # (release hands off, so it leases)


def test_a_missing_include_is_refused_by_the_loader(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from walletpool.engine import scripts

    (tmp_path / INCLUDES).mkdir()
    (tmp_path / "broken.lua").write_text('--- @include "nothing_here"\nreturn 1\n')
    monkeypatch.setattr(scripts, "lua_dir", lambda: tmp_path)
    with pytest.raises(IncludeError, match="nothing_here"):
        scripts.script.__wrapped__("broken")


def test_a_script_error_names_the_file_and_line_it_happened_in(
        btc: WalletPool, redis_client: redis.Redis) -> None:
    """A lease record damaged by hand fails inside includes/lease_store.lua: the error
    says so, with that file's line, not the line of the assembled script."""
    lease = btc.allocate("COIN", owner="o1")
    redis_client.hset("wp:{COIN}:leases", lease.address, "not a lease")
    lines = source(f"{INCLUDES}/lease_store.lua").splitlines()
    line = next(n for n, text in enumerate(lines, start=1) if "is malformed" in text)
    with pytest.raises(WalletPoolError) as failed:
        btc.release(lease)
    message = str(failed.value)
    assert "release script" in message
    assert f"{INCLUDES}/lease_store.lua:" in message
    assert re.search(rf"{INCLUDES}/lease_store\.lua:{line}\b", message), message
    assert "user_script" not in message


def test_lua_names_the_keys_in_the_order_python_sends_them() -> None:
    body = re.search(r"local function bind_keys\(\)(.*?)\nend", source(f"{INCLUDES}/keys.lua"),
                     re.S)
    assert body is not None
    named, numbers = [], []
    for line in body.group(1).strip().splitlines():
        left, right = line.split(" = ")
        named += [n.strip().removeprefix("K.") for n in left.split(",")]
        numbers += [int(n) for n in re.findall(r"KEYS\[(\d+)\]", right)]
    assert list(zip(named, numbers, strict=True)) == [
        (name, i) for i, name in enumerate(KEY_ORDER, start=1)]


@pytest.mark.parametrize("file", ALL_FILES)
def test_no_script_sets_a_ttl_or_builds_a_key(file: str) -> None:
    code = "\n".join(line.split("--")[0] for line in source(file).splitlines())
    assert not re.search(r"'(P?EXPIRE|SETEX|PSETEX|EXPIREAT|GETEX)'", code, re.I)
    # every key a script touches is a K.<name> from KEYS, or KEYS[n] itself (after the
    # subcommand, for XINFO STREAM), or for upgrade.lua one of V1, its KEYS[13..15]
    for call in re.findall(r"redis\.call\('(\w+)',\s*(?:'(?:STREAM|GROUPS)',\s*)?([^,)]+)", code):
        command, first = call
        if command.upper() not in ("TIME", "INFO"):  # no key: the server's own
            allowed = ("K.", "KEYS[", "V1[", "V1.") if file == "upgrade.lua" else ("K.", "KEYS[")
            assert first.strip().startswith(allowed), f"{file}: {command} on {first}"


def has_functions(client: redis.Redis) -> bool:
    """Redis 7 and Valkey have FUNCTION; Redis 6.2 does not."""
    return int(str(client.info("server")["redis_version"]).split(".")[0]) >= 7


def test_calls_heal_after_the_script_cache_and_the_functions_are_flushed(
        btc: WalletPool, redis_client: redis.Redis) -> None:
    redis_client.script_flush()
    if has_functions(redis_client):
        redis_client.function_flush()
    lease = btc.allocate("COIN", owner="o1")
    redis_client.script_flush()
    if has_functions(redis_client):
        redis_client.function_flush()
    redis_client.config_resetstat()
    assert btc.release(lease) == "free"
    stats = redis_client.info("commandstats")
    if has_functions(redis_client):
        # FCALL found no library, loaded this version's and called again
        assert list(functions(redis_client)) == [library().name]
        assert stats["cmdstat_fcall"]["calls"] == 2 and "cmdstat_evalsha" not in stats
    else:
        # the fallback's EVAL cached the script again: the next call is a plain EVALSHA;
        # the first call of the client found no FCALL and it has not tried since
        assert redis_client.script_exists(script("release").sha, script("allocate").sha) == [
            True, False]
        assert stats["cmdstat_evalsha"]["calls"] == 1 and "cmdstat_fcall" not in stats


def functions(client: redis.Redis) -> dict[str, set[str]]:
    """Library name -> its functions (FUNCTION LIST, as flat name/value lists)."""
    out: dict[str, set[str]] = {}
    listed: Any = client.function_list()
    for entry in listed:
        lib = dict(zip(entry[::2], entry[1::2], strict=True))
        out[lib["library_name"]] = {dict(zip(f[::2], f[1::2], strict=True))["name"]
                                    for f in lib["functions"]}
    return out


def test_the_library_holds_every_script_and_loads_where_functions_exist(
        redis_client: redis.Redis) -> None:
    source = library().source
    for name in SCRIPT_NAMES:
        assert f"'{library().function(name)}'" in source
    if not has_functions(redis_client):
        return
    assert redis_client.function_load(source, replace=True) == library().name
    assert functions(redis_client)[library().name] == {
        library().function(name) for name in SCRIPT_NAMES}


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
        pool.configure("COIN")  # a plain pool, made on purpose
        pool.add("COIN", ["a0", "a1"])
        pool.allocate("COIN", "o1")
    with server:  # the same port, nothing kept: the script cache is empty again
        pool.configure("COIN")
        pool.add("COIN", ["a0", "a1"])
        assert pool.allocate("COIN", "o1").address == "a0"
    with server:  # and again, this time the first calls after the restart are a pipeline
        pipe = pool.pipeline()
        pipe.stats("COIN").allocate("COIN", "o1")
        missing, exhausted = pipe.execute()
        assert isinstance(missing, PoolNotFound) and isinstance(exhausted, PoolNotFound)
        pool.configure("COIN")
        pool.add("COIN", ["a0"])
        pipe.allocate("COIN", "o1").peek("COIN")
        lease, head = pipe.execute()
        assert (lease.address, head) == ("a0", [])  # type: ignore[attr-defined]
        pool.close()

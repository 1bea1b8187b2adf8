"""Hostile input to every public method and CLI command: each gets its documented
error and leaves Redis exactly as it was (a DUMP of every key, before and after)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
import redis
from click.testing import CliRunner

from walletpool import (
    InvalidAddress,
    InvalidInput,
    InvalidPool,
    Lease,
    LeaseLost,
    PoolFull,
    WalletPool,
)
from walletpool.cli import main
from walletpool.dev.redis_server import RedisServer

HOSTILE_POOLS: list[Any] = ["", "B", "x" * 10_000, "ÜSDT", "COIN\n", "*", "COIN*", "{COIN}",
                            "B:TC", "../COIN", "COIN-", "btc", None, 42, b"COIN", ["COIN"]]
HOSTILE_IDS: list[Any] = ["", " ", "x" * 10_000, "ü", "a\nb", "a b", "\x00", None, 5, b"o1"]
HOSTILE_TTLS: list[Any] = [0, -1, float("nan"), float("inf"), -float("inf"), 10**12, "60",
                           True, [1]]
HOSTILE_ADDRESSES: list[Any] = ["", "x" * 129, "a b", "a\nb", "ü", "a/b", "../a", "{a}",
                                "a*", None, 7, b"a1"]
HOSTILE_COUNTS: list[Any] = [0, -1, 10_001, 2.5, "5", True, None]


def snapshot(client: redis.Redis) -> dict[Any, Any]:
    return {k: client.dump(k) for k in sorted(client.keys("*"))}


@pytest.fixture
def setup(btc: WalletPool, redis_server: RedisServer
          ) -> Iterator[tuple[WalletPool, Lease, redis.Redis]]:
    btc.configure("TOKEN")  # a plain pool, made on purpose
    btc.add("TOKEN", ["e0"])
    lease = btc.allocate("COIN", "order-1")
    raw = redis.Redis(port=redis_server.port)
    yield btc, lease, raw
    raw.close()


def bound(method: Callable[..., object], *args: Any, **kwargs: Any) -> Callable[[], object]:
    return functools.partial(method, *args, **kwargs)


def cases(pool: Any, lease: Any) -> list[tuple[str, Callable[[], object], type[Exception]]]:
    """`pool` is typed Any on purpose: these calls break the signatures."""
    table: list[tuple[str, Callable[[], object], type[Exception]]] = []
    for name in HOSTILE_POOLS:
        for op, call in [
            ("configure", bound(pool.configure, name, lease_ttl=5)),
            ("add", bound(pool.add, name, ["a"])),
            ("allocate", bound(pool.allocate, name, "o1")),
            ("allocate_many", bound(pool.allocate_many, name, ["o1"])),
            ("get_lease", bound(pool.get_lease, name, "o1")),
            ("reap", bound(pool.reap, name)),
            ("retire", bound(pool.retire, name, "a0")),
            ("stats", bound(pool.stats, name)),
            ("peek", bound(pool.peek, name)),
            ("release", bound(pool.release, replace(lease, pool=name))),
            ("extend", bound(pool.extend, replace(lease, pool=name))),
        ]:
            table.append((f"{op} pool={name!r:.20}", call, InvalidPool))
    for value in HOSTILE_IDS:
        table += [
            (f"allocate owner={value!r:.20}", bound(pool.allocate, "COIN", value),
             InvalidInput),
            (f"allocate correlation_id={value!r:.20}",
             bound(pool.allocate, "COIN", "o2",
                  correlation_id=value if value is not None else ""), InvalidInput),
            (f"allocate user_id={value!r:.20}",
             bound(pool.allocate, "COIN", "o2", user_id=value if value is not None else ""),
             InvalidInput),
            (f"allocate_many owner={value!r:.20}",
             bound(pool.allocate_many, "COIN", ["o2", value]), InvalidInput),
            (f"get_lease owner={value!r:.20}", bound(pool.get_lease, "COIN", value),
             InvalidInput),
            (f"release owner={value!r:.20}", bound(pool.release, replace(lease, owner=value)),
             InvalidInput),
        ]
    for ttl in HOSTILE_TTLS:
        table += [
            (f"allocate ttl={ttl!r}", bound(pool.allocate, "COIN", "o2", ttl=ttl),
             InvalidInput),
            (f"allocate_many ttl={ttl!r}", bound(pool.allocate_many, "COIN", ["o2"], ttl=ttl),
             InvalidInput),
            (f"extend ttl={ttl!r}", bound(pool.extend, lease, ttl=ttl), InvalidInput),
            (f"configure lease_ttl={ttl!r}", bound(pool.configure, "COIN", lease_ttl=ttl),
             InvalidInput),
            (f"configure cooldown={ttl!r}",
             bound(pool.configure, "COIN", cooldown=ttl if ttl != 0 else -1), InvalidInput),
        ]
    for address in HOSTILE_ADDRESSES:
        table += [
            (f"add address={address!r:.20}", bound(pool.add, "COIN", ["ok1", address]),
             InvalidAddress),
            (f"retire address={address!r:.20}", bound(pool.retire, "COIN", address),
             InvalidAddress),
            (f"release address={address!r:.20}",
             bound(pool.release, replace(lease, address=address)), InvalidAddress),
        ]
    for count in HOSTILE_COUNTS:
        table.append((f"peek count={count!r}", bound(pool.peek, "COIN", count), InvalidInput))
    for limit in [0, -1, 10**10, 2.5, "5", True]:
        table += [
            (f"configure max_size={limit!r}", bound(pool.configure, "COIN", max_size=limit),
             InvalidInput),
            (f"configure max_uses={limit!r}", bound(pool.configure, "COIN", max_uses=limit),
             InvalidInput),
        ]
    for token in [0, -1, 2**60, "5", 1.5, None, True]:
        table.append((f"release token={token!r}",
                      bound(pool.release, replace(lease, token=token)), InvalidInput))
    many = [f"ok{i}" for i in range(100_000)]
    table += [
        ("add a string, not a list", lambda: pool.add("COIN", "bc1qabc"), InvalidAddress),
        ("add 100k addresses, the last one bad", lambda: pool.add("COIN", [*many, "bad one"]),
         InvalidAddress),
        ("add 100k addresses over max_size", lambda: pool.add("COIN", many), PoolFull),
        ("allocate_many no owners", lambda: pool.allocate_many("COIN", []), InvalidInput),
        ("allocate_many a string", lambda: pool.allocate_many("COIN", "o1"), InvalidInput),
        ("allocate_many 10,001 owners",
         lambda: pool.allocate_many("COIN", [f"o{i}" for i in range(10_001)]), InvalidInput),
        ("release not a lease", lambda: pool.release({"address": "a0"}), InvalidInput),
        ("release_many nothing", lambda: pool.release_many([]), InvalidInput),
        ("release_many two pools",
         lambda: pool.release_many([lease, replace(lease, pool="TOKEN")]), InvalidInput),
        ("release a lease of another pool", lambda: pool.release(replace(lease, pool="TOKEN")),
         LeaseLost),
        ("extend a lease of another pool", lambda: pool.extend(replace(lease, pool="TOKEN")),
         LeaseLost),
        ("release with another owner", lambda: pool.release(replace(lease, owner="order-2")),
         LeaseLost),
    ]
    return table


def test_every_method_refuses_hostile_input_and_changes_nothing(setup) -> None:  # type: ignore[no-untyped-def]
    pool, lease, raw = setup
    table = cases(pool, lease)
    assert len(table) > 300
    before = snapshot(raw)
    wrong = []
    for label, call, expected in table:
        try:
            call()
            wrong.append(f"{label}: no error")
        except expected:
            pass
        except Exception as exc:
            wrong.append(f"{label}: {type(exc).__name__}: {exc}"[:200])
        if snapshot(raw) != before:
            wrong.append(f"{label}: Redis changed")
            before = snapshot(raw)
    assert not wrong, "\n".join(wrong)


def test_owners_with_key_syntax_are_plain_values_not_keys(setup) -> None:  # type: ignore[no-untyped-def]
    pool, _, raw = setup
    keys_before = set(raw.keys("*"))
    for owner in ["{COIN}:free", "*", "../../etc", "wp:{TOKEN}:state", "::"]:
        lease = pool.allocate("COIN", owner)
        assert pool.get_lease("COIN", owner) == replace(lease, fresh=False)
        pool.release(lease)
    assert set(raw.keys("*")) == keys_before
    assert pool.stats("TOKEN").free == 1


CLI_CASES = [
    ["allocate", "COIN\n", "o1"], ["allocate", "{COIN}", "o1"], ["allocate", "COIN", ""],
    ["allocate", "COIN", "o 1"], ["allocate", "COIN", "ü"],
    ["allocate", "COIN", "o1", "--ttl", "nan"],
    ["allocate", "COIN", "o1", "--ttl", "-1"], ["allocate", "COIN", "o1", "--ttl", "1e13"],
    ["allocate", "COIN", "o1", "--ttl", "soon"], ["release", "../COIN", "o1"],
    ["release", "COIN", "o\n1"], ["extend", "COIN", "order-1", "--ttl", "0"],
    ["stats", "*"], ["peek", "COIN", "-n", "0"], ["peek", "COIN", "-n", "99999"],
    ["reap", "B:TC"], ["retire", "COIN", "../a0"], ["retire", "COIN", "a 0"],
    ["configure", "COIN", "--max-size", "-1"], ["configure", "COIN", "--cooldown", "inf"],
    ["configure", "COIN", "--max-uses", "lots"], ["configure", "btc", "--lease-ttl", "5"],
    ["import", "{COIN}", "-"], ["import", "COIN", "/nonexistent/file"],
]


@pytest.mark.parametrize("args", CLI_CASES, ids=[" ".join(a)[:40] for a in CLI_CASES])
def test_every_cli_command_refuses_hostile_input_with_exit_2(
        setup: tuple[WalletPool, Lease, redis.Redis], redis_server: RedisServer,
        args: list[str]) -> None:
    _, _, raw = setup
    before = snapshot(raw)
    result = CliRunner().invoke(main, ["--redis-url", redis_server.url, *args],
                                input="bc1qok\n")
    assert result.exit_code == 2, result.output
    assert snapshot(raw) == before


def test_import_with_hostile_lines_writes_only_the_good_one(setup, redis_server: RedisServer,  # type: ignore[no-untyped-def]
                                                            redis_client: redis.Redis) -> None:
    _, _, raw = setup
    before = snapshot(raw)
    hostile = "good1\nü\n\x00\n{a}\n" + "x" * 200 + "\n"
    args = ["--redis-url", redis_server.url, "import", "COIN", "-"]
    strict = CliRunner().invoke(main, [*args, "--strict"], input=hostile)
    assert strict.exit_code == 2 and "rejected 4" in strict.output
    assert snapshot(raw) == before
    result = CliRunner().invoke(main, args, input=hostile)
    assert result.exit_code == 2 and "added 1, duplicates 0, rejected 4" in result.output
    assert [line.split(":")[0].strip() for line in result.output.splitlines()[1:]] == \
        ["line 2", "line 3", "line 4", "line 5"]
    assert redis_client.lindex("wp:{COIN}:free", -1) == "good1"

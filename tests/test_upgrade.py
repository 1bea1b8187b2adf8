"""Upgrading a pool written by walletpool 0.1: `walletpool upgrade` / WalletPool.upgrade.

The pool is built by 0.1's own scripts (tests/layout_v1/: the 0.1 sources of the scripts
used here and their includes, as released, inlined by the same loader), so it is
exactly what a 0.1 deployment left in Redis:
wallets free, leased, cooling, retired and in the reserve, use counts, settings, a
family claim and unsynced events in 0.1's event format."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from click.testing import CliRunner

from tests.model import TOKENS_PER_MS
from walletpool import LayoutOutdated, Lease, WalletPool
from walletpool.chains import default_network, family_of
from walletpool.cli import main
from walletpool.engine.scripts import _assemble, script
from walletpool.keys import family_key, pool_keys, v1_keys
from walletpool.store.restore import reconcile
from walletpool.syncer import Syncer
from walletpool.verify import pool_state, problems

POOL = "COIN"
V1_ORDER = ("conf", "free", "state", "lease", "owner", "expiry", "cooling", "seq", "events",
            "uses", "reserve")
FROZEN_MS = 1_800_000_000_000
WALLETS = 600
SOURCES = Path(__file__).parent / "layout_v1"


class V1:
    """Runs walletpool 0.1's scripts on a pool, keys in 0.1's order."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.keys = [f"wp:{{{POOL}}}:{name}" for name in V1_ORDER]
        self.network = default_network(POOL)

    def run(self, name: str, *args: str | int, keys: list[str] | None = None) -> Any:
        lines: list[str] = []
        _assemble(SOURCES, f"{name}.lua", set(), (), lines, [])
        source = "\n".join(lines) + "\n"
        used = keys if keys is not None else self.keys
        return self.client.eval(source, len(used), *used, *args)

    def configure(self, *pairs: str | int) -> None:
        self.run("configure", 60_000, 1000, self.network, 0, *pairs)

    def add(self, wallets: list[str]) -> None:
        family = family_key("wp", family_of(POOL, self.network))
        assert self.run("claim", POOL, "claim", *wallets, keys=[family])[0] == "ok"
        assert self.run("add", 60_000, 1000, self.network, 0, *wallets)[0] == "ok"


def build_v1_pool(client: redis.Redis) -> V1:
    """free w009 w011..w319; leased w02 w04 w05 (owners o2 o4 o5); cooling w00 w01;
    retired w003 (was leased) and w010 (was free); reserve w006 w007 w008.
    More wallets than Redis keeps in a listpack (512), so that the state hash is a hash
    table, scanned a bucket at a time, and an upgrade of one entry a step takes many."""
    v1 = V1(client)
    v1.configure("lease_ttl_ms", 60_000, "cooldown_ms", 30_000, "max_size", 1000, "max_uses", 3,
                 "min_free", 2, "clock_ms", FROZEN_MS)
    v1.add([f"w{i:03}" for i in range(WALLETS)])
    for i in range(6):
        reply = v1.run("allocate", f"o{i}", 0, f"cid{i}" if i % 2 else "", "")
        assert reply[0] == "ok" and reply[1] == f"w{i:03}"
    v1.configure("clock_offset_ms", 5_000)
    for i in (0, 1):
        assert v1.run("release", f"w{i:03}", f"o{i}", str(i + 1))[0] == "ok"
    assert v1.run("retire", "w003") == ["ok", "leased"]
    assert v1.run("retire", "w010") == ["ok", "free"]
    assert v1.run("reserve_take", 3, 0)[1::2] == ["w006", "w007", "w008"]
    return v1


def snapshot(client: redis.Redis) -> dict[str, Any]:
    keys: Any = client.keys("*")
    return {k: client.dump(k) for k in sorted(keys)}


def test_an_outdated_pool_refuses_every_operation_before_writing(
        sync_pool: WalletPool, redis_client: redis.Redis) -> None:
    build_v1_pool(redis_client)
    before = snapshot(redis_client)
    held = Lease(pool=POOL, address="w002", owner="o2", token=3, expires_at=0.0,
                 leased_at=0.0)
    calls: dict[str, Any] = {
        "allocate": lambda: sync_pool.allocate(POOL, "new-owner"),
        "allocate_many": lambda: sync_pool.allocate_many(POOL, ["x", "y"]),
        "release": lambda: sync_pool.release(held),
        "release_many": lambda: sync_pool.release_many([held]),
        "extend": lambda: sync_pool.extend(held),
        "get_lease": lambda: sync_pool.get_lease(POOL, "o2"),
        "add": lambda: sync_pool.add(POOL, ["w99"]),
        "import": lambda: sync_pool.import_wallets(POOL, ["w99\n"]),
        "configure": lambda: sync_pool.configure(POOL, cooldown=1),
        "retire": lambda: sync_pool.retire(POOL, "w011"),
        "reap": lambda: sync_pool.reap(POOL),
        "stats": lambda: sync_pool.stats(POOL),
        "peek": lambda: sync_pool.peek(POOL),
    }
    for command, call in calls.items():
        with pytest.raises(LayoutOutdated) as refused:
            call()
        assert refused.value.pool == POOL and refused.value.layout == 1
        assert refused.value.command == command, command
        assert f"walletpool upgrade {POOL}" in str(refused.value)
    assert snapshot(redis_client) == before


def test_upgrade_keeps_everything_of_a_populated_pool(
        sync_pool: WalletPool, redis_client: redis.Redis, store: sa.Engine) -> None:
    build_v1_pool(redis_client)
    k = dict(zip(V1_ORDER, [f"wp:{{{POOL}}}:{n}" for n in V1_ORDER], strict=True))
    family = family_key("wp", family_of(POOL, default_network(POOL)))
    free = redis_client.lrange(k["free"], 0, -1)
    cooling = redis_client.zrange(k["cooling"], 0, -1, withscores=True)
    expiry = redis_client.zrange(k["expiry"], 0, -1, withscores=True)
    uses = redis_client.hgetall(k["uses"])
    seq = int(redis_client.get(k["seq"]) or 0)
    claims = redis_client.hgetall(family)
    reserve = redis_client.smembers(k["reserve"])
    old_leases = {a: json.loads(v) for a, v in redis_client.hgetall(k["lease"]).items()}
    assert free == ["w009", *[f"w{i:03}" for i in range(11, WALLETS)]] and len(old_leases) == 3

    # a crash half-way: two steps of one entry each (a few, where the server scans a
    # bucket of several), then the rest
    keys = (*pool_keys("wp", POOL), *v1_keys("wp", POOL))
    for _ in range(2):
        step = redis_client.eval(script("upgrade").source, len(keys), *keys, 1)
        assert step[0] == "more" and 1 <= step[1] < 50
    with pytest.raises(LayoutOutdated):
        sync_pool.stats(POOL)
    seen: list[int] = []
    assert sync_pool.upgrade(POOL, seen.append) is True
    assert seen and seen[-1] > 0
    assert sync_pool.upgrade(POOL) is False  # idempotent

    assert problems(pool_state(redis_client, "wp", POOL)) == []
    assert not any(redis_client.exists(name) for name in v1_keys("wp", POOL))
    assert redis_client.lrange(k["free"], 0, -1) == free  # FIFO order
    assert redis_client.zrange(k["cooling"], 0, -1, withscores=True) == cooling
    assert redis_client.zrange(k["expiry"], 0, -1, withscores=True) == expiry
    assert redis_client.hgetall(k["uses"]) == uses
    assert redis_client.smembers(k["reserve"]) == reserve
    assert redis_client.hgetall(family) == claims
    for address, old in old_leases.items():
        lease = sync_pool.get_lease(POOL, old["o"])
        assert lease is not None and lease.address == address
        assert (lease.token, round(lease.expires_at * 1000), round(lease.leased_at * 1000),
                lease.correlation_id or "") == (int(old["t"]), int(old["e"]), int(old["l"]),
                                                old["c"])
    stats = sync_pool.stats(POOL)
    assert (stats.free, stats.leased, stats.cooling, stats.reserve, stats.retired,
            stats.total) == (WALLETS - 10, 3, 2, 3, 2, WALLETS)
    assert (stats.lease_ttl, stats.cooldown, stats.max_size, stats.max_uses, stats.min_free) == \
        (60, 30, 1000, 3, 2)
    assert stats.last_token == seq
    # retired stays retired and known; tokens go on above the old counter (and the clock)
    assert sync_pool.retire(POOL, "w010") is False
    assert sync_pool.add(POOL, ["w010", "w003"]).duplicates == 2
    fresh = sync_pool.allocate(POOL, "after-upgrade")
    assert fresh.address == "w009"
    clock = round(fresh.leased_at * 1000) * TOKENS_PER_MS  # the ms it was leased in, in µs
    assert max(seq, clock) < fresh.token <= max(seq, clock + TOKENS_PER_MS - 1) + 1
    old = old_leases["w002"]
    assert sync_pool.release(Lease(pool=POOL, address="w002", owner=old["o"],
                                   token=int(old["t"]), expires_at=0.0, leased_at=0.0)) \
        == "cooling"

    # events written before the upgrade (0.1's format) and after it all reach the database
    syncer = Syncer(sync_pool.redis, store, block=0.01)
    while syncer.run_once():
        pass
    assert reconcile(redis_client, store, "wp", POOL) == []
    with store.connect() as conn:
        events = conn.execute(sa.text("SELECT count(*) FROM walletpool_events")).scalar()
    # 0.1's: configured (moving the test clock records none), WALLETS added, 6 allocated,
    # 2 released, 2 retired, 3 reserved; then this version's: allocated, released
    assert events == 1 + WALLETS + 6 + 2 + 2 + 3 + 1 + 1


def test_the_cli_upgrades_every_pool_and_a_dry_run_writes_nothing(
        redis_server: Any, redis_client: redis.Redis) -> None:
    build_v1_pool(redis_client)
    before = snapshot(redis_client)
    runner = CliRunner()
    url = ["--redis-url", redis_server.url]
    doctor = runner.invoke(main, [*url, "doctor"])
    assert f"WARN  pool {POOL} layout: layout 1" in doctor.output
    dry = runner.invoke(main, [*url, "upgrade", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    entries = WALLETS + 3  # every wallet's state and the three leases
    assert f"{POOL}: in layout 1: would be upgraded to layout 2 ({entries} entries)" \
        in dry.output
    assert snapshot(redis_client) == before
    done = runner.invoke(main, [*url, "upgrade"])
    assert done.exit_code == 0
    assert f"{POOL}: upgraded ({entries} entries converted)" in done.output
    again = runner.invoke(main, [*url, "upgrade", POOL])
    assert f"{POOL}: already in the current layout" in again.output
    stats = runner.invoke(main, [*url, "stats", POOL])
    assert stats.exit_code == 0, stats.output
    assert f"pool {POOL} layout" not in runner.invoke(main, [*url, "doctor"]).output

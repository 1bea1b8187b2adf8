"""Healing a pool whose Redis lost writes that the database has (issue "safe across
failover"; docs/design.md, "Healing"): the pool is fenced as soon as a script finds it
runs on another Redis process than the one the database vouched for, and healed from
the database's rows above the stream's newest entry.

Lost writes are planted without a second server: the pool's keys are DUMPed, the pool
goes on (and the syncer commits it), then the keys are RESTOREd and the armed run id
changed, which is what a promoted replica that missed those writes looks like to the
scripts. tests/test_failover.py does it with a real replica and real promotion."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
import sqlalchemy as sa

from tests.invariants import check_invariants
from walletpool import Lease, PoolFenced, WalletPool
from walletpool.dev.redis_server import RedisServer
from walletpool.keys import pool_keys
from walletpool.store import schema
from walletpool.store.heal import heal
from walletpool.syncer import Syncer

POOL = "COIN"
WALLETS = [f"w{i:02d}" for i in range(20)]


def sync_all(syncer: Syncer) -> None:
    while syncer.run_once():
        pass


def snapshot(client: redis.Redis) -> dict[str, bytes]:
    raw = redis.Redis(connection_pool=client.connection_pool)
    return {k: raw.dump(k) for k in pool_keys("wp", POOL) if raw.exists(k)}  # type: ignore[misc]


def lose_writes_since(client: redis.Redis, keys: dict[str, bytes]) -> None:
    """Put the pool's keys back as `snapshot` took them, and make the pool's armed run
    id another process's: Redis forgot every write since, as after a stale promotion."""
    for k in pool_keys("wp", POOL):
        client.delete(k)
    for k, value in keys.items():
        client.restore(k, 0, value)
    client.hset(f"wp:{{{POOL}}}:conf", mapping={"run_id": "f" * 40, "run_checked_ms": 0})


def db_leases(engine: sa.Engine) -> dict[str, tuple[str, int]]:
    w = schema.wallets
    with engine.connect() as conn:
        rows = conn.execute(sa.select(w.c.address, w.c.owner, w.c.token).where(
            w.c.pool == POOL, w.c.state == "leased")).all()
    return {r.address: (r.owner, r.token) for r in rows}


@pytest.fixture
def stale(redis_server: RedisServer, redis_client: redis.Redis, store: sa.Engine
          ) -> Iterator[tuple[WalletPool, Syncer, dict[str, Any]]]:
    """A pool armed by a syncer, whose Redis then lost these writes (all committed to
    the database): o1..o6 allocated, o1 released, w19 retired, a configure."""
    with WalletPool.from_url(redis_server.url) as pool:
        pool.configure(POOL, lease_ttl=600, cooldown=0, max_size=100)
        pool.add(POOL, WALLETS)
        old = pool.allocate(POOL, "o0")
        syncer = Syncer(pool.redis, store, rebalance_every=None)
        sync_all(syncer)
        assert redis_client.hget(f"wp:{{{POOL}}}:conf", "run_id") not in (None, "fenced")
        keys = snapshot(redis_client)
        lost = [pool.allocate(POOL, f"o{i}") for i in range(1, 7)]
        pool.release(lost[0])
        pool.release(old)
        assert pool.retire(POOL, "w19")
        sync_all(syncer)
        lose_writes_since(redis_client, keys)
        yield pool, syncer, {"lost": lost, "old": old}


def test_a_pool_that_lost_writes_is_fenced_until_the_syncer_heals_it(
        stale: tuple[WalletPool, Syncer, dict[str, Any]], redis_client: redis.Redis,
        store: sa.Engine) -> None:
    pool, syncer, planted = stale
    before = redis_client.xlen(f"wp:{{{POOL}}}:events")
    with pytest.raises(PoolFenced, match="fenced"):
        pool.allocate(POOL, "new-1")
    with pytest.raises(PoolFenced):  # every change, not only allocation
        pool.release(planted["old"])
    conf = redis_client.hgetall(f"wp:{{{POOL}}}:conf")
    assert conf["run_id"] == "fenced" and conf["heal_from"]
    assert redis_client.hexists(f"wp:{{{POOL}}}:leases", "w00")  # o0's, which Redis kept
    assert redis_client.xlen(f"wp:{{{POOL}}}:events") == before + 1  # the 'fenced' entry

    healed = syncer.heal()
    assert [(h.pool, h.fenced) for h in healed] == [(POOL, True)]
    # o0's release, o2..o6's leases and w19's retirement; o1's wallet was free before
    # its lease and is free after its release, so Redis has it right already
    assert (healed[0].rows, healed[0].wallets) == (8, 7)

    known = db_leases(store)
    assert sorted(o for o, _ in known.values()) == ["o2", "o3", "o4", "o5", "o6"]
    for lease in planted["lost"][1:]:  # each lost lease is back as it was
        again = pool.get_lease(POOL, lease.owner)
        assert again is not None and (again.address, again.token) == (lease.address, lease.token)
    assert pool.get_lease(POOL, "o0") is None and pool.get_lease(POOL, "o1") is None
    assert redis_client.hget(f"wp:{{{POOL}}}:known", "w19") == "retired"
    handed = pool.allocate_many(POOL, [f"new-{i}" for i in range(13)])
    assert {lease.address for lease in handed}.isdisjoint(known)  # never a leased one
    assert "w19" not in {lease.address for lease in handed}
    assert min(lease.token for lease in handed) > max(t for _, t in known.values())
    check_invariants(redis_client, "wp", POOL)

    sync_all(syncer)  # the healed entries apply, and the rows stay as they were
    assert db_leases(store) == {**known, **{lease.address: (lease.owner, lease.token)
                                            for lease in handed}}


def test_a_client_with_the_database_heals_by_itself_and_a_retry_gets_its_lease(
        stale: tuple[WalletPool, Syncer, dict[str, Any]], redis_server: RedisServer,
        store: sa.Engine) -> None:
    _, _, planted = stale
    lost: Lease = planted["lost"][3]
    url = store.url.render_as_string(hide_password=False)
    with WalletPool.from_url(redis_server.url, database_url=url) as pool:
        again = pool.allocate(POOL, lost.owner)  # an order's retry after the failover
        assert (again.address, again.token, again.fresh) == (lost.address, lost.token, False)
        assert pool.stats(POOL).mode == "redis"  # healed, not served by the reserve


def test_an_order_that_may_wait_heals_a_fenced_pool_and_is_served_by_redis(
        stale: tuple[WalletPool, Syncer, dict[str, Any]], redis_server: RedisServer,
        store: sa.Engine) -> None:
    url = store.url.render_as_string(hide_password=False)
    with WalletPool.from_url(redis_server.url, database_url=url) as pool:
        lease = pool.allocate(POOL, "after-failover", wait=2)
        assert not lease.from_reserve and pool.stats(POOL).mode == "redis"
        assert lease.token > max(held.token for held in stale[2]["lost"])


def test_a_heal_chunk_that_comes_after_the_fence_was_lifted_changes_nothing(
        stale: tuple[WalletPool, Syncer, dict[str, Any]], redis_client: redis.Redis,
        store: sa.Engine) -> None:
    pool, _, _ = stale
    status, heal_from = pool._do(pool._ops.heal_begin(POOL, False))
    assert status == "fenced"
    pool._do(heal(pool._ops, store, POOL))
    fresh = pool.allocate(POOL, "after-heal")
    late = [(fresh.address, "free", "", "", "", "", "", "", "", "")]  # a slow healer's
    assert pool._do(pool._ops.heal(POOL, heal_from, late, final=True)) is None
    held = pool.get_lease(POOL, "after-heal")
    assert held is not None and (held.address, held.token) == (fresh.address, fresh.token)
    assert pool._do(heal(pool._ops, store, POOL)).fenced is False  # nothing to heal now


def test_a_pool_no_database_watches_is_never_fenced(
        redis_server: RedisServer, redis_client: redis.Redis) -> None:
    with WalletPool.from_url(redis_server.url) as pool:
        pool.configure(POOL)  # a plain pool, made on purpose
        pool.add(POOL, WALLETS)
        keys = snapshot(redis_client)
        pool.allocate(POOL, "o1")
        for k, value in keys.items():
            redis_client.restore(k, 0, value, replace=True)
        assert "run_id" not in redis_client.hgetall(f"wp:{{{POOL}}}:conf")
        assert pool.allocate(POOL, "o2").fresh  # what the documented window describes

"""Durable writes (`replicas=N`): an allocation, extension or retirement counts only
once N replicas acknowledged it. A replica that stalls turns each into NotReplicated,
and the lease the call made is given back, so that no unconfirmed lease is left to be
lost by a failover while its holder uses it (issue "safe across failover")."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import pytest
import redis

from tests.blocking import Blocking
from tests.conftest import CLIENTS, SERVERS
from tests.replication import Replicated
from walletpool import (
    AsyncWalletPool,
    BackendUnavailable,
    InvalidInput,
    Lease,
    NotReplicated,
    WalletPool,
)
from walletpool.dev.redis_server import binary_features, server_name
from walletpool.engine import waits
from walletpool.keys import key

POOL = "COIN"


@pytest.fixture(scope="module", params=SERVERS, ids=lambda b: server_name(b) if b else "no-redis")
def replicated(request: pytest.FixtureRequest,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicated]:
    if request.param is None:
        pytest.fail("no redis-server found")
    pair = Replicated(tmp_path_factory.mktemp("replicated"), request.param).start()
    yield pair
    pair.stop()


@pytest.fixture(params=CLIENTS)
def durable(request: pytest.FixtureRequest, replicated: Replicated) -> Iterator[WalletPool]:
    """A client with replicas=1 of a flushed primary whose replica is in sync, with a
    pool of five wallets."""
    with redis.Redis(port=replicated.primary.port) as primary:
        primary.flushall()
    replicated.wait_in_sync()
    url = replicated.primary.url
    options: dict[str, Any] = {"replicas": 1, "replica_timeout": 0.2}
    if request.param == "WalletPool":
        client: WalletPool = WalletPool.from_url(url, **options)
        yield from _configured(client)
        client.close()
        return
    loop = asyncio.new_event_loop()
    aclient = AsyncWalletPool.from_url(url, **options)
    try:
        yield from _configured(cast(WalletPool, Blocking(aclient, loop)))
    finally:
        loop.run_until_complete(aclient.close())
        loop.close()


def _configured(client: WalletPool) -> Iterator[WalletPool]:
    client.configure(POOL, lease_ttl=60, cooldown=0)
    client.add(POOL, [f"a{i}" for i in range(5)])
    yield client


def _on_replica(replicated: Replicated, owner: str) -> str | None:
    """The wallet the replica records as leased to `owner`."""
    replicated.wait_in_sync()
    with redis.Redis(port=replicated.replica.port, decode_responses=True) as replica:
        found = replica.hget(key("wp", POOL, "leases"), ">" + owner)
        return cast(str | None, found)


def test_a_durable_allocation_is_on_the_replica_when_it_returns(
        durable: WalletPool, replicated: Replicated) -> None:
    lease = durable.allocate(POOL, "o1")
    assert _on_replica(replicated, "o1") == lease.address
    extended = durable.extend(lease, ttl=120)
    assert extended.expires_at > lease.expires_at


def test_a_stalled_replica_refuses_the_allocation_and_takes_the_lease_back(
        durable: WalletPool, replicated: Replicated) -> None:
    head = durable.peek(POOL, 1)
    replicated.stall()
    try:
        with pytest.raises(NotReplicated) as refused:
            durable.allocate(POOL, "o1")
        assert isinstance(refused.value, BackendUnavailable)
        assert refused.value.acknowledged == 0 and refused.value.wanted == 1
        assert "given back" in str(refused.value) and "safe to retry" in str(refused.value)
        # the lease is gone on the primary: no holder of it, the wallet free again
        assert durable.get_lease(POOL, "o1") is None
        stats = durable.stats(POOL)
        assert (stats.leased, stats.free) == (0, 5)
        assert head[0] in durable.peek(POOL, 5)
    finally:
        replicated.resume()
    again = durable.allocate(POOL, "o1")  # the retry, once the replica is back
    assert again.fresh and _on_replica(replicated, "o1") == again.address


def test_an_unconfirmed_extension_raises_and_keeps_the_lease(
        durable: WalletPool, replicated: Replicated) -> None:
    lease = durable.allocate(POOL, "o1")
    replicated.stall()
    try:
        with pytest.raises(NotReplicated, match="extend"):
            durable.extend(lease, ttl=120)
    finally:
        replicated.resume()
    assert durable.get_lease(POOL, "o1") is not None  # the holder still holds it


def test_allocate_many_and_pipelines_take_back_what_was_not_confirmed(
        durable: WalletPool, replicated: Replicated) -> None:
    replicated.stall()
    try:
        with pytest.raises(NotReplicated):
            durable.allocate_many(POOL, ["m1", "m2", "m3"])
        pipe = durable.pipeline()
        pipe.allocate(POOL, "p1")
        pipe.stats(POOL)
        allocated, stats = pipe.execute()
        assert isinstance(allocated, NotReplicated)
        assert not isinstance(stats, BaseException)
    finally:
        replicated.resume()
    assert durable.stats(POOL).leased == 0
    assert [durable.get_lease(POOL, o) for o in ("m1", "m2", "m3", "p1")] == [None] * 4
    pipe = durable.pipeline()
    pipe.allocate(POOL, "p1")
    (lease,) = pipe.execute()
    assert _on_replica(replicated, "p1") == lease.address  # type: ignore[attr-defined]


def test_a_retry_of_a_held_lease_is_never_taken_back(
        durable: WalletPool, replicated: Replicated) -> None:
    """An owner that asks again for the lease it holds gets it (fresh False). The lease
    predates the call, so whatever the replicas say then, it stays: the call returns
    it (the server had nothing new to wait for) or raises NotReplicated."""
    lease = durable.allocate(POOL, "o1")
    replicated.stall()
    try:
        try:
            assert durable.allocate(POOL, "o1").fresh is False
        except NotReplicated as refused:
            assert "given back" not in str(refused)
    finally:
        replicated.resume()
    assert durable.get_lease(POOL, "o1") == replace(lease, fresh=False)


def test_fsync_waits_for_the_aof_where_the_server_has_waitaof(replicated: Replicated) -> None:
    with redis.Redis(port=replicated.primary.port) as primary:
        primary.flushall()
    # the replica fsyncs its AOF once a second (everysec): give it more than that
    with WalletPool.from_url(replicated.primary.url, fsync=True, replicas=1,
                             replica_timeout=5) as pool:
        pool.configure(POOL, lease_ttl=60)
        pool.add(POOL, ["a0"])
        if binary_features(replicated.primary.binary)["waitaof"]:
            assert pool.allocate(POOL, "o1").address == "a0"
        else:
            with pytest.raises(InvalidInput, match="WAITAOF"):
                pool.allocate(POOL, "o1")


def test_settings_come_from_the_environment_and_are_checked(tmp_path: Path) -> None:
    from walletpool import Settings

    settings = Settings.from_env({"WALLETPOOL_REPLICAS": "2", "WALLETPOOL_REPLICA_TIMEOUT": "0.5",
                                  "WALLETPOOL_FSYNC": "true"})
    assert (settings.replicas, settings.replica_timeout, settings.fsync) == (2, 0.5, True)
    with pytest.raises(InvalidInput, match="replicas"):
        Settings(replicas=-1)
    with pytest.raises(InvalidInput, match="replica_timeout"):
        Settings(replica_timeout=0)


@contextmanager
def _an_order_waiting(replicated: Replicated, timeout: float
                      ) -> Iterator[tuple[WalletPool, Lease, list[object], threading.Thread]]:
    """A durable client (replicas=1) of a flushed primary, its one wallet held, and an
    order waiting for it in a thread: what that order's allocate returns or raises is
    appended to the list."""
    with redis.Redis(port=replicated.primary.port) as primary:
        primary.flushall()
    replicated.wait_in_sync()
    with WalletPool.from_url(replicated.primary.url, replicas=1,
                             replica_timeout=timeout) as pool:
        pool.configure(POOL)  # a plain pool, made on purpose
        pool.add(POOL, ["a0"])
        held = pool.allocate(POOL, "holder")
        outcome: list[object] = []

        def wait() -> None:
            try:
                outcome.append(pool.allocate(POOL, "waiter", wait=10))
            except NotReplicated as exc:
                outcome.append(exc)

        waiter = threading.Thread(target=wait)
        waiter.start()
        while pool.stats(POOL).waiting < 1:
            time.sleep(0.01)
        yield pool, held, outcome, waiter


def test_a_wallet_handed_to_a_waiting_order_is_on_the_replica_when_it_returns(
        replicated: Replicated) -> None:
    """The hand-off happens in the releaser's script; the waiter's own check of it is a
    durable call, so the waiting allocate returns only once the replica has the lease."""
    with _an_order_waiting(replicated, timeout=1) as (pool, held, outcome, waiter):
        pool.release(held)
        waiter.join()
        got = outcome[0]
        assert isinstance(got, Lease) and got.fresh
        with redis.Redis(port=replicated.replica.port, decode_responses=True) as replica:
            assert replica.hget(key("wp", POOL, "leases"), ">waiter") == "a0"


def test_a_hand_off_no_replica_confirmed_is_taken_back_and_the_waiter_told(
        replicated: Replicated) -> None:
    with _an_order_waiting(replicated, timeout=0.2) as (pool, held, outcome, waiter):
        replicated.stall()
        try:
            pool.release(held)
            waiter.join()
        finally:
            replicated.resume()
        assert isinstance(outcome[0], NotReplicated)
        assert pool.get_lease(POOL, "waiter") is None  # taken back on the primary
        assert pool.stats(POOL).free == 1


@pytest.mark.parametrize("together", [False, True], ids=["alone", "in-a-batch"])
def test_an_order_whose_joining_no_replica_confirmed_leaves_the_line(
        durable: WalletPool, replicated: Replicated, together: bool) -> None:
    """A waiting order's join the replica did not confirm is NotReplicated, and the
    order leaves the line on the primary: a wallet freed later is not handed to an
    order whose caller stopped waiting. Alone and in a coalesced batch."""
    held = [durable.allocate(POOL, f"h{i}") for i in range(5)]  # the pool drained
    joins = [waits.join(durable._ops, POOL, owner, 0, "", "", 60_000, "normal")
             for owner in ("w1", "w2")]
    replicated.stall()
    try:
        if together:
            outcomes = durable._send_batch(joins)
        else:
            outcomes = []
            for call in joins:
                try:
                    outcomes.append((durable._call_alone(call), None))
                except NotReplicated as exc:
                    outcomes.append((None, exc))
        assert all(isinstance(error, NotReplicated) and "given back" in str(error)
                   for _, error in outcomes), outcomes
        assert durable.stats(POOL).waiting == 0
        durable.release(held[0])
    finally:
        replicated.resume()
    assert durable.get_lease(POOL, "w1") is None and durable.get_lease(POOL, "w2") is None
    assert durable.stats(POOL).free == 1


def test_doctor_asks_a_primary_with_replicas_to_refuse_writes_without_them(
        replicated: Replicated) -> None:
    """A primary Sentinel demoted while it was paused comes back believing it leads; with
    min-replicas-to-write it refuses writes, as its replicas left it (the nemesis
    measures what that closes). doctor warns where it is missing, and where replicas
    are asked for without fsync (an AOF cut short can lose what they acknowledged)."""
    from click.testing import CliRunner

    from walletpool.cli import main

    url = replicated.primary.url
    runner = CliRunner()
    env = {"WALLETPOOL_REPLICAS": "0", "WALLETPOOL_FSYNC": "false"}
    unguarded = runner.invoke(main, ["--redis-url", url, "doctor"], env=env)
    assert unguarded.exit_code == 1
    assert "WARN  replication: 1 replicas attached, min-replicas-to-write 0" in unguarded.output
    assert "durability" not in unguarded.output
    with redis.Redis(port=replicated.primary.port) as primary:
        primary.config_set("min-replicas-to-write", 1)
        try:
            guarded = runner.invoke(main, ["--redis-url", url, "doctor"], env=env)
            assert "ok    replication: 1 replicas attached, min-replicas-to-write 1" \
                in guarded.output
            loose = runner.invoke(main, ["--redis-url", url, "doctor"],
                                  env={**env, "WALLETPOOL_REPLICAS": "1"})
            assert "WARN  durability: replicas=1 without fsync" in loose.output
            assert loose.exit_code == 1
            fsync = {**env, "WALLETPOOL_REPLICAS": "1", "WALLETPOOL_FSYNC": "true"}
            waiting = runner.invoke(main, ["--redis-url", url, "doctor"], env=fsync)
            assert "WARN  durability: fsync=true with appendfsync everysec" in waiting.output
            primary.config_set("appendfsync", "always")
            prompt = runner.invoke(main, ["--redis-url", url, "doctor"], env=fsync)
            assert "durability" not in prompt.output
        finally:
            primary.config_set("min-replicas-to-write", 0)
            primary.config_set("appendfsync", "everysec")


@pytest.mark.parametrize("client_kind", CLIENTS)
def test_a_primary_short_of_replicas_refuses_as_backend_unavailable(
        replicated: Replicated, client_kind: str) -> None:
    """min-replicas-to-write refuses the call before the script runs (NOREPLICAS): the
    caller gets BackendUnavailable, which a client with a database answers from its
    reserve, and nothing changed."""
    from walletpool import BackendUnavailable

    with redis.Redis(port=replicated.primary.port) as primary:
        primary.flushall()
        replicated.wait_in_sync()
        plain = WalletPool.from_url(replicated.primary.url)
        plain.configure("COIN", lease_ttl=60)
        plain.add("COIN", ["a1", "a2"])
        plain.close()
        loop = asyncio.new_event_loop()
        client = (WalletPool.from_url(replicated.primary.url) if client_kind == "WalletPool"
                  else cast(WalletPool, Blocking(AsyncWalletPool.from_url(
                      replicated.primary.url), loop)))
        primary.config_set("min-replicas-to-write", 2)  # one is attached
        try:
            with pytest.raises(BackendUnavailable, match="refuses writes now: NOREPLICAS"):
                client.allocate("COIN", "o1")
        finally:
            primary.config_set("min-replicas-to-write", 0)
        assert client.stats("COIN").free == 2
        client.close()
        loop.close()

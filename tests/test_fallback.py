"""The reserve and the fallback (docs/design.md, "The two lanes", invariant 8): wallets the
database holds back, allocation from them while Redis is down, the circuit breaker,
queued releases, rebalance, and the database-only mode. Real Redis servers of their own
(so they can be killed), real PostgreSQL and SQLite."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import redis
import sqlalchemy as sa

from tests.conftest import fresh_database, on_first_server
from tests.replication import Replicated, Sentinels
from walletpool import (
    BackendUnavailable,
    InvalidInput,
    LeaseLost,
    PoolExhausted,
    PoolNotFound,
    WaitTimeout,
    WalletPool,
)
from walletpool.dev.postgres_server import PostgresServer
from walletpool.dev.redis_server import RedisServer
from walletpool.models import RESERVE_TOKEN_BASE
from walletpool.reserve import queries as reserve
from walletpool.reserve.breaker import Breaker
from walletpool.settings import Settings
from walletpool.store import schema
from walletpool.store.restore import reconcile, restore
from walletpool.syncer import Syncer
from walletpool.verify import pool_state, problems

WALLETS = [f"w{i:02d}" for i in range(10)]


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis of this test alone, fsyncing every write: killing it loses nothing, so
    what the test sees after a restart is the fallback's doing, not lost data."""
    server = RedisServer(tmp_path / "redis", appendfsync="always").start()
    yield server
    server.kill()


OPENED: list[WalletPool] = []


@pytest.fixture(autouse=True)
def close_clients() -> Iterator[None]:
    """Every client a test made with client() is closed when the test ends."""
    yield
    while OPENED:
        OPENED.pop().close()


def client(server: RedisServer, engine: sa.Engine, **settings: Any) -> WalletPool:
    pool = WalletPool.from_url(server.url, database_url=engine.url.render_as_string(
        hide_password=False), socket_timeout=1.0, **settings)
    OPENED.append(pool)
    return pool


def synced(pool: WalletPool, engine: sa.Engine) -> None:
    syncer = Syncer(pool.redis, engine, consumer="test")
    while syncer.run_once():
        pass


def ready_pool(server: RedisServer, engine: sa.Engine, size: int = 3,
               **settings: object) -> WalletPool:
    pool = client(server, engine, **settings)
    pool.configure("COIN", lease_ttl=60, cooldown=0, max_size=100, reserve=size)
    pool.add("COIN", WALLETS)
    synced(pool, engine)
    return pool


def in_outage(server: RedisServer, store: sa.Engine) -> WalletPool:
    """A pool with its reserve of three filled, and then its Redis killed."""
    pool = ready_pool(server, store)
    pool.rebalance("COIN")
    server.kill()
    return pool


def rows(engine: sa.Engine) -> dict[str, sa.RowMapping]:
    w = schema.wallets
    with engine.connect() as conn:
        return {r["address"]: r for r in conn.execute(sa.select(w)).mappings()}


def test_rebalance_moves_the_oldest_free_wallets_into_the_reserve_and_gives_surplus_back(
        own_redis: RedisServer, store: sa.Engine) -> None:
    pool = ready_pool(own_redis, store)
    done = pool.rebalance("COIN")
    assert (done.size, done.taken, done.returned, done.free_in_reserve) == (3, 3, 0, 3)
    held = {a for a, r in rows(store).items() if r["state"] == "reserve"}
    assert held == {"w00", "w01", "w02"}  # the head of the queue: idle longest
    stats = pool.stats("COIN")
    assert (stats.free, stats.reserve, stats.reserve_target, stats.mode) == (7, 3, 3, "redis")
    state = pool_state(pool.redis, "wp", "COIN")
    assert problems(state) == [] and state.reserve == held
    assert pool.peek("COIN", 10) == WALLETS[3:]

    assert pool.rebalance("COIN").taken == 0  # at its size: nothing moves
    pool.configure("COIN", reserve=1)
    back = pool.rebalance("COIN")
    assert (back.returned, back.free_in_reserve) == (2, 1)
    assert pool.peek("COIN", 10) == [*WALLETS[3:], "w00", "w01"]  # back at the tail
    assert problems(pool_state(pool.redis, "wp", "COIN")) == []
    synced(pool, store)
    assert reconcile(pool.redis, store, "wp", "COIN") == []
    pool.close()


def test_the_reserve_serves_while_redis_is_down_and_never_a_wallet_redis_holds(
        own_redis: RedisServer, store: sa.Engine) -> None:
    pool = ready_pool(own_redis, store, breaker_probe=0.2)
    pool.rebalance("COIN")
    in_redis = [pool.allocate("COIN", f"before-{i}") for i in range(2)]
    # The syncer has not seen these leases: the database still thinks w03, w04 are free.
    own_redis.kill()

    from_reserve = [pool.allocate("COIN", f"during-{i}") for i in range(3)]
    assert all(lease.from_reserve and lease.token > RESERVE_TOKEN_BASE for lease in from_reserve)
    assert {lease.address for lease in from_reserve} == {"w00", "w01", "w02"}
    assert not {lease.address for lease in from_reserve} & {lease.address for lease in in_redis}
    assert pool.allocate("COIN", "during-0") == replace(from_reserve[0], fresh=False)
    with pytest.raises(PoolExhausted, match="Redis is unavailable") as exhausted:
        pool.allocate("COIN", "during-3")
    assert exhausted.value.leased == 3
    stats = pool.stats("COIN")
    assert (stats.mode, stats.reserve, stats.fallback_switches) == ("fallback", 3, 1)

    assert pool.release(from_reserve[0]) == "reserve"
    with pytest.raises(LeaseLost):
        pool.release(from_reserve[0])  # fenced: released once only
    again = pool.allocate("COIN", "during-4")
    assert again.address == from_reserve[0].address and again.token > from_reserve[2].token
    extended = pool.extend(from_reserve[1], ttl=120)
    assert extended.expires_at > from_reserve[1].expires_at
    assert pool.release(in_redis[0]) == "queued"
    with pytest.raises(BackendUnavailable):
        pool.extend(in_redis[1], ttl=120)

    own_redis.start()
    time.sleep(0.25)  # the breaker probes Redis again after breaker_probe
    after = pool.allocate("COIN", "after-0")
    assert not after.from_reserve and pool.mode == "redis"
    assert pool.stats("COIN").fallback_switches == 2
    done = pool.rebalance("COIN")
    assert (done.released, done.refused) == (1, 0)
    assert pool.get_lease("COIN", "before-0") is None  # the queued release was applied
    with pytest.raises(LeaseLost):
        pool.release(in_redis[0])  # and is not applied twice
    for lease in (extended, from_reserve[2], again):
        assert pool.release(lease) == "reserve"
    pool.release(in_redis[1])
    pool.release(after)
    synced(pool, store)
    assert reconcile(pool.redis, store, "wp", "COIN") == []
    assert problems(pool_state(pool.redis, "wp", "COIN")) == []
    pool.close()


def test_the_breaker_stops_trying_a_hung_redis_and_probes_it_again(
        own_redis: RedisServer, store: sa.Engine) -> None:
    pool = ready_pool(own_redis, store, breaker_failures=2, breaker_probe=0.3)
    pool.rebalance("COIN")
    assert own_redis.process is not None
    os.kill(own_redis.process.pid, signal.SIGSTOP)  # hung: every call would time out
    try:
        breaker = pool._lane.breaker  # type: ignore[union-attr]
        leases = [pool.allocate("COIN", f"o{i}") for i in range(3)]
        assert all(lease.from_reserve for lease in leases)
        assert breaker.redis_attempts == 2  # the third call did not wait for Redis
        time.sleep(0.35)
        pool.release(leases[0])  # a reserve lease: the database alone, no probe
        pool.allocate("COIN", "o3")  # the probe: one more try, failed
        assert breaker.redis_attempts == 3 and pool.mode == "fallback"
    finally:
        os.kill(own_redis.process.pid, signal.SIGCONT)
    time.sleep(0.35)
    lease = pool.allocate("COIN", "o4")
    mode: str = pool.mode  # the allocation switched it back
    assert not lease.from_reserve and mode == "redis"
    pool.close()


def _until_the_lookout_hears_redis(pool: WalletPool, timeout: float = 30.0) -> None:
    """Until the breaker's lookout has seen Redis answer (an event, not a duration: the
    bound is only there so that a broken lookout fails the test instead of hanging it)."""
    lookout = pool._lane.lookout  # type: ignore[union-attr]
    deadline = time.monotonic() + timeout
    while lookout.answers == 0:
        assert time.monotonic() < deadline, "the lookout never heard Redis answer"
        time.sleep(0.01)


def test_a_paused_redis_is_probed_as_soon_as_it_answers_again(
        own_redis: RedisServer, store: sa.Engine) -> None:
    """The breaker's next probe is an hour away: only its lookout, which asks Redis every
    100 ms while the breaker is open, can bring the client back once the pause ends.
    Meanwhile no caller waits on the paused server."""
    pool = ready_pool(own_redis, store, breaker_failures=1, breaker_probe=3600)
    pool.rebalance("COIN")
    breaker = pool._lane.breaker  # type: ignore[union-attr]
    assert own_redis.process is not None
    os.kill(own_redis.process.pid, signal.SIGSTOP)
    try:
        assert pool.allocate("COIN", "opens").from_reserve  # one timeout, then open
        assert pool.allocate("COIN", "skips").from_reserve
        assert breaker.redis_attempts == 1 and pool.mode == "fallback"
    finally:
        os.kill(own_redis.process.pid, signal.SIGCONT)
    _until_the_lookout_hears_redis(pool)
    lease = pool.allocate("COIN", "after")
    mode: str = pool.mode
    assert not lease.from_reserve and mode == "redis"


@on_first_server
def test_after_a_failover_the_client_probes_the_primary_sentinel_names(
        tmp_path: Path, redis_server: RedisServer, store: sa.Engine) -> None:
    """The primary dies; the client on the redis+sentinel:// URL falls back to the
    reserve. Its breaker's probe is an hour away, yet once Sentinel names the promoted
    replica the lookout hears it, and the next allocation is the new primary's."""
    pair = Replicated(tmp_path, redis_server.binary).start()
    sentinels = Sentinels(tmp_path, redis_server.binary, pair.primary.port).start()
    try:
        url = store.url.render_as_string(hide_password=False)
        with WalletPool.from_url(sentinels.url, database_url=url, socket_timeout=1.0,
                                 breaker_failures=1, breaker_probe=3600) as pool:
            pool.configure("COIN", lease_ttl=60, cooldown=0, max_size=100, reserve=3)
            pool.add("COIN", WALLETS)
            synced(pool, store)
            pool.rebalance("COIN")
            pair.wait_in_sync()
            pair.fail_over(promote=False)
            assert pool.allocate("COIN", "during").from_reserve
            assert pool.mode == "fallback"
            promoted = sentinels.wait_promoted(pair.primary.port)
            _until_the_lookout_hears_redis(pool)
            lease = pool.allocate("COIN", "after")
            mode: str = pool.mode  # the allocation switched it back
            assert not lease.from_reserve and mode == "redis"
            with redis.Redis(port=promoted) as primary:
                assert primary.hget("wp:{COIN}:leases", lease.wallet) is not None
    finally:
        sentinels.stop()
        pair.stop()


def test_with_redis_and_the_database_both_down_every_error_is_backend_unavailable(
        own_redis: RedisServer, restartable_postgres: PostgresServer) -> None:
    """Redis hangs (SIGSTOP: a pause, a partition), so the breaker keeps the client off
    it, and the database is down too: allocate, release and stats raise
    BackendUnavailable, never SQLAlchemy's errors. Once Redis answers again, the next
    call reaches it at once although the breaker's probe is an hour away: a client
    whose reserve is unreachable tries Redis again instead of failing meanwhile."""
    engine = fresh_database(restartable_postgres.url)
    assert own_redis.process is not None
    try:
        pool = ready_pool(own_redis, engine, breaker_failures=1, breaker_probe=3600)
        pool.rebalance("COIN")
        in_redis = pool.allocate("COIN", "before")
        os.kill(own_redis.process.pid, signal.SIGSTOP)
        from_reserve = pool.allocate("COIN", "during")  # the breaker opens
        assert from_reserve.from_reserve and pool.mode == "fallback"
        restartable_postgres.kill()
        for call in (lambda: pool.allocate("COIN", "both-down"),
                     lambda: pool.allocate("COIN", "both-down", wait=0.3),
                     lambda: pool.release(from_reserve),
                     lambda: pool.release(in_redis),
                     lambda: pool.stats("COIN")):
            with pytest.raises(BackendUnavailable, match="database is unavailable"):
                call()
        os.kill(own_redis.process.pid, signal.SIGCONT)
        lease = pool.allocate("COIN", "after")
        mode: str = pool.mode  # the allocation switched it back
        assert not lease.from_reserve and mode == "redis"
        assert pool.release(in_redis) == "free"
    finally:
        os.kill(own_redis.process.pid, signal.SIGCONT)
        engine.dispose()


def test_the_syncer_and_a_late_stream_never_touch_a_wallet_of_the_reserve(
        own_redis: RedisServer, store: sa.Engine) -> None:
    pool = ready_pool(own_redis, store)
    lease = pool.allocate("COIN", "early")  # w00, still only in the stream
    pool.release(lease)  # w00 goes to the tail; w01.. are now the head
    pool.rebalance("COIN")
    reserved = {a for a, r in rows(store).items() if r["state"] == "reserve"}
    assert reserved == {"w01", "w02", "w03"}
    own_redis.kill()
    taken = pool.allocate("COIN", "during")
    before = dict(rows(store)[taken.address])
    own_redis.start()
    synced(pool, store)  # the stream's events of w01..w03, older and newer, arrive now
    assert dict(rows(store)[taken.address]) == before
    assert {a for a, r in rows(store).items() if r["state"] == "reserve"} == reserved - {
        taken.address}
    assert reconcile(pool.redis, store, "wp", "COIN") == []
    pool.close()


def test_restore_keeps_the_reserve_in_the_database(own_redis: RedisServer,
                                                   store: sa.Engine) -> None:
    pool = in_outage(own_redis, store)
    held = pool.allocate("COIN", "during")
    own_redis.start()
    pool.redis.flushall()  # Redis lost everything
    restored = restore(pool.redis, store, "wp", "COIN")
    assert restored.reserve == 3
    state = pool_state(pool.redis, "wp", "COIN")
    assert state.reserve == {"w00", "w01", "w02"} and problems(state) == []
    assert held.address not in state.free
    got = {pool.allocate("COIN", f"after-{i}").address for i in range(7)}
    assert got == set(WALLETS[3:])
    assert pool.release(held) == "reserve"
    pool.close()


def test_without_redis_queues_the_database_alone_runs_the_pool(store: sa.Engine) -> None:
    dead = redis.Redis(port=1, socket_connect_timeout=0.2)  # never contacted
    pool = WalletPool(dead, settings=Settings(
        database_url=store.url.render_as_string(hide_password=False), redis_queues=False))
    OPENED.append(pool)
    with pytest.raises(PoolNotFound, match="walletpool configure CASH --network"):
        pool.add("CASH", ["c1"])  # no name implies it: made on purpose only, as with Redis
    assert pool.configure("CASH", lease_ttl=30, cooldown=0) is True
    assert pool.add("CASH", ["c1", "c2", "c2", "c3"]).added == 3
    first = pool.allocate("CASH", "o1")
    assert first.address == "c1" and first.from_reserve
    assert pool.allocate("CASH", "o1") == replace(first, fresh=False)
    assert pool.get_lease("CASH", "o1") == replace(first, fresh=False)
    assert [pool.allocate("CASH", f"o{i}").address for i in (2, 3)] == ["c2", "c3"]
    with pytest.raises(PoolExhausted, match="ENABLE_REDIS_WALLET_QUEUES=false"):
        pool.allocate("CASH", "o4")
    assert pool.release(first) == "reserve"
    assert pool.allocate("CASH", "o4").address == "c1"
    stats = pool.stats("CASH")
    assert (stats.mode, stats.reserve, stats.leased) == ("fallback", 3, 3)

    lines = ["# more", "c4", "c2", "bad address!", "c5"]
    trial = pool.import_wallets("CASH", lines, dry_run=True)
    assert (trial.added, trial.duplicates, len(trial.rejected)) == (2, 1, 1)
    report = pool.import_wallets("CASH", lines)
    assert (report.added, report.duplicates, [r.line for r in report.rejected]) == (2, 1, [4])
    short = pool.allocate("CASH", "short", ttl=0.05)
    assert short.address == "c4"  # c1..c3 are leased: the imported ones, in file order
    time.sleep(0.1)
    assert pool.reap("CASH") == 1
    assert pool.allocate("CASH", "o5").address == "c5"
    pool.close()


def test_enable_redis_wallet_queues_false_needs_a_database() -> None:
    with pytest.raises(InvalidInput, match="WALLETPOOL_DATABASE_URL"):
        Settings.from_env({"ENABLE_REDIS_WALLET_QUEUES": "false"})
    on = Settings.from_env({"ENABLE_REDIS_WALLET_QUEUES": "false",
                            "WALLETPOOL_DATABASE_URL": "sqlite://"})
    assert on.redis_queues is False and on.database_url == "sqlite://"
    with pytest.raises(InvalidInput, match="true or false"):
        Settings.from_env({"ENABLE_REDIS_WALLET_QUEUES": "maybe"})


def test_reserve_counts_an_expired_lease_and_takes_it_back(store: sa.Engine,
                                                           own_redis: RedisServer) -> None:
    pool = in_outage(own_redis, store)
    short = pool.allocate("COIN", "short", ttl=0.05)
    time.sleep(0.1)
    assert reserve.counts(store, "COIN").expired == 1
    with pytest.raises(LeaseLost, match="expired"):
        pool.release(short)
    assert reserve.counts(store, "COIN") == reserve.ReserveCounts(3, 0, 0, 0)
    pool.close()


def test_the_asyncio_client_falls_back_the_same_way(own_redis: RedisServer,
                                                    store: sa.Engine) -> None:
    import asyncio

    from walletpool import AsyncWalletPool

    ready_pool(own_redis, store).rebalance("COIN")
    url = store.url.render_as_string(hide_password=False)

    async def scenario() -> None:
        async with AsyncWalletPool.from_url(own_redis.url, database_url=url,
                                            socket_timeout=1.0, breaker_probe=0.2) as pool:
            before = await pool.allocate("COIN", "before")
            own_redis.kill()
            leases = await asyncio.gather(*(pool.allocate("COIN", f"t{i}") for i in range(3)))
            assert all(lease.from_reserve for lease in leases)
            assert {lease.address for lease in leases} == {"w00", "w01", "w02"}
            with pytest.raises(PoolExhausted, match="Redis is unavailable"):
                await pool.allocate("COIN", "t3")
            assert (await pool.stats("COIN")).mode == "fallback"
            assert await pool.release(leases[0]) == "reserve"
            assert await pool.get_lease("COIN", "t1") == replace(leases[1], fresh=False)
            assert await pool.release_many([before]) == [True]  # queued
            own_redis.start()
            await asyncio.sleep(0.25)
            assert not (await pool.allocate("COIN", "after")).from_reserve
            assert await pool.release_many(leases[1:]) == [True, True]

    asyncio.run(scenario())
    with WalletPool.from_url(own_redis.url, database_url=url) as pool:
        assert pool.rebalance("COIN").released == 1
        assert pool.get_lease("COIN", "before") is None


def test_a_rebalancer_that_dies_after_the_take_script_loses_no_wallet(
        own_redis: RedisServer, store: sa.Engine) -> None:
    pool = ready_pool(own_redis, store)
    moved = pool._do(pool._ops.reserve_take("COIN", 2, 1))  # ... and then it died
    assert [w for w, _ in moved] == ["w00", "w01"]
    synced(pool, store)  # the syncer applies the 'reserved' events in its place
    assert {a for a, r in rows(store).items() if r["state"] == "reserve"} == {"w00", "w01"}
    own_redis.kill()
    assert {pool.allocate("COIN", f"o{i}").address for i in range(2)} == {"w00", "w01"}
    pool.close()


def test_the_syncer_never_changes_a_row_the_database_holds(own_redis: RedisServer,
                                                           store: sa.Engine) -> None:
    from walletpool.store.apply import Event, apply_batch

    pool = in_outage(own_redis, store)
    held = pool.allocate("COIN", "during")
    before = {a: dict(r) for a, r in rows(store).items()}
    newer = before[held.address]["event_ms"] + 1000
    with store.begin() as conn:  # a stream claiming w00..w02 went back to Redis, later
        apply_batch(conn, [Event(pool="COIN", ms=newer, seq=i, type="released", at=newer,
                                 address=a, state="free", uses=9)
                           for i, a in enumerate(["w00", "w01", "w02"])])
    after = {a: dict(r) for a, r in rows(store).items()}
    assert after == before
    pool.close()


def test_the_cli_configures_the_reserve_rebalances_and_shows_it(own_redis: RedisServer,
                                                                store: sa.Engine) -> None:
    from click.testing import CliRunner

    from walletpool.cli import main

    url = store.url.render_as_string(hide_password=False)
    runner = CliRunner(env={"WALLETPOOL_DATABASE_URL": url})

    def cli(*args: str) -> str:
        result = runner.invoke(main, ["--redis-url", own_redis.url, *args])
        assert result.exit_code == 0, result.output
        return result.output

    assert "reserve=4" in cli("configure", "COIN", "--cooldown", "0", "--reserve", "4")
    with WalletPool.from_url(own_redis.url) as plain:
        plain.add("COIN", WALLETS)
    cli("sync", "--once", "--rebalance-every", "0")  # syncs, leaves the reserve alone
    assert "COIN: reserve 4 free of size 4 (took 4, gave back 0" in cli("rebalance", "COIN")
    table = cli("stats", "COIN").splitlines()
    header, row = table[0].split(), table[1].split()
    assert dict(zip(header, row, strict=False))["reserve"] == "4"
    assert "mode" not in header  # the narrow table names the mode only in a fallback
    wide = cli("stats", "COIN", "--wide").splitlines()
    assert dict(zip(wide[0].split(), wide[1].split(), strict=False))["mode"] == "redis"
    assert "reserve=1" in cli("configure", "COIN", "--reserve", "1")
    done = cli("rebalance", "--json")
    assert '"returned": 3' in done
    assert "reserve=3" in cli("configure", "COIN", "--reserve", "3")
    # issue 27: sync --once rebalances as a running syncer does at its start
    once = cli("sync", "--once")
    assert "COIN: reserve 3 free of size 3 (took 2, gave back 0" in once, once
    assert "took 0" in cli("rebalance", "COIN")


def test_an_allocation_no_replica_confirmed_falls_back_to_the_reserve(
        own_redis: RedisServer, store: sa.Engine) -> None:
    """replicas=1 with no replica attached: every Redis allocation is unconfirmed, so it
    is given back (NotReplicated, a BackendUnavailable) and the reserve serves instead,
    as for any outage: the order gets a wallet no failover can take from it."""
    setup = ready_pool(own_redis, store)
    setup.rebalance("COIN")
    durable = client(own_redis, store, replicas=1, replica_timeout=0.05)
    lease = durable.allocate("COIN", "order-1")
    assert lease.from_reserve and lease.token >= RESERVE_TOKEN_BASE
    assert lease.address in {"w00", "w01", "w02"}  # the reserve's, never Redis's free queue
    held = setup.get_lease("COIN", "order-1")  # in the database, not in Redis
    assert held is not None and (held.address, held.token) == (lease.address, lease.token)
    assert pool_state(setup.redis, "wp", "COIN").lease == {}  # Redis's lease was taken back
    assert durable.allocate("COIN", "order-2").from_reserve  # and so for each allocation


def test_an_order_that_waits_while_redis_is_down_waits_on_the_reserve(
        own_redis: RedisServer, store: sa.Engine) -> None:
    pool = in_outage(own_redis, store)
    held = [pool.allocate("COIN", f"during-{i}") for i in range(3)]  # the reserve is empty
    started = time.monotonic()
    with pytest.raises(WaitTimeout, match="Redis is unreachable") as timed_out:
        pool.allocate("COIN", "waiter", wait=0.6)
    assert 0.6 <= time.monotonic() - started < 5 and timed_out.value.waited >= 0.6
    releaser = threading.Timer(0.4, pool.release, args=(held[1],))
    releaser.start()
    got = pool.allocate("COIN", "waiter", wait=10)  # the reserve is asked until one is back
    releaser.join()
    assert got.from_reserve and got.address == held[1].address and got.fresh


def test_the_lookout_lets_one_probe_through_at_a_time() -> None:
    """On the breaker's test clock: each answer the lookout hears lets the next call
    probe at once, but never a second probe while one is under way."""
    now = [0.0]
    opened: list[bool] = []
    breaker = Breaker(1, 60.0, clock=lambda: now[0])
    breaker.on_open = lambda: opened.append(True)
    breaker.answered()  # closed: nothing to hurry
    breaker.failed(BackendUnavailable("down"))
    assert opened == [True] and not breaker.allow()
    breaker.answered()
    assert breaker.allow()  # the probe
    breaker.answered()
    assert not breaker.allow()  # the probe is still under way
    breaker.failed(BackendUnavailable("still down"))
    assert not breaker.allow()
    breaker.answered()
    assert breaker.allow()
    breaker.succeeded()
    assert breaker.mode == "redis" and opened == [True]
    now[0] = 1000.0  # nothing the lookout heard shortens the next opening's interval
    breaker.failed(BackendUnavailable("down again"))
    assert opened == [True, True] and not breaker.allow()


def test_the_lookout_asks_only_a_server_the_settings_name(own_redis: RedisServer,
                                                          store: sa.Engine) -> None:
    """A client built from a URL may ask that server; one handed its own connection
    keeps the breaker's plain interval: the settings' URL need not be its server."""
    url = store.url.render_as_string(hide_password=False)
    built = client(own_redis, store)
    handed = WalletPool(redis.Redis(port=own_redis.port), database_url=url)
    OPENED.append(handed)
    assert built._lane is not None and built._lane.lookout.enabled
    assert handed._lane is not None and not handed._lane.lookout.enabled
    handed._lane.lookout.start()
    assert handed._lane.lookout._thread is None  # never started

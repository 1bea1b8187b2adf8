"""Write-behind to the database: every event lands once, rows end as the newest event
says, restore rebuilds exactly what was committed, reconcile sees differences. Runs on
PostgreSQL and, where the feature applies, on SQLite through the same code.
docs/design.md's invariants 4 (tokens grow across restores) and 7 (each event applied once,
none lost)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from click.testing import CliRunner

from tests.conftest import fresh_database
from tests.invariants import check_invariants
from walletpool import AddressTaken, LeaseLost, WalletPool
from walletpool.chains import sample_addresses
from walletpool.cli import main
from walletpool.dev.postgres_server import PostgresServer
from walletpool.dev.redis_server import RedisServer
from walletpool.store import schema
from walletpool.store.apply import Event, apply_batch
from walletpool.store.restore import PoolExists, reconcile, restore
from walletpool.syncer import GROUP, Syncer, lag
from walletpool.testing import freeze_clock, shift_clock

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def pool(sync_pool: WalletPool) -> WalletPool:
    """The syncer's tests drive Redis through the synchronous client alone: what they
    prove is the syncer's, not a client's."""
    return sync_pool


def sync_all(pool: WalletPool, engine: sa.Engine, **options: object) -> int:
    syncer = Syncer(pool.redis, engine, **options)  # type: ignore[arg-type]
    total = 0
    while done := syncer.run_once():
        total += done
    return total


def count(engine: sa.Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() or 0)


def changes(client: redis.Redis, pool: str = "COIN") -> int:
    """The changes recorded in a pool's stream (an entry holds all of one call's)."""
    entries: Any = client.xrange(f"wp:{{{pool}}}:events")
    return sum(len(Event.of_entry(pool, i, f)) for i, f in entries)


def churn(pool: WalletPool, name: str, rounds: int, batch: int = 50) -> int:
    """allocate_many + release_many rounds; returns the changes they recorded."""
    for r in range(rounds):
        pool.release_many(pool.allocate_many(name, [f"r{r}-{i}" for i in range(batch)]))
    return rounds * batch * 2


def test_every_event_type_lands_and_rows_match_redis(
        btc: WalletPool, redis_client: redis.Redis, store: sa.Engine) -> None:
    btc.configure("COIN", max_uses=3)
    lease = btc.allocate("COIN", "o1", correlation_id="c1", user_id="u1")
    btc.extend(lease, ttl=120)
    btc.release(btc.allocate("COIN", "o2"))
    btc.allocate("COIN", "o3", ttl=1)
    btc.configure("COIN", cooldown=5)
    shift_clock(btc, "COIN", 2)
    btc.reap("COIN")
    shift_clock(btc, "COIN", 8)
    btc.reap("COIN")
    btc.retire("COIN", "a4")
    appended = changes(redis_client)
    assert sync_all(btc, store) == appended
    with store.connect() as conn:
        kinds = set(conn.execute(sa.select(schema.events.c.type)).scalars())
        row = conn.execute(sa.select(schema.wallets).where(
            schema.wallets.c.address == lease.address)).mappings().one()
        settings = conn.execute(sa.select(schema.pools)).mappings().one()
    assert kinds == {"configured", "added", "allocated", "extended", "released", "expired",
                     "cooled", "retired"}
    assert count(store, schema.events) == appended
    assert (row["state"], row["owner"], row["token"], row["correlation_id"], row["uses"]) == (
        "leased", "o1", lease.token, "c1", 1)
    assert (settings["cooldown_ms"], settings["max_uses"], settings["max_token"]) == (
        5000, 3, btc.stats("COIN").last_token)
    assert reconcile(redis_client, store, "wp", "COIN") == []
    assert redis_client.xlen("wp:{COIN}:events") <= 1, "committed entries were not trimmed"


def test_replayed_and_reordered_batches_end_in_the_same_rows(
        btc: WalletPool, redis_client: redis.Redis, store: sa.Engine) -> None:
    btc.configure("COIN", cooldown=3)
    for i in range(4):
        btc.release(btc.allocate("COIN", f"o{i}"))
    btc.allocate("COIN", "held")
    entries: Any = redis_client.xrange("wp:{COIN}:events")
    batch = [e for i, f in entries for e in Event.of_entry("COIN", i, f)]
    with store.begin() as conn:
        apply_batch(conn, batch[::-1])
    assert count(store, schema.events) == len(batch)
    with store.begin() as conn:
        apply_batch(conn, batch)  # a replay inserts nothing
    assert count(store, schema.events) == len(batch)
    for half in (batch[len(batch) // 2 :], batch[: len(batch) // 2]):  # newer half first
        with store.begin() as conn:
            apply_batch(conn, half)
    assert count(store, schema.events) == len(batch)
    assert reconcile(redis_client, store, "wp", "COIN") == []


def test_flushall_then_restore_brings_back_the_pool_as_committed(
        btc: WalletPool, redis_client: redis.Redis, store: sa.Engine) -> None:
    btc.configure("COIN", cooldown=30, max_uses=5)
    cooling = btc.allocate("COIN", "o-cool")
    btc.release(cooling)
    held = btc.allocate("COIN", "o-held", correlation_id="c9")
    sync_all(btc, store)
    before = (btc.peek("COIN", 10), btc.stats("COIN"), btc.get_lease("COIN", "o-held"))
    redis_client.flushall()
    done = restore(redis_client, store, "wp", "COIN")
    assert (done.free, done.leased, done.cooling) == (3, 1, 1)
    freeze_clock(btc, "COIN", 1_800_000_000)  # the test clock is no setting: set it again
    after = (btc.peek("COIN", 10), btc.stats("COIN"), btc.get_lease("COIN", "o-held"))
    assert after[0] == before[0], "FIFO order changed"
    assert after[2] == before[2]
    for field in ("free", "leased", "cooling", "retired", "lease_ttl", "cooldown", "max_uses"):
        assert getattr(after[1], field) == getattr(before[1], field), field
    check_invariants(redis_client, "wp", "COIN")
    fresh = btc.allocate("COIN", "o-new")
    assert fresh.token > held.token  # invariant 4, across the restore
    assert btc.release(held) == "cooling"  # the live lease still releases with its token
    shift_clock(btc, "COIN", 31)
    btc.reap("COIN")
    assert cooling.address in btc.peek("COIN", 10)


def test_restore_brings_back_the_network_low_water_mark_and_family_claims(
        pool: WalletPool, redis_client: redis.Redis, store: sa.Engine) -> None:
    addresses = sample_addresses("eth", 3)
    pool.add("ETH", addresses)
    pool.configure("ETH", min_free=7)
    sync_all(pool, store)
    redis_client.flushall()
    restore(redis_client, store, "wp", "ETH")
    stats = pool.stats("ETH")
    assert (stats.network, stats.min_free, stats.free) == ("eth", 7, 3)
    with pytest.raises(AddressTaken, match="pool ETH"):
        pool.add("USDT-ERC20", addresses[1:2])


def test_restore_refuses_a_pool_that_still_exists(btc: WalletPool, redis_client: redis.Redis,
                                                  store: sa.Engine) -> None:
    sync_all(btc, store)
    with pytest.raises(PoolExists, match="force"):
        restore(redis_client, store, "wp", "COIN")
    assert restore(redis_client, store, "wp", "COIN", force=True).free == 5


def test_reconcile_finds_a_planted_difference(btc: WalletPool, redis_client: redis.Redis,
                                              redis_server: RedisServer,
                                              store: sa.Engine) -> None:
    lease = btc.allocate("COIN", "o1")
    sync_all(btc, store)
    url = str(store.url.render_as_string(hide_password=False))
    args = ["--redis-url", redis_server.url, "reconcile", "--database-url", url, "COIN"]
    assert CliRunner().invoke(main, args).exit_code == 0
    with store.begin() as conn:
        conn.execute(schema.wallets.update().where(schema.wallets.c.address == lease.address)
                     .values(state="free", owner=None, token=None))
    found = reconcile(redis_client, store, "wp", "COIN")
    assert [(d.address, d.database) for d in found] == [(lease.address, "free")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1 and "1 difference(s)" in result.output


def test_a_running_syncer_survives_redis_losing_its_data(
        btc: WalletPool, redis_client: redis.Redis, store: sa.Engine) -> None:
    syncer = Syncer(btc.redis, store, block=0.01)
    thread = threading.Thread(target=syncer.run)
    thread.start()
    try:
        btc.release(btc.allocate("COIN", "o1"))
        deadline = time.monotonic() + 20
        while count(store, schema.events) < 8 and time.monotonic() < deadline:
            time.sleep(0.02)
        redis_client.flushall()  # the stream and its consumer group are gone
        restore(redis_client, store, "wp", "COIN")
        btc.release(btc.allocate("COIN", "o2"))
        while count(store, schema.events) < 10 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        syncer.stop()
        thread.join()
    assert count(store, schema.events) == 10
    assert reconcile(redis_client, store, "wp", "COIN") == []


def test_the_stream_grows_while_no_syncer_runs_and_lag_shows_it(
        btc: WalletPool, redis_client: redis.Redis, store: sa.Engine) -> None:
    churn(btc, "COIN", 3, batch=5)
    unsynced = lag(redis_client, "wp", "COIN")
    assert unsynced.unsynced == redis_client.xlen("wp:{COIN}:events") >= 6
    sync_all(btc, store)
    assert lag(redis_client, "wp", "COIN").unsynced == 0
    churn(btc, "COIN", 1, batch=5)
    assert lag(redis_client, "wp", "COIN").unsynced == 2  # one entry per batch call


# -- faults, on PostgreSQL -----------------------------------------------------------------

def test_two_syncers_commit_each_event_once(pool: WalletPool, redis_client: redis.Redis,
                                           pg: sa.Engine) -> None:
    pool.configure("SYNC", lease_ttl=600)
    pool.add("SYNC", [f"s{i}" for i in range(100)])
    syncers = [Syncer(pool.redis, pg, consumer=f"c{i}", batch_size=64, block=0.01)
               for i in range(2)]
    threads = [threading.Thread(target=s.run) for s in syncers]
    for t in threads:
        t.start()
    appended = 101 + churn(pool, "SYNC", 40)
    deadline = time.monotonic() + 60
    while count(pg, schema.events) < appended and time.monotonic() < deadline:
        time.sleep(0.05)
    for s in syncers:
        s.stop()
    for t in threads:
        t.join()
    assert count(pg, schema.events) == appended
    assert [s.errors for s in syncers] == [0, 0]
    assert all(s.committed > 0 for s in syncers), "one syncer did all the work"
    assert sum(s.committed for s in syncers) == appended
    assert reconcile(redis_client, pg, "wp", "SYNC") == []


def run_cli_syncer(redis_url: str, db_url: str, consumer: str, *extra: str
                   ) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "walletpool.cli", "--redis-url", redis_url, "sync",
         "--database-url", db_url, "--consumer", consumer, "--block", "0.05",
         "--batch-size", "50", *extra],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONFAULTHANDLER": "1"})


def stop(process: subprocess.Popen[str]) -> None:
    """Kill `process` if it still runs, wait for it, and close its pipes."""
    if process.poll() is None:
        process.kill()
    process.wait()
    for pipe in (process.stdout, process.stderr):
        if pipe is not None:
            pipe.close()


@pytest.mark.parametrize(("successor", "claim_idle"), [("heir", "0.2"), ("doomed", "3600")],
                         ids=["another-syncer-claims", "same-name-resumes"])
def test_a_syncer_killed_mid_batch_loses_and_duplicates_nothing(
        pool: WalletPool, redis_server: RedisServer, redis_client: redis.Redis,
        pg: sa.Engine, successor: str, claim_idle: str) -> None:
    url = str(pg.url.render_as_string(hide_password=False))
    pool.configure("SYNC", lease_ttl=600)
    pool.add("SYNC", [f"s{i}" for i in range(100)])
    appended = 101
    first = run_cli_syncer(redis_server.url, url, "doomed")
    second = None
    try:
        # churn until the syncer is at work (a loaded machine may take seconds to start
        # it), then kill it in the middle of it
        deadline = time.monotonic() + 30
        while count(pg, schema.events) == 0 and time.monotonic() < deadline:
            appended += churn(pool, "SYNC", 10)
            time.sleep(0.05)
        appended += churn(pool, "SYNC", 10)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        assert first.returncode == -9
        appended += churn(pool, "SYNC", 10)
        assert count(pg, schema.events) < appended  # it died with work left
        # another syncer claims the dead one's unacknowledged entries, or the same name,
        # restarted, reads its own pending entries first
        second = run_cli_syncer(redis_server.url, url, successor, "--claim-idle", claim_idle)
        deadline = time.monotonic() + 60
        while count(pg, schema.events) < appended and time.monotonic() < deadline:
            time.sleep(0.1)
        second.send_signal(signal.SIGTERM)
        try:
            out, err = second.communicate(timeout=30)
        except subprocess.TimeoutExpired:  # say where it hung: its words, every stack
            second.send_signal(signal.SIGABRT)  # faulthandler prints each thread's stack
            try:
                out, err = second.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                second.kill()
                out, err = second.communicate()
            pytest.fail(f"the syncer did not stop on SIGTERM within 30 s (events "
                        f"{count(pg, schema.events)} of {appended}); its stderr:\n{err}")
    finally:  # never leave a syncer behind to read later tests' streams
        for process in (first, second):
            if process is not None:
                stop(process)
    assert second.returncode == 0 and "committed" in out, err
    assert count(pg, schema.events) == appended
    assert reconcile(redis_client, pg, "wp", "SYNC") == []
    assert redis_client.xpending("wp:{SYNC}:events", GROUP)["pending"] == 0


def test_postgres_restarted_under_load_loses_nothing(
        pool: WalletPool, redis_client: redis.Redis,
        restartable_postgres: PostgresServer) -> None:
    postgres_server = restartable_postgres
    pg = fresh_database(postgres_server.url)
    pool.configure("SYNC", lease_ttl=600)
    pool.add("SYNC", [f"s{i}" for i in range(100)])
    syncer = Syncer(pool.redis, pg, batch_size=64, block=0.01)
    thread = threading.Thread(target=syncer.run)
    thread.start()
    appended = 101 + churn(pool, "SYNC", 5)
    postgres_server.kill()
    appended += churn(pool, "SYNC", 10)  # allocation does not wait for the database
    time.sleep(0.5)
    postgres_server.start()
    deadline = time.monotonic() + 60
    while count(pg, schema.events) < appended and time.monotonic() < deadline:
        time.sleep(0.1)
    syncer.stop()
    thread.join()
    assert count(pg, schema.events) == appended
    assert reconcile(redis_client, pg, "wp", "SYNC") == []
    assert syncer.errors == 0  # the outage was waited out, not failed through
    pg.dispose()


def test_a_lease_redis_issued_but_never_synced_is_refused_after_restore(
        btc: WalletPool, redis_client: redis.Redis, store: sa.Engine) -> None:
    synced = btc.allocate("COIN", "o-synced")
    sync_all(btc, store)
    unsynced = btc.allocate("COIN", "o-lost")  # Redis dies before the syncer sees this
    redis_client.flushall()
    restore(redis_client, store, "wp", "COIN")
    assert btc.get_lease("COIN", "o-lost") is None
    assert unsynced.address in btc.peek("COIN", 10)  # free again, as the database knew it
    with pytest.raises(LeaseLost):
        btc.release(unsynced)
    again = btc.allocate("COIN", "o-next")
    assert again.token > unsynced.token  # its token can never be issued again
    assert btc.release(synced) == "free"


def test_a_syncer_started_while_the_database_is_down_waits_for_it(
        pool: WalletPool, redis_client: redis.Redis,
        restartable_postgres: PostgresServer, caplog: pytest.LogCaptureFixture) -> None:
    """A syncer exits only when told to: one started while its database is down waits
    for it (with backoff) instead of exiting, then copies everything."""
    pg = fresh_database(restartable_postgres.url)
    pool.configure("SYNC", lease_ttl=600)
    pool.add("SYNC", [f"s{i}" for i in range(100)])
    appended = 101 + churn(pool, "SYNC", 3)
    restartable_postgres.kill()
    syncer = Syncer(pool.redis, pg, batch_size=64, block=0.01)
    thread = threading.Thread(target=syncer.run)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not any("database unavailable at start" in r.getMessage()
                      for r in caplog.records) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert thread.is_alive()
        restartable_postgres.start()
        while count(pg, schema.events) < appended and time.monotonic() < deadline + 30:
            time.sleep(0.05)
    finally:
        syncer.stop()
        thread.join()
    assert count(pg, schema.events) == appended
    assert reconcile(redis_client, pg, "wp", "SYNC") == []
    pg.dispose()


def test_a_failing_lag_report_never_stops_the_syncer(
        redis_server: RedisServer, pool: WalletPool, redis_client: redis.Redis,
        pg: sa.Engine) -> None:
    """The lag report and the rebalance run beside the sync: when one fails (here the
    syncer's user may not XRANGE, which only the report reads with; in the field a Redis
    time-out in the middle of it), the failure is logged and the syncer goes on."""
    redis_client.acl_setuser("syncer", enabled=True, passwords=["+secret"], keys=["*"],
                             channels=["*"], commands=["+@all", "-xrange"])
    client = redis.Redis(port=redis_server.port, username="syncer", password="secret")
    syncer = Syncer(client, pg, batch_size=64, block=0.01, report_every=0)
    thread = threading.Thread(target=syncer.run)
    try:
        pool.configure("SYNC", lease_ttl=600)
        pool.add("SYNC", [f"s{i}" for i in range(100)])
        thread.start()
        appended = 101 + churn(pool, "SYNC", 3)
        deadline = time.monotonic() + 30
        while count(pg, schema.events) < appended and time.monotonic() < deadline:
            time.sleep(0.02)
        assert thread.is_alive()
        appended += churn(pool, "SYNC", 3)  # and it keeps syncing
        while count(pg, schema.events) < appended and time.monotonic() < deadline:
            time.sleep(0.02)
        assert thread.is_alive()
        with pytest.raises(redis.exceptions.NoPermissionError):
            syncer.report()  # the report did fail all along
    finally:
        syncer.stop()
        thread.join()
        client.close()
        redis_client.acl_deluser("syncer")
    assert count(pg, schema.events) == appended


def test_the_syncers_own_writes_honour_the_durability_settings(
        pool: WalletPool, pg: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """A rebalance's moves and a heal are the syncer's own writes to Redis: they wait for
    the replicas the environment asks for (WALLETPOOL_REPLICAS), or those of the
    settings `walletpool sync` passes."""
    monkeypatch.setenv("WALLETPOOL_REPLICAS", "1")
    monkeypatch.setenv("WALLETPOOL_FSYNC", "true")
    writer = Syncer(pool.redis, pg)._pool_client()
    assert (writer.settings.replicas, writer.settings.fsync) == (1, True)
    durability = writer._durability  # the client that runs its programs waits for them
    assert (durability.replicas, durability.fsync) == (1, True)
    given = Syncer(pool.redis, pg, settings=pool.settings)._pool_client()
    assert given.settings is pool.settings

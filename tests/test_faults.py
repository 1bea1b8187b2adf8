"""Faults: Redis crashing under load, replies lost mid-call, clients killed mid-lease,
connections killed by the server. Every invariant must hold afterwards, with no
wallet lost or handed to two owners (docs/design.md, invariants 1, 2, 5, 8)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
import redis

from tests.invariants import check_invariants
from tests.proxy import LossyProxy
from tests.stress import Holding, overlaps
from walletpool import BackendUnavailable, Lease, LeaseLost, PoolExhausted, WalletPool
from walletpool.dev.redis_server import RedisServer
from walletpool.engine.scripts import all_scripts
from walletpool.testing import shift_clock

T = TypeVar("T")

ROOT = Path(__file__).resolve().parent.parent


# -- replies lost after the script ran -------------------------------------------------

@pytest.fixture
def lossy(redis_server: RedisServer,
          redis_client: redis.Redis) -> Iterator[tuple[LossyProxy, WalletPool]]:
    for script in all_scripts():  # so the reply lost is that of a script that ran
        redis_client.script_load(script.source)
    proxy = LossyProxy(redis_server.port)
    pool = WalletPool.from_url(proxy.url, socket_timeout=2)
    pool.configure("COIN", lease_ttl=60)
    pool.add("COIN", ["a0", "a1", "a2"])
    yield proxy, pool
    pool.close()
    proxy.close()


def test_an_allocate_whose_reply_was_lost_is_retried_into_the_same_lease(
        lossy: tuple[LossyProxy, WalletPool], redis_client: redis.Redis) -> None:
    proxy, pool = lossy
    proxy.drop_replies = 1
    lease = pool.allocate("COIN", "order-1")
    assert proxy.dropped == 1
    assert lease.fresh is False, "the lost first call did run; the retry must find its lease"
    assert (lease.address, pool.stats("COIN").leased) == ("a0", 1)
    check_invariants(redis_client, "wp", "COIN")


def test_an_allocate_many_whose_reply_was_lost_makes_no_extra_lease(
        lossy: tuple[LossyProxy, WalletPool], redis_client: redis.Redis) -> None:
    proxy, pool = lossy
    proxy.drop_replies = 1
    leases = pool.allocate_many("COIN", ["o1", "o2"])
    assert [x.fresh for x in leases] == [False, False]
    assert pool.stats("COIN").leased == 2
    check_invariants(redis_client, "wp", "COIN")


def test_a_release_whose_reply_was_lost_is_resolved_by_its_token(
        lossy: tuple[LossyProxy, WalletPool], redis_client: redis.Redis) -> None:
    """The release is sent again; Redis finds the token no longer holding the wallet,
    while the lease's deadline is still ahead: the first release applied, and the
    caller learns where it put the wallet, not a doubt."""
    proxy, pool = lossy
    lease = pool.allocate("COIN", "order-1")
    proxy.drop_replies = 1
    assert pool.release(lease) == "free"
    assert proxy.dropped == 1
    assert pool.get_lease("COIN", "order-1") is None
    assert pool.peek("COIN", 5) == ["a1", "a2", "a0"]  # released once, to the tail
    check_invariants(redis_client, "wp", "COIN")


def test_a_release_many_whose_reply_was_lost_reports_each_lease_released(
        lossy: tuple[LossyProxy, WalletPool], redis_client: redis.Redis) -> None:
    """As for one release: sent again, each lease refused with its deadline ahead was
    released by the first call, and the caller is told so, not that it was lost."""
    proxy, pool = lossy
    leases = pool.allocate_many("COIN", ["o1", "o2"])
    proxy.drop_replies = 1
    assert pool.release_many(leases) == [True, True]
    assert proxy.dropped == 1
    assert pool.stats("COIN").leased == 0
    with pytest.raises(LeaseLost):  # released once: a later release is refused
        pool.release(leases[0])
    check_invariants(redis_client, "wp", "COIN")


def test_a_lost_release_reply_in_a_cooling_pool_reports_cooling(
        lossy: tuple[LossyProxy, WalletPool], redis_client: redis.Redis) -> None:
    proxy, pool = lossy
    pool.configure("COIN", cooldown=30)
    lease = pool.allocate("COIN", "order-1")
    proxy.drop_replies = 1
    assert pool.release(lease) == "cooling"
    with pytest.raises(LeaseLost):  # a second release of the same lease is refused
        pool.release(lease)
    check_invariants(redis_client, "wp", "COIN")


def test_a_retire_whose_reply_was_lost_reports_that_it_retired(
        lossy: tuple[LossyProxy, WalletPool], redis_client: redis.Redis) -> None:
    proxy, pool = lossy
    proxy.drop_replies = 1
    assert pool.retire("COIN", "a1") is True
    assert proxy.dropped == 1 and pool.stats("COIN").retired == 1
    assert pool.retire("COIN", "a1") is False  # an ordinary second retire: already done
    check_invariants(redis_client, "wp", "COIN")


def test_a_pipeline_whose_replies_were_lost_leaves_a_clean_pool(
        lossy: tuple[LossyProxy, WalletPool], redis_client: redis.Redis) -> None:
    proxy, pool = lossy
    proxy.drop_replies = 1
    pipe = pool.pipeline()
    pipe.allocate("COIN", "o1").allocate("COIN", "o2")
    with pytest.raises(BackendUnavailable):
        pipe.execute()
    again = pool.allocate_many("COIN", ["o1", "o2"])  # the service retries by owner
    assert len({x.address for x in again}) == 2 and pool.stats("COIN").leased == 2
    check_invariants(redis_client, "wp", "COIN")


# -- Redis crashes in the middle of a load ---------------------------------------------

class Load:
    """Threads that allocate and release until stopped, retrying through outages the
    way a service would: the same owner again (allocate is idempotent per owner)."""

    def __init__(self, url: str, pool: str, threads: int) -> None:
        self.url, self.pool = url, pool
        self.stop = threading.Event()
        self.holdings: list[Holding] = []
        self.unavailable = 0
        self.cycles = 0
        self.errors: list[BaseException] = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, args=(i,)) for i in range(threads)]

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=60)

    def retry(self, call: Callable[[], T]) -> T:
        while True:
            try:
                return call()
            except BackendUnavailable:
                with self.lock:
                    self.unavailable += 1
                time.sleep(0.02)

    def run(self, n: int) -> None:
        try:
            self.cycle(n)
        except BaseException as exc:  # a thread's failure must fail the test
            self.errors.append(exc)

    def cycle(self, n: int) -> None:
        pool = WalletPool.from_url(self.url, socket_timeout=0.5)
        i = 0
        while not self.stop.is_set():
            owner = f"t{n}-{i}"
            i += 1
            try:
                lease = self.retry(lambda: pool.allocate(self.pool, owner))  # noqa: B023
            except PoolExhausted:
                time.sleep(0.002)
                continue
            start = time.monotonic()
            time.sleep(0.001)
            end = time.monotonic()
            try:
                self.retry(lambda: pool.release(lease))  # noqa: B023
            except LeaseLost as exc:
                # A release that ran but whose reply was lost: the retry finds the wallet
                # free ("none") or already leased to the next order ("stale").
                assert exc.reason in ("none", "stale"), exc
                assert pool.get_lease(self.pool, owner) is None
            with self.lock:
                self.holdings.append(Holding(lease.address, owner, lease.token, start, end))
                self.cycles += 1
        pool.close()


def test_a_redis_killed_mid_load_comes_back_from_its_aof_with_every_wallet(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    server = RedisServer(tmp_path, appendfsync="always").start()
    admin = WalletPool.from_url(server.url)
    admin.configure("CRASH", lease_ttl=30, cooldown=0)
    wallets = [f"c{i}" for i in range(6)]
    admin.add("CRASH", wallets)
    try:
        with Load(server.url, "CRASH", threads=3) as load:
            time.sleep(0.6)
            server.kill()
            time.sleep(0.6)
            with pytest.raises(BackendUnavailable):
                admin.stats("CRASH")
            before_restart = load.unavailable
            server.start()
            time.sleep(0.8)
        stats = admin.stats("CRASH")
        with capsys.disabled():
            print(f"\n  crash: {load.cycles} cycles, {load.unavailable} BackendUnavailable "
                  f"while down, {stats.free} free after")
        assert before_restart > 0, "the load never saw Redis down"
        assert load.errors == [] and load.cycles > 50
        assert overlaps(load.holdings) == []
        assert (stats.free, stats.leased, stats.total) == (len(wallets), 0, len(wallets))
        check_invariants(redis.Redis(port=server.port), "wp", "CRASH")
    finally:
        admin.close()
        server.stop()


def test_connections_killed_by_the_server_under_load_break_nothing(
        redis_server: RedisServer, redis_client: redis.Redis) -> None:
    admin = WalletPool.from_url(redis_server.url)
    admin.configure("KILL", lease_ttl=30)
    admin.add("KILL", [f"k{i}" for i in range(6)])
    with Load(redis_server.url, "KILL", threads=3) as load:
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            redis_client.client_kill_filter(_type="normal", skipme=True)
            time.sleep(0.01)
    stats = admin.stats("KILL")
    assert load.errors == [] and load.cycles > 50 and overlaps(load.holdings) == []
    assert (stats.free, stats.leased, stats.total) == (6, 0, 6)
    check_invariants(redis_client, "wp", "KILL")
    admin.close()


# -- a client killed between allocate and release ---------------------------------------

CRASHING_CLIENT = """
import json, os, signal, sys
from walletpool import WalletPool
pool = WalletPool.from_url(sys.argv[1])
lease = pool.allocate("COIN", "order-crashed", ttl=5)
print(json.dumps(lease.__dict__), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_client_killed_mid_lease_loses_it_and_its_late_release_is_refused(
        btc: WalletPool, redis_server: RedisServer, redis_client: redis.Redis) -> None:
    done = subprocess.run([sys.executable, "-c", CRASHING_CLIENT, redis_server.url],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == -9, done.stderr
    lease = Lease(**json.loads(done.stdout))
    assert btc.get_lease("COIN", "order-crashed") is not None
    shift_clock(btc, "COIN", 6)
    assert btc.reap("COIN") == 1
    assert btc.peek("COIN", 10)[-1] == lease.address
    with pytest.raises(LeaseLost):
        btc.release(lease)
    check_invariants(redis_client, "wp", "COIN")


# -- connections the server closed while they were idle --------------------------------

def test_connections_the_server_closed_while_idle_heal_without_an_error(
        pool: WalletPool, redis_client: redis.Redis) -> None:
    """A server `timeout`, a proxy or CLIENT KILL closes the client's idle connections
    between two calls: the next call, even a release_many (sent once, whatever
    happens), succeeds, on both clients."""
    pool.configure("COIN", lease_ttl=60)
    pool.add("COIN", ["a0", "a1"])
    lease = pool.allocate("COIN", "o1")
    killed = redis_client.client_kill_filter(_type="normal", skipme=True)
    assert killed >= 1
    time.sleep(0.1)  # the client's event loop (or socket) sees the close
    assert pool.release_many([lease]) == [True]
    redis_client.client_kill_filter(_type="normal", skipme=True)
    assert pool.allocate("COIN", "o2").fresh

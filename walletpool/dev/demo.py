"""`walletpool demo`: the main job end to end on one machine.

It starts a Redis (AOF on, data in a local folder) unless REDIS_URL names one, uses
SQLite unless WALLETPOOL_DATABASE_URL names a database, creates BTC, ETH, USDT-TRC20
and LTC pools of generated valid addresses, and runs concurrent orders against them
(allocate, waiting in line when a pool runs dry, hold, some extend, some abandon their
lease to expiry, release) with the write-behind syncer and a reaper running. Then it
checks the invariants on the Redis keys, lets the syncer catch up, reconciles Redis
with the database and prints a report. Exit 0 only when every check passed. It stops
whatever it started.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

from ..chains import sample_addresses
from ..client import WalletPool
from ..errors import LeaseLost, PoolExhausted, WaitTimeout
from ..models import PoolStats
from ..verify import pool_state, problems
from .redis_server import RedisServer, server_name

# pool -> (network, wallets, share of the orders)
# (small on purpose: LTC runs dry now and then, so exhaustion and waiting show too)
POOLS = {"BTC": ("btc", 60, 0.35), "ETH": ("eth", 50, 0.3), "USDT-TRC20": ("tron", 60, 0.25),
         "LTC": ("ltc", 20, 0.1)}
PREFIX = "demo"


@dataclass
class Options:
    seconds: float = 15.0
    workers: int = 48
    lease_ttl: float = 2.0
    cooldown: float = 0.3
    hold: tuple[float, float] = (0.005, 0.25)
    extend_share: float = 0.2
    abandon_share: float = 0.03
    wait: float = 1.0
    """How long an order waits in line for a wallet when none is free."""
    data_dir: Path = Path("walletpool-demo")


@dataclass
class Tally:
    """What the orders saw; each worker keeps its own, merged at the end."""

    allocations: int = 0
    releases: int = 0
    extends: int = 0
    abandoned: int = 0
    lost: int = 0
    exhausted: int = 0
    """Refusals: the pool's waiters were full (QueueFull)."""
    timeouts: int = 0
    """Orders that waited their whole wait and got no wallet (WaitTimeout)."""
    allocate_s: list[float] = field(default_factory=list)
    release_s: list[float] = field(default_factory=list)
    waits_s: list[float] = field(default_factory=list)
    holdings: list[tuple[str, float, float]] = field(default_factory=list)
    """(pool:wallet, start, end) on this process's monotonic clock: a part of each
    holding that surely lies within it, so an overlap is a real double allocation."""

    def merge(self, other: Tally) -> None:
        for name, value in vars(other).items():
            mine = getattr(self, name)
            setattr(self, name, mine + value)


def run(say: Callable[[str], None], status: Callable[[str], None],
        options: Options | None = None) -> int:
    options = options or Options()
    redis_url = os.environ.get("REDIS_URL")
    database_url = os.environ.get("WALLETPOOL_DATABASE_URL")
    options.data_dir.mkdir(parents=True, exist_ok=True)
    server = None
    if not redis_url:
        redis_dir = options.data_dir / "redis"
        _clear(redis_dir)
        server = RedisServer(redis_dir).start()
        redis_url = server.url
        say(f"started {server_name(server.binary)} at {redis_url} "
            f"(AOF on, data in {redis_dir})")
    if not database_url:
        db_file = options.data_dir / "walletpool.db"
        db_file.unlink(missing_ok=True)
        database_url = f"sqlite:///{db_file}"
    # The report counts low-water alerts and exhaustions; a warning for each would bury it.
    quiet = logging.getLogger("walletpool")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        return _run(say, status, options, redis_url, database_url)
    finally:
        quiet.setLevel(level)
        if server is not None:
            server.stop()
            say("stopped redis-server")


def _clear(folder: Path) -> None:
    if folder.is_dir():
        for item in folder.rglob("*"):
            if item.is_file():
                item.unlink()


def _run(say: Callable[[str], None], status: Callable[[str], None], options: Options,
         redis_url: str, database_url: str) -> int:
    from ..store.engine import create_engine
    from ..store.migrations import upgrade
    from ..store.restore import reconcile
    from ..syncer import Syncer, lag

    engine = create_engine(database_url, create=True)
    upgrade(engine)
    say(f"database: {engine.url.render_as_string(hide_password=True)}")
    with WalletPool.from_url(redis_url, prefix=PREFIX, max_connections=options.workers + 4) as wp:
        for name in POOLS:
            if wp.pools().count(name):
                raise SystemExit(f"pool {name} already exists under prefix {PREFIX!r} "
                                 f"at {redis_url}: use an empty Redis for the demo")
        for name, (network, count, _) in POOLS.items():
            wp.configure(name, lease_ttl=options.lease_ttl, cooldown=options.cooldown)
            wp.add(name, sample_addresses(network, count, seed=7))
        say("pools: " + ", ".join(f"{n} ({POOLS[n][0]}, {POOLS[n][1]} wallets)" for n in POOLS))

        syncer = Syncer(wp.redis, engine, prefix=PREFIX, block=0.2, report_every=3600)
        stop = threading.Event()
        tallies = [Tally() for _ in range(options.workers)]
        threads = [threading.Thread(target=syncer.run, name="syncer", daemon=True),
                   threading.Thread(target=_reaper, args=(wp, stop), name="reaper",
                                    daemon=True)]
        threads += [threading.Thread(target=_orders, args=(wp, i, options, stop, tallies[i]),
                                     name=f"orders-{i}", daemon=True)
                    for i in range(options.workers)]
        say(f"running {options.workers} concurrent order flows for {options.seconds:g} s "
            f"(leases {options.lease_ttl:g} s, cooldown {options.cooldown:g} s)")
        started = time.monotonic()
        for thread in threads:
            thread.start()
        while time.monotonic() - started < options.seconds:
            time.sleep(0.5)
            elapsed = time.monotonic() - started
            done = sum(t.allocations for t in tallies)
            levels = " ".join(f"{n}={wp.stats(n).free}" for n in POOLS)
            status(f"{elapsed:5.1f}s  {done:7d} orders  {done / elapsed:7.0f}/s  free: {levels}")
        stop.set()
        for thread in threads[1:]:
            thread.join()
        elapsed = time.monotonic() - started
        status("")

        total = Tally()
        for tally in tallies:
            total.merge(tally)
        # Let the abandoned leases run out and their cooldowns end, then settle them.
        time.sleep(options.lease_ttl + options.cooldown + 0.2)
        for name in POOLS:
            wp.reap(name)
        broken = {n: problems(pool_state(wp.redis, PREFIX, n)) for n in POOLS}
        overlaps = _overlaps(total.holdings)

        deadline = time.monotonic() + 30
        while any(lag(wp.redis, PREFIX, n).unsynced for n in POOLS):
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
        syncer.stop()
        threads[0].join()
        differences = {n: reconcile(wp.redis, engine, PREFIX, n) for n in POOLS}
        stats = {n: wp.stats(n) for n in POOLS}

    _report(say, total, elapsed, stats, broken, overlaps, differences, syncer.committed)
    sound = not overlaps and not any(broken.values()) and not any(differences.values())
    say("result: " + ("all checks passed" if sound else "CHECKS FAILED"))
    return 0 if sound else 1


def _orders(wp: WalletPool, worker: int, options: Options, stop: threading.Event,
            tally: Tally) -> None:
    rng = random.Random(worker)
    names = list(POOLS)
    weights = [POOLS[n][2] for n in names]
    number = 0
    while not stop.is_set():
        number += 1
        pool = rng.choices(names, weights)[0]
        owner = f"order-{worker}-{number}"
        sent = time.monotonic()
        try:  # no free wallet: the order waits in line, handed the next one freed
            lease = wp.allocate(pool, owner, correlation_id=f"demo-{worker}",
                                wait=options.wait)
        except WaitTimeout:
            tally.timeouts += 1
            continue
        except PoolExhausted:  # QueueFull: too many orders wait already
            tally.exhausted += 1
            if stop.wait(0.02):
                return
            continue
        got = time.monotonic()
        tally.allocations += 1
        if lease.waited:
            tally.waits_s.append(lease.waited)
        else:
            tally.allocate_s.append(got - sent)
        wallet = f"{pool}:{lease.wallet}"
        if rng.random() < options.abandon_share:  # the order is never paid: its lease expires
            tally.abandoned += 1
            tally.holdings.append((wallet, got, sent + options.lease_ttl))
            continue
        time.sleep(rng.uniform(*options.hold))
        if rng.random() < options.extend_share:
            try:
                lease = wp.extend(lease)
                tally.extends += 1
                time.sleep(rng.uniform(*options.hold))
            except LeaseLost:
                pass
        ending = time.monotonic()
        tally.holdings.append((wallet, got, min(ending, sent + options.lease_ttl)))
        try:
            wp.release(lease)
            tally.releases += 1
            tally.release_s.append(time.monotonic() - ending)
        except LeaseLost:
            tally.lost += 1


def _reaper(wp: WalletPool, stop: threading.Event) -> None:
    while not stop.wait(0.5):
        for name in POOLS:
            wp.reap(name)


def _overlaps(holdings: list[tuple[str, float, float]]) -> int:
    by_wallet: dict[str, list[tuple[float, float]]] = {}
    for wallet, start, end in holdings:
        by_wallet.setdefault(wallet, []).append((start, end))
    found = 0
    for spans in by_wallet.values():
        spans.sort()
        for (_, end), (start, _) in pairwise(spans):
            if start < end:
                found += 1
    return found


def _ms(values: list[float], share: float) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    return f"{ordered[min(len(ordered) - 1, int(len(ordered) * share))] * 1000:.2f} ms"


def _report(say: Callable[[str], None], t: Tally, elapsed: float,
            stats: Mapping[str, PoolStats], broken: Mapping[str, list[str]], overlaps: int,
            differences: Mapping[str, Sequence[object]], synced: int) -> None:
    say("")
    say(f"orders        {t.allocations} allocated, {t.releases} released, {t.extends} "
        f"extended, {t.abandoned} left to expire, {t.lost} late releases refused")
    say(f"throughput    {t.allocations / elapsed:.0f} allocations/s "
        f"({(t.allocations + t.releases + t.extends) / elapsed:.0f} operations/s)")
    say(f"latency       allocate (a wallet free) p50 {_ms(t.allocate_s, 0.5)} "
        f"p99 {_ms(t.allocate_s, 0.99)}; "
        f"release p50 {_ms(t.release_s, 0.5)} p99 {_ms(t.release_s, 0.99)}")
    say(f"waiting       {len(t.waits_s)} orders waited and were handed a wallet (wait p50 "
        f"{_ms(t.waits_s, 0.5)} p99 {_ms(t.waits_s, 0.99)}), {t.timeouts} timed out, "
        f"{t.exhausted} refused (waiters full)")
    for name, s in stats.items():
        say(f"pool {name:10} {s.free:4d} free {s.leased:3d} leased {s.cooling:3d} cooling  "
            f"{s.low_water_alerts} low-water alerts, {s.exhaustions} exhaustions")
    say("invariants    " + ("ok on every pool" if not any(broken.values()) else
                             "; ".join(f"{n}: {p}" for n, p in broken.items() if p)))
    say(f"double allocations  {overlaps} (overlapping holdings of one wallet)")
    say(f"sync          {synced} events written to the database")
    say("reconcile     " + ", ".join(f"{n}: {len(d)} differences" for n, d in differences.items()))

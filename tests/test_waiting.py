"""Orders that wait (allocate with `wait`): FIFO waiters served by direct hand-off on
every kind of freeing, priority, bounds, time-outs, cancellation, retries, and 1,000
asyncio waiters on one client. Real servers; the script-level tests run the same calls
the waiting program sends (engine/waits.py) on a frozen clock, so that they are exact."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from tests.conftest import FROZEN_AT, on_first_server
from tests.invariants import check_invariants
from walletpool import (
    AsyncWalletPool,
    Lease,
    PoolExhausted,
    QueueFull,
    WaitTimeout,
    WalletPool,
)
from walletpool.dev.redis_server import RedisServer
from walletpool.engine import waits
from walletpool.engine.waits import Queued
from walletpool.models import Priority
from walletpool.testing import freeze_clock, shift_clock

POOL = "COIN"
NOW_MS = int(FROZEN_AT * 1000)


def changes(client: redis.Redis, kind: str) -> list[list[str]]:
    """The fields of every change of `kind` in the pool's stream."""
    found = []
    entries: Any = client.xrange(f"wp:{{{POOL}}}:events")
    for _, entry in entries:
        for line in entry["c"].split("\n"):
            if line.startswith(kind + " "):
                found.append(line.split(" "))
    return found


def join(pool: WalletPool, owner: str, wait: float = 30, priority: str = "normal"
         ) -> Lease | Queued:
    """What allocate(wait=...) sends first: a lease, or the order queued."""
    call = waits.join(pool._ops, POOL, owner, 0, "", "", round(wait * 1000),
                      waits.checked_priority(priority))
    got: Lease | Queued = pool._do(call)
    return got


# -- script level: hand-off, order, bounds (both clients, every server) ------------------


@pytest.fixture
def drained(btc: WalletPool) -> Iterator[tuple[WalletPool, list[Lease]]]:
    """The COIN pool of conftest's btc fixture (five wallets, frozen clock) with every
    wallet leased to h0..h4."""
    yield btc, [btc.allocate(POOL, f"h{i}") for i in range(5)]


def test_waiters_are_served_in_arrival_order_as_wallets_free_one_by_one(
        drained: tuple[WalletPool, list[Lease]], redis_client: redis.Redis) -> None:
    pool, held = drained
    for i in range(4):
        queued = join(pool, f"w{i}")
        assert isinstance(queued, Queued) and queued.joined_ms == NOW_MS
    assert pool.stats(POOL).waiting == 4
    for i, lease in enumerate(held[:4]):
        assert pool.release(lease) == "free"
        got = pool.get_lease(POOL, f"w{i}")
        assert got is not None and got.address == lease.address  # the freed wallet
        assert [pool.get_lease(POOL, f"w{j}") for j in range(i + 1, 4)] == [None] * (3 - i)
        assert pool.stats(POOL).free == 0  # it never stayed in the free queue
    assert [c[3] for c in changes(redis_client, "handed")] == ["w0", "w1", "w2", "w3"]
    check_invariants(redis_client, "wp", POOL)


def test_high_priority_orders_are_served_first_then_in_arrival_order(
        drained: tuple[WalletPool, list[Lease]], redis_client: redis.Redis) -> None:
    pool, held = drained
    for owner, priority in (("n0", "normal"), ("h-a", "high"), ("n1", "normal"),
                            ("h-b", "high")):
        assert isinstance(join(pool, owner, priority=priority), Queued)
    pool.release_many(held)
    assert [c[3] for c in changes(redis_client, "handed")] == ["h-a", "h-b", "n0", "n1"]


def test_a_new_order_never_jumps_the_waiters(drained: tuple[WalletPool, list[Lease]]) -> None:
    pool, held = drained
    join(pool, "w0")
    pool.release(held[0])
    with pytest.raises(PoolExhausted):  # the freed wallet went to w0, not to "late"
        pool.allocate(POOL, "late")
    assert isinstance(join(pool, "late"), Queued)


@pytest.mark.parametrize("freeing", ["release", "release_many", "expiry", "reap", "cooldown",
                                     "add", "reserve_return"])
def test_every_kind_of_freeing_hands_the_wallet_to_the_first_waiter(
        drained: tuple[WalletPool, list[Lease]], redis_client: redis.Redis,
        freeing: str) -> None:
    pool, held = drained
    if freeing == "cooldown":
        pool.configure(POOL, cooldown=5)
    if freeing == "reserve_return":
        pool.release(held[0])
        assert pool._do(pool._ops.reserve_take(POOL, 1, 0))[0][0] == "a0"
    assert isinstance(join(pool, "w0", wait=300), Queued)
    assert isinstance(join(pool, "w1", wait=300), Queued)
    before = pool.stats(POOL).last_token
    act: dict[str, Callable[[], Any]] = {
        "release": lambda: pool.release(held[0]),
        "release_many": lambda: pool.release_many(held[:1]),
        "expiry": lambda: shift_clock(pool, POOL, 60) or join(pool, "w0", wait=300),  # a re-check
        "reap": lambda: shift_clock(pool, POOL, 60) or pool.reap(POOL),
        "cooldown": lambda: (pool.release(held[0]), shift_clock(pool, POOL, 5),
                             pool.reap(POOL)),
        "add": lambda: pool.add(POOL, ["fresh1"]),
        "reserve_return": lambda: pool._do(pool._ops.reserve_return(POOL, ["a0"])),
    }
    act[freeing]()
    got = pool.get_lease(POOL, "w0")
    assert got is not None and got.token > before
    assert got.address == ("fresh1" if freeing == "add" else "a0")
    if freeing in ("expiry", "reap"):  # all five leases ended: w1 is served too, then free
        assert pool.get_lease(POOL, "w1") is not None and pool.stats(POOL).free == 3
    else:  # the one wallet freed never stayed in the free queue
        assert pool.get_lease(POOL, "w1") is None and pool.stats(POOL).waiting == 1
        assert pool.stats(POOL).free == 0
    assert changes(redis_client, "handed")[0][3] == "w0"
    check_invariants(redis_client, "wp", POOL)


def test_a_waiter_past_its_deadline_is_never_handed_a_wallet(
        drained: tuple[WalletPool, list[Lease]], redis_client: redis.Redis) -> None:
    pool, held = drained
    join(pool, "late", wait=2)
    join(pool, "w1", wait=30)
    shift_clock(pool, POOL, 2)  # exactly at late's deadline
    pool.release(held[0])
    assert pool.get_lease(POOL, "late") is None
    assert pool.get_lease(POOL, "w1") is not None
    assert [c[3] for c in changes(redis_client, "abandoned")] == ["late"]
    assert changes(redis_client, "abandoned")[0][-1] == "reason=timeout"


def test_an_order_that_waits_again_keeps_its_place_and_gets_one_lease(
        drained: tuple[WalletPool, list[Lease]], redis_client: redis.Redis) -> None:
    pool, held = drained
    first = join(pool, "w0")
    join(pool, "w1")
    again = join(pool, "w0")  # a retry of the same order
    assert isinstance(first, Queued) and isinstance(again, Queued)
    assert (again.deadline_ms, again.joined_ms) == (first.deadline_ms, first.joined_ms)
    assert pool.stats(POOL).waiting == 2 and len(changes(redis_client, "queued")) == 2
    pool.release(held[0])
    lease = pool.get_lease(POOL, "w0")
    assert lease is not None
    again_after = join(pool, "w0")  # the retry now finds its lease
    assert isinstance(again_after, Lease) and again_after.token == lease.token
    assert not again_after.fresh


def test_queue_full_and_max_wait(drained: tuple[WalletPool, list[Lease]]) -> None:
    pool, _ = drained
    pool.configure(POOL, max_waiters=2)
    join(pool, "w0")
    join(pool, "w1")
    with pytest.raises(QueueFull) as full:
        join(pool, "w2")
    assert isinstance(full.value, PoolExhausted)
    assert (full.value.waiting, full.value.max_waiters, full.value.free) == (2, 2, 0)
    shift_clock(pool, POOL, 31)  # both waits ran out: their places are free again
    assert isinstance(join(pool, "w2"), Queued)
    pool.configure(POOL, max_wait=2)
    queued = join(pool, "w3", wait=600)
    assert isinstance(queued, Queued) and queued.seconds_left == 2  # capped
    pool.configure(POOL, max_wait=0)  # nobody waits: the plain refusal
    with pytest.raises(PoolExhausted) as refused:
        join(pool, "w4")
    assert type(refused.value) is PoolExhausted
    stats = pool.stats(POOL)
    assert (stats.max_waiters, stats.max_wait) == (2, 0)


def test_stats_count_the_orders_waiting_and_the_oldest_wait(
        drained: tuple[WalletPool, list[Lease]]) -> None:
    pool, _ = drained
    join(pool, "w0", wait=10)
    shift_clock(pool, POOL, 3)
    join(pool, "w1", wait=10)
    stats = pool.stats(POOL)
    assert (stats.waiting, stats.oldest_wait) == (2, 3.0)
    from walletpool.metrics import pool_metrics

    exported = {(m.name, sample.value) for m in pool_metrics([stats], [(0, 0.0)])
                for sample in m.samples if m.name in ("walletpool_waiting",
                                                      "walletpool_oldest_wait_seconds")}
    assert exported == {("walletpool_waiting", 2), ("walletpool_oldest_wait_seconds", 3.0)}
    shift_clock(pool, POOL, 11)  # w0's wait is over, w1's not
    assert (pool.stats(POOL).waiting, pool.stats(POOL).oldest_wait) == (1, 8.0)


def test_a_withdrawal_and_a_hand_off_never_both_happen(
        drained: tuple[WalletPool, list[Lease]], redis_client: redis.Redis) -> None:
    """The edge of a time-out: the wallet is handed before the withdrawal (the caller
    gets it, or gives it back when cancelled) or never."""
    pool, held = drained
    queued = join(pool, "w0")
    assert isinstance(queued, Queued)
    assert pool._do(waits.withdraw(pool._ops, POOL, "w0", False, queued.joined_ms)) == (0, 5, 0)
    pool.release(held[0])
    assert pool.get_lease(POOL, "w0") is None and pool.stats(POOL).free == 1

    queued = join(pool, "w1")  # takes the free one
    assert isinstance(queued, Lease)
    queued = join(pool, "w2")
    assert isinstance(queued, Queued)
    pool.release(held[1])  # handed to w2 before its time ran out
    taken = pool._do(waits.withdraw(pool._ops, POOL, "w2", False, queued.joined_ms))
    assert isinstance(taken, Lease) and taken.fresh and taken.address == "a1"

    queued = join(pool, "w3")
    join(pool, "w4")
    assert isinstance(queued, Queued)
    pool.release(held[2])  # handed to w3, which was cancelled meanwhile: given back
    assert pool._do(waits.withdraw(pool._ops, POOL, "w3", True, queued.joined_ms)) == (0, 0, 0)
    assert pool.get_lease(POOL, "w3") is None
    w4 = pool.get_lease(POOL, "w4")
    assert w4 is not None and w4.address == "a2"  # on to the next order
    assert [c[-1] for c in changes(redis_client, "abandoned")] == ["reason=withdrawn"]
    check_invariants(redis_client, "wp", POOL)


# -- the clients: real waiting, threads and tasks -----------------------------------------


def test_allocate_waits_for_a_wallet_and_times_out_without_a_trace(
        sync_pool: WalletPool, redis_client: redis.Redis) -> None:
    pool = sync_pool
    pool.configure(POOL)  # a plain pool, made on purpose
    pool.add(POOL, ["a0"])
    held = pool.allocate(POOL, "h0")
    got: dict[str, object] = {}

    def wait(owner: str, seconds: float) -> None:
        started = time.monotonic()
        try:
            got[owner] = pool.allocate(POOL, owner, wait=seconds)
        except WaitTimeout as exc:
            got[owner] = exc
        got[owner + "-took"] = time.monotonic() - started

    first = threading.Thread(target=wait, args=("w0", 10))
    first.start()
    while pool.stats(POOL).waiting < 1:
        time.sleep(0.01)
    late = threading.Thread(target=wait, args=("w1", 0.4))
    late.start()
    late.join()
    timed_out, took = got["w1"], got["w1-took"]
    assert isinstance(timed_out, WaitTimeout) and isinstance(took, float)
    assert 0.4 <= took < 3 and timed_out.waited >= 0.4
    released_at = time.monotonic()
    pool.release(held)
    first.join()
    lease = got["w0"]
    assert isinstance(lease, Lease) and lease.fresh and lease.address == "a0"
    assert time.monotonic() - released_at < 1.0  # a hand-off, not a poll
    assert pool.stats(POOL).waiting == 0
    pool.release(lease)
    assert pool.stats(POOL).free == 1  # w1's withdrawn ticket took nothing


def test_a_wallet_no_script_announces_still_reaches_the_waiter_within_a_second(
        sync_pool: WalletPool) -> None:
    """A cooldown ends with no script running, so no stream entry wakes the hub: its
    check every second (RECHECK) settles the cooled wallet and hands it over."""
    pool = sync_pool
    pool.configure(POOL, cooldown=0.3)
    pool.add(POOL, ["a0"])
    held = pool.allocate(POOL, "h0")
    got: list[Lease] = []
    waiter = threading.Thread(target=lambda: got.append(pool.allocate(POOL, "w0", wait=10)))
    waiter.start()
    while pool.stats(POOL).waiting < 1:
        time.sleep(0.01)
    assert pool.release(held) == "cooling"
    released_at = time.monotonic()
    waiter.join()
    took = time.monotonic() - released_at
    assert got and got[0].address == "a0" and 0.3 <= took < 0.3 + waits.RECHECK + 1.0


def test_an_asyncio_waiter_that_is_cancelled_withdraws(redis_server: RedisServer,
                                                       redis_client: redis.Redis) -> None:
    async def run() -> None:
        async with AsyncWalletPool.from_url(redis_server.url) as pool:
            await pool.configure(POOL)  # a plain pool, made on purpose
            await pool.add(POOL, ["a0"])
            held = await pool.allocate(POOL, "h0")
            task = asyncio.create_task(pool.allocate(POOL, "w0", wait=30))
            while (await pool.stats(POOL)).waiting < 1:
                await asyncio.sleep(0.01)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert (await pool.stats(POOL)).waiting == 0
            assert await pool.release(held) == "free"
            assert (await pool.stats(POOL)).free == 1

    asyncio.run(run())
    assert [c[-1] for c in changes(redis_client, "abandoned")] == ["reason=cancelled"]


def test_two_calls_of_one_order_wait_on_one_ticket_and_get_one_lease(
        redis_server: RedisServer) -> None:
    async def run() -> None:
        async with AsyncWalletPool.from_url(redis_server.url) as pool:
            await pool.configure(POOL)  # a plain pool, made on purpose
            await pool.add(POOL, ["a0", "a1"])
            held = [await pool.allocate(POOL, f"h{i}") for i in range(2)]
            calls = [asyncio.create_task(pool.allocate(POOL, "w0", wait=10)) for _ in range(2)]
            while (await pool.stats(POOL)).waiting < 1:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)
            assert (await pool.stats(POOL)).waiting == 1
            await pool.release_many(held)
            first, second = await asyncio.gather(*calls)
            assert first.token == second.token
            assert (await pool.stats(POOL)).free == 1  # the second wallet stayed free

    asyncio.run(run())


@on_first_server
def test_a_thousand_asyncio_waiters_on_a_pool_of_ten_share_a_few_connections(
        redis_server: RedisServer, redis_client: redis.Redis) -> None:
    """1,000 orders wait on one client with 8 connections. 100 high-priority orders join
    first (they may wait a minute); then 900 normal ones that wait 1 s. The 10 wallets
    held are released: the first 90 orders served give theirs back at once, the last 10
    keep them, so exactly 100 hand-offs happen and all go to the high-priority orders,
    ahead of every normal one in line; the 900 time out. The outcome is counted, not
    timed, so no machine speed changes it. Every order ends one way or the other, no
    wallet is held twice or lost, and the client never opens more connections than its
    pool's size however many wait (Redis's own count of connections accepted)."""
    max_connections = 8
    patient, hurried = 100, 900

    async def run() -> tuple[list[Lease], int, int]:
        accepted_before = redis_client.info("stats")["total_connections_received"]
        async with AsyncWalletPool.from_url(redis_server.url,
                                            max_connections=max_connections) as pool:
            await pool.configure(POOL, max_waiters=patient + hurried)
            await pool.add(POOL, [f"a{i}" for i in range(10)])
            held = [await pool.allocate(POOL, f"h{i}") for i in range(10)]
            served: list[Lease] = []
            timeouts = 0

            async def order(name: str, wait: float, priority: Priority) -> None:
                nonlocal timeouts
                try:
                    lease = await pool.allocate(POOL, name, wait=wait, priority=priority)
                except WaitTimeout:
                    timeouts += 1
                    return
                served.append(lease)
                if len(served) <= patient - 10:
                    await pool.release(lease)

            orders = [asyncio.create_task(order(f"p{i}", 60, "high")) for i in range(patient)]
            while (await pool.stats(POOL)).waiting < patient:
                await asyncio.sleep(0.05)
            orders += [asyncio.create_task(order(f"o{i}", 1, "normal"))
                       for i in range(hurried)]
            await asyncio.sleep(0)  # the hurried orders send their joins
            await pool.release_many(held)
            await asyncio.gather(*orders)
        accepted = redis_client.info("stats")["total_connections_received"] - accepted_before
        return served, timeouts, accepted

    served, timeouts, accepted = asyncio.run(run())
    assert len(served) == patient and timeouts == hurried
    assert all(lease.owner.startswith("p") for lease in served)
    assert accepted <= max_connections
    assert len({lease.token for lease in served}) == len(served)
    assert all(lease.fresh for lease in served)
    state = check_invariants(redis_client, "wp", POOL)
    assert len(state["lease"]) == 10 and not state["free"]  # type: ignore[arg-type]
    assert redis_client.zcard(f"wp:{{{POOL}}}:waiters") == 0
    # no two orders held one wallet at once: each wallet's leases follow one another
    by_wallet: dict[str, list[Lease]] = {}
    for lease in served:
        by_wallet.setdefault(lease.address, []).append(lease)
    for leases in by_wallet.values():
        leases.sort(key=lambda lease: lease.token)
        assert all(a.leased_at <= b.leased_at for a, b in itertools.pairwise(leases))


def test_wait_and_priority_are_checked(btc: WalletPool) -> None:
    from walletpool import InvalidInput

    with pytest.raises(InvalidInput, match="wait"):
        btc.allocate(POOL, "o", wait=-1)
    with pytest.raises(InvalidInput, match="priority"):
        btc.allocate(POOL, "o", wait=1, priority="urgent")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="max_waiters"):
        btc.configure(POOL, max_waiters=-1)


@on_first_server  # the client's side: the scripts run on every server above
def test_the_client_default_wait_comes_from_the_environment(
        redis_server: RedisServer, redis_client: redis.Redis,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WALLETPOOL_WAIT", "0.3")
    monkeypatch.setenv("WALLETPOOL_MAX_WAITERS", "7")
    monkeypatch.setenv("WALLETPOOL_MAX_WAIT", "60")
    with WalletPool.from_url(redis_server.url) as pool:
        assert pool.settings.wait == 0.3
        pool.configure(POOL)  # a plain pool, made on purpose
        pool.add(POOL, ["a0"])
        pool.allocate(POOL, "h0")
        freeze_clock(pool, POOL, 0)
        started = time.monotonic()
        with pytest.raises(WaitTimeout):
            pool.allocate(POOL, "w0")  # waits by default now
        assert time.monotonic() - started >= 0.3
        stats = pool.stats(POOL)
        assert (stats.max_waiters, stats.max_wait) == (7, 60)  # the new pool's defaults
        with pytest.raises(PoolExhausted) as at_once:
            pool.allocate(POOL, "w1", wait=0)
        assert type(at_once.value) is PoolExhausted


@on_first_server  # the client's side: the scripts run on every server above
def test_the_syncer_records_the_wait_and_the_hand_off(
        drained: tuple[WalletPool, list[Lease]], store: Any,
        redis_client: redis.Redis) -> None:
    import sqlalchemy as sa

    from walletpool.store import schema
    from walletpool.syncer import Syncer

    pool, held = drained
    pool.configure(POOL, max_waiters=9, max_wait=120)
    join(pool, "w0", priority="high")
    join(pool, "w1")
    pool.release(held[0])
    queued = join(pool, "w1")
    assert isinstance(queued, Queued)
    pool._do(waits.withdraw(pool._ops, POOL, "w1", False, queued.joined_ms))
    syncer = Syncer(redis_client, store, block=0.01)
    while syncer.run_once():
        pass
    e, w, p = schema.events, schema.wallets, schema.pools
    with store.connect() as conn:
        kinds = [(r.type, r.owner, r.settings) for r in conn.execute(
            sa.select(e).where(e.c.type.in_(["queued", "handed", "abandoned"]))
            .order_by(e.c.event_ms, e.c.event_seq, e.c.event_part))]
        row = conn.execute(sa.select(w).where(w.c.address == "a0")).one()
        limits = conn.execute(sa.select(p.c.max_waiters, p.c.max_wait_ms)).one()
    assert kinds == [("queued", "w0", "priority=high"), ("queued", "w1", "priority=normal"),
                     ("handed", "w0", None), ("abandoned", "w1", "reason=withdrawn")]
    lease = pool.get_lease(POOL, "w0")
    assert lease is not None
    assert (row.state, row.owner, row.token) == ("leased", "w0", lease.token)
    assert tuple(limits) == (9, 120_000)


@on_first_server  # the client's side: the scripts run on every server above
def test_the_command_line_waits_configures_and_shows_the_waiters(
        cli: Any, redis_server: RedisServer) -> None:
    import json

    assert cli("configure", POOL, "--max-waiters", "3", "--max-wait", "10").exit_code == 0
    assert "max_waiters=3 max_wait=10s" in cli("configure", POOL).output
    cli("import", POOL, "-", input="a0\n")
    cli("allocate", POOL, "h0")
    started = time.monotonic()
    waited = cli("allocate", POOL, "w0", "--wait", "0.3", "--priority", "high")
    assert waited.exit_code == 1 and time.monotonic() - started >= 0.3
    assert "handed no wallet to w0 within" in waited.output
    with WalletPool.from_url(redis_server.url) as pool:  # (one click runner at a time)
        order = threading.Thread(target=pool.allocate, args=(POOL, "w1"),
                                 kwargs={"wait": 5})
        order.start()
        while pool.stats(POOL).waiting == 0:
            time.sleep(0.02)
        table = cli("stats", POOL).output.splitlines()
        assert table[1].split()[table[0].split().index("waiting")].startswith("1/")
        wide = cli("stats", POOL, "--wide").output.splitlines()[0].split()
        assert {"waiting", "oldest_wait", "max_waiters", "max_wait"} <= set(wide)
        assert cli("release", POOL, "h0").exit_code == 0
        order.join()
        w1 = pool.get_lease(POOL, "w1")
        assert w1 is not None
        freed = threading.Timer(0.3, pool.release, args=(w1,))
        freed.start()
        handed = cli("allocate", POOL, "w2", "--wait", "5", "--json")
        freed.join()
    assert handed.exit_code == 0 and json.loads(handed.output)["owner"] == "w2"


def test_the_invariant_check_sees_a_ticket_out_of_line(
        drained: tuple[WalletPool, list[Lease]], redis_client: redis.Redis) -> None:
    from walletpool.verify import pool_state, problems

    pool, _ = drained
    join(pool, "w0")
    assert problems(pool_state(redis_client, "wp", POOL)) == []
    redis_client.zrem(f"wp:{{{POOL}}}:waiters", "w0")  # a ticket that lost its place
    assert problems(pool_state(redis_client, "wp", POOL)) == [
        "orders waiting and their tickets disagree"]


def test_allocate_many_gives_an_owner_that_waits_one_wallet_not_two(
        btc: WalletPool, redis_client: redis.Redis) -> None:
    """o1 waits on a drained pool; two wallets cooling become free (cooldown set to 0),
    and allocate_many(['o3', 'o1']) settles them before it reports the pool short. The
    settle hands one to o1, the order in line: o1 then holds that one alone, and o3
    gets the other (found by the model test: o1 used to get a second wallet too)."""
    btc.configure("COIN", cooldown=2)
    held = btc.allocate_many("COIN", [f"h{i}" for i in range(5)])
    btc.release_many(held[:2])  # cooling for 2 s
    queued = btc._do(waits.join(btc._ops, "COIN", "o1", 0, "", "", 3000, "normal"))
    assert isinstance(queued, Queued)
    btc.configure("COIN", cooldown=0)  # cooled now, but no settle is due yet
    got = btc.allocate_many("COIN", ["o3", "o1"], partial=True)
    assert sorted((lease.owner, lease.fresh) for lease in got) == [("o1", True), ("o3", True)]
    assert len({lease.wallet for lease in got}) == 2
    check_invariants(redis_client, "wp", "COIN")
    assert btc.stats("COIN").leased == 5

"""Coalescing (walletpool/coalesce.py, engine/batches.py): concurrent calls of one kind on
one pool go as one script call, and each caller gets what its call alone would have
got. The model test (tests/test_model.py) holds the batch scripts to the reference
model call by call; these tests hold the clients' coalescers to arrival order, to each
caller's own error, to the replicas' wait, to cancellation and interruption, and to
the reserve lane, on real servers. Orders of arrival are made by events (a paused
server, a gate the test opens), never by sleeping."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.conftest import on_first_server
from tests.replication import Replicated
from tests.stress import Holding, overlaps, token_order_breaks
from walletpool import (
    AsyncWalletPool,
    InvalidInput,
    Lease,
    LeaseLost,
    LowWater,
    NotReplicated,
    PoolExhausted,
    WalletPool,
)
from walletpool.dev.redis_server import RedisServer
from walletpool.engine import batches, waits
from walletpool.engine.calls import Call, Outcome, identity
from walletpool.keys import key
from walletpool.testing import freeze_clock, shift_clock

POOL = "COIN"
FROZEN_AT = 1_800_000_000.0
WALLETS = [f"w{i:02d}" for i in range(12)]


def ready(url: str, **settings: Any) -> WalletPool:
    """A WalletPool that coalesces (opt-in for the sync client), its pool of 12 wallets."""
    pool = WalletPool.from_url(url, **{"coalesce": True, **settings})
    pool.configure(POOL, lease_ttl=60, cooldown=0, max_size=100)
    pool.add(POOL, WALLETS)
    return pool


def _until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Until `condition` holds: an event; the bound only turns a hang into a failure."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.002)


def _queued(pool: WalletPool | AsyncWalletPool, kind: str = "allocate") -> int:
    coalescer: Any = pool._coalescer
    lanes = coalescer._lanes._lanes
    return sum(len(lane.queue) for (name, _), lane in lanes.items() if name == kind)


def _until_queued(pool: WalletPool, count: int) -> None:
    _until(lambda: _queued(pool) == count, f"{count} calls queued")


class Gate:
    """Holds the batches an asyncio client sends until the test opens it (the lone call
    before them goes through): what is queued behind a batch in flight is then known."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.batches: list[int] = []

    def asyncio(self, pool: AsyncWalletPool) -> None:
        coalescer: Any = pool._coalescer
        together = coalescer._together

        async def held(calls: list[Call[Any]]) -> list[Outcome]:
            self.batches.append(len(calls))
            while not self.open.is_set():
                await asyncio.sleep(0.001)
            outcomes: list[Outcome] = await together(calls)
            return outcomes

        coalescer._together = held


# -- arrival order, one batch, each caller its own outcome ---------------------------------

def test_tasks_that_arrive_together_are_served_in_arrival_order_in_one_batch(
        redis_server: RedisServer, redis_client: redis.Redis) -> None:
    """Task 0 goes alone; tasks 1-9 queue behind it in the order they called, and go as
    one batch: the k-th to arrive gets the k-th wallet of the free queue. The nine that
    batch's reply woke then release in that same turn of the loop, and their releases go
    as one batch too, none of them alone."""
    ready(redis_server.url).close()
    sizes: dict[str, list[int]] = {"allocate": [], "release": []}

    async def one(pool: AsyncWalletPool, i: int) -> Lease:
        lease = await pool.allocate(POOL, f"o{i}")
        if i:
            await pool.release(lease)
        return lease

    async def scenario() -> list[Lease]:
        async with AsyncWalletPool.from_url(redis_server.url) as pool:
            assert pool._coalescer is not None
            pool._coalescer.on_batch = lambda kind, n: sizes[kind].append(n)
            return await asyncio.gather(*(one(pool, i) for i in range(10)))

    leases = asyncio.run(scenario())
    assert [lease.wallet for lease in leases] == WALLETS[:10]
    assert sizes == {"allocate": [1, 9], "release": [9]}
    tokens = [lease.token for lease in leases]
    assert tokens == sorted(tokens) and len(set(tokens)) == 10


def test_a_task_cancelled_in_its_turn_leaves_the_others_to_go(
        redis_server: RedisServer, redis_client: redis.Redis) -> None:
    """Of the tasks one batch's reply woke, the first to release waits for the turn to
    end so that the others join it; cancelled meanwhile (by the next one), it is never
    sent, and those that joined go without it."""
    ready(redis_server.url).close()
    tasks: list[asyncio.Task[Lease]] = []

    async def one(pool: AsyncWalletPool, i: int) -> Lease:
        lease = await pool.allocate(POOL, f"o{i}")
        if i == 2:
            tasks[1].cancel()  # task 1 waits for its turn to end, its release not sent
        if i:
            await pool.release(lease)
        return lease

    async def scenario() -> list[Any]:
        async with AsyncWalletPool.from_url(redis_server.url) as pool:
            tasks.extend(asyncio.ensure_future(one(pool, i)) for i in range(5))
            return await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)

    results = asyncio.run(scenario())
    assert [type(r).__name__ for r in results] == [
        "Lease", "CancelledError", "Lease", "Lease", "Lease"]
    assert redis_client.hget("wp:{COIN}:leases", ">o1") is not None  # never released
    assert redis_client.hget("wp:{COIN}:leases", ">o3") is None


def test_threads_that_arrive_while_a_call_is_in_flight_go_in_arrival_order(
        redis_server: RedisServer, redis_client: redis.Redis) -> None:
    """The first call is held on a paused server; five threads queue behind it one by
    one (each seen queued before the next starts); they then go as one batch, served
    in the order they came."""
    pool = ready(redis_server.url)
    sizes: list[int] = []
    assert pool._coalescer is not None
    pool._coalescer.on_batch = lambda kind, n: sizes.append(n)
    leases: dict[str, Lease] = {}

    def allocate(owner: str) -> None:
        leases[owner] = pool.allocate(POOL, owner)

    with redis.Redis(port=redis_server.port) as admin:
        admin.execute_command("CLIENT", "PAUSE", 60_000, "WRITE")
        try:
            first = threading.Thread(target=allocate, args=("first",))
            first.start()
            _until(lambda: sizes == [1], "the first call in flight")
            threads = []
            for i in range(5):
                thread = threading.Thread(target=allocate, args=(f"t{i}",))
                thread.start()
                threads.append(thread)
                _until_queued(pool, i + 1)
        finally:
            admin.execute_command("CLIENT", "UNPAUSE")
    for thread in [first, *threads]:
        thread.join()
    assert leases["first"].wallet == WALLETS[0]
    assert [leases[f"t{i}"].wallet for i in range(5)] == WALLETS[1:6]
    assert sizes == [1, 5]
    pool.close()


def test_each_caller_of_a_batch_gets_its_own_outcome(sync_pool: WalletPool) -> None:
    """One batch: a bad argument (past the client's checks) refuses that caller alone;
    an owner named twice gets its one lease back; the last caller finds the pool
    exhausted; a release of a lease already gone is that caller's LeaseLost."""
    pool = sync_pool
    pool.configure(POOL, lease_ttl=60, cooldown=0, max_size=100)
    pool.add(POOL, ["w00", "w01"])
    ops = pool._ops
    bad = replace(ops.allocate(POOL, "bad"), args=("bad", "-5", "", ""))
    outcomes = pool._send_batch([ops.allocate(POOL, "a"), bad, ops.allocate(POOL, "a"),
                                 ops.allocate(POOL, "b"), ops.allocate(POOL, "c")])
    (first, e1), (_, bad_error), (again, e3), (second, e4), (_, exhausted) = outcomes
    assert e1 is None and e3 is None and e4 is None
    assert isinstance(bad_error, InvalidInput)
    assert str(bad_error) == "pool COIN refused the allocate: bad ttl"  # the pool's word
    assert (first.wallet, first.fresh) == ("w00", True)
    assert (again.wallet, again.token, again.fresh) == ("w00", first.token, False)
    assert second.wallet == "w01"
    assert isinstance(exhausted, PoolExhausted) and exhausted.free == 0
    released = pool._send_batch([ops.release(first), ops.release(second), ops.release(first)])
    assert [value for value, _ in released[:2]] == ["free", "free"]
    assert isinstance(released[2][1], LeaseLost) and released[2][1].reason == "none"


def _unnamed(reply: Any) -> Any:
    """A reply without its stream entry's id (a 'queued' one names it; each stream
    numbers its own)."""
    return [*reply[:3], "<id>", *reply[4:]] if reply[:1] == [b"queued"] else reply


def _seen(outcome: Outcome) -> str:
    """An outcome as its caller sees it, a queued order's stream cursor left out."""
    value, error = outcome
    if isinstance(value, waits.Queued):
        value = replace(value, cursor="")
    return repr((value, error))


def _stream_lines(client: redis.Redis, prefix: str) -> list[str]:
    entries: Any = client.xrange(key(prefix, POOL, "events"))
    return [line for _, entry in entries for line in str(entry["c"]).split("\n")]


@pytest.mark.parametrize("max_uses", [None, 3])
def test_a_batch_makes_the_leases_alerts_and_changes_its_calls_alone_make(
        redis_server: RedisServer, redis_client: redis.Redis, max_uses: int | None) -> None:
    """Two pools alike, on frozen clocks at one instant: one gets each batch as one
    script call, the other the same calls one by one. Leases (tokens included), each
    caller's low-water alert, lost releases and the stream's changes are the same, for
    the batches the scripts serve at once (fresh owners, distinct wallets, nobody
    waiting) and for those they serve call by call (an owner or a wallet named twice)."""
    alerts: dict[str, list[tuple[str, int]]] = {"batched": [], "alone": []}
    pools = {}
    for prefix in alerts:
        def alert(low: LowWater, seen: list[tuple[str, int]] = alerts[prefix]) -> None:
            seen.append((low.pool, low.free))

        pool = WalletPool.from_url(redis_server.url, prefix=prefix, coalesce=False,
                                   on_low_water=alert)
        pool.configure(POOL, lease_ttl=60, cooldown=0, max_size=100, min_free=8,
                       max_uses=max_uses)
        pool.add(POOL, WALLETS)
        freeze_clock(pool, POOL, at=FROZEN_AT)
        pools[prefix] = pool
    batched, alone = pools["batched"], pools["alone"]

    def both(calls_of: Callable[[WalletPool], list[Call[Any]]]) -> list[Outcome]:
        """The script's own replies compared, then each decoded as its caller decodes
        it (which raises the low-water alerts)."""
        calls = calls_of(batched)
        replies = batched._send(replace(batches.batch_call(calls), decode=identity))
        alone_calls = calls_of(alone)
        one_by_one = [alone._send(replace(call, decode=identity)) for call in alone_calls]
        assert [_unnamed(r) for r in replies] == [_unnamed(r) for r in one_by_one]
        outcomes = [batches._outcome(c, r) for c, r in zip(calls, replies, strict=True)]
        alone_outcomes = [batches._outcome(c, r)
                          for c, r in zip(alone_calls, one_by_one, strict=True)]
        assert [_seen(o) for o in outcomes] == [_seen(o) for o in alone_outcomes]
        return outcomes

    owners = ["a", "b", "c", "d", "e", "f"]
    got = both(lambda p: [p._ops.allocate(POOL, o, ttl=30 + i) for i, o in enumerate(owners)])
    leases = [lease for lease, _ in got]
    assert len({lease.token for lease in leases}) == 6
    both(lambda p: [p._ops.release(lease) for lease in leases[:4]])
    both(lambda p: [p._ops.allocate(POOL, o) for o in ["g", "a", "g", "h"]])  # one by one
    both(lambda p: [p._ops.release(lease) for lease in [leases[4], leases[5], leases[4]]])
    # a stale release of a wallet, then its true one: the first sees the wallet leased
    got = both(lambda p: [p._ops.allocate(POOL, o) for o in ["i", "j"]])
    held = [lease for lease, _ in got]
    again = both(lambda p: [p._ops.allocate(POOL, o) for o in ["i", "n"]])  # i holds one
    assert again[0][0].fresh is False and again[1][0].fresh is True
    forged = replace(held[0], token=held[0].token + 1)
    both(lambda p: [p._ops.release(lease) for lease in [forged, held[0], held[1]]])
    # an expired lease among live ones: each goes back in its turn (call by call)
    got = both(lambda p: [p._ops.allocate(POOL, "k", ttl=60), p._ops.allocate(POOL, "m", ttl=1)])
    for pool in pools.values():
        shift_clock(pool, POOL, 2)
    both(lambda p: [p._ops.release(lease) for lease, _ in got])
    # an order waits on a drained pool: each release hands its wallet on in its turn
    drained = both(lambda p: [p._ops.allocate(POOL, f"x{i}") for i in range(len(WALLETS))])
    taken = [lease for lease, error in drained if error is None]
    assert len(taken) >= 2 and any(isinstance(e, PoolExhausted) for _, e in drained)
    both(lambda p: [waits.join(p._ops, POOL, "waiting", 0, "", "", 60_000, "normal")])
    both(lambda p: [p._ops.release(lease) for lease in taken[:2]])
    assert alerts["batched"] == alerts["alone"] and len(alerts["batched"]) >= 3
    assert _stream_lines(redis_client, "batched") == _stream_lines(redis_client, "alone")
    assert batched.stats(POOL).low_water_alerts == alone.stats(POOL).low_water_alerts
    for pool in pools.values():
        pool.close()


def test_orders_that_may_wait_join_in_arrival_order_and_are_handed_wallets_in_it(
        redis_server: RedisServer, redis_client: redis.Redis) -> None:
    """Two wallets, five concurrent orders that may wait: two leases, three waiters, in
    the order they came; each release hands the next its wallet."""
    with WalletPool.from_url(redis_server.url) as setup:
        setup.configure(POOL, lease_ttl=60, cooldown=0, max_size=100)
        setup.add(POOL, ["w00", "w01"])

    async def scenario() -> list[str]:
        async with AsyncWalletPool.from_url(redis_server.url) as pool:
            served: list[str] = []

            async def order(i: int) -> Lease:
                lease = await pool.allocate(POOL, f"o{i}", wait=30)
                served.append(lease.owner)
                return lease

            tasks = [asyncio.ensure_future(order(i)) for i in range(5)]

            async def two_served_three_waiting() -> bool:
                return len(served) == 2 and await pool_waiting(pool) == 3

            await _until_async(two_served_three_waiting, "two served, three waiting")
            for i in range(3):  # each release hands the next order in line its wallet
                count = len(served)
                await pool.release(tasks[i].result())

                async def handed(count: int = count) -> bool:
                    return len(served) > count

                await _until_async(handed, "the next order handed its wallet")
            await asyncio.gather(*tasks)
            return served

    assert asyncio.run(scenario()) == [f"o{i}" for i in range(5)]


async def pool_waiting(pool: AsyncWalletPool) -> int:
    return (await pool.stats(POOL)).waiting


async def _until_async(condition: Callable[[], Awaitable[bool]], what: str,
                       timeout: float = 30.0) -> None:
    """As _until, for a condition that awaits."""
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, f"never: {what}"
        await asyncio.sleep(0.005)


# -- durability: one wait per batch ---------------------------------------------------------

@on_first_server
def test_a_batch_the_replica_did_not_confirm_is_taken_back_caller_by_caller(
        pair: Replicated) -> None:
    """replicas=1 with the replica frozen: every caller of the batch gets its own
    NotReplicated, each fresh lease is taken back (all wallets free again), and a
    caller refused PoolExhausted keeps that refusal."""
    pool = ready(pair.primary.url, replicas=1, replica_timeout=0.2)
    ops = pool._ops
    pair.stall()
    try:
        outcomes = pool._send_batch([ops.allocate(POOL, f"o{i}") for i in range(3)])
        assert all(isinstance(error, NotReplicated) and "given back" in str(error)
                   for _, error in outcomes), outcomes
    finally:
        pair.resume()
    pair.wait_in_sync()
    assert pool.stats(POOL).free == len(WALLETS)
    with WalletPool.from_url(pair.primary.url) as plain:
        held = plain.allocate_many(POOL, [f"h{i}" for i in range(len(WALLETS))])
    pair.stall()
    try:
        outcomes = pool._send_batch([ops.allocate(POOL, "late"), ops.allocate(POOL, "h0")])
    finally:
        pair.resume()
    assert isinstance(outcomes[0][1], PoolExhausted)
    # h0's lease is not this call's to take back: NotReplicated, nothing undone
    assert isinstance(outcomes[1][1], NotReplicated)
    assert "given back" not in str(outcomes[1][1])
    assert held[0].owner == "h0"
    pool.close()


# -- cancellation and interruption ------------------------------------------------------------

def test_a_cancelled_task_whose_batch_leased_it_a_wallet_gives_it_back(
        redis_server: RedisServer, redis_client: redis.Redis) -> None:
    """Tasks 1-3 queue behind task 0 and go as one batch, held at a gate; task 2 is
    cancelled meanwhile. Its lease is released; a task cancelled before its batch
    left is never sent at all."""
    ready(redis_server.url).close()
    gate = Gate()

    async def scenario() -> tuple[list[Any], int, int]:
        async with AsyncWalletPool.from_url(redis_server.url) as pool:
            gate.asyncio(pool)
            with redis.Redis(port=redis_server.port) as admin:
                admin.execute_command("CLIENT", "PAUSE", 60_000, "WRITE")
                sent = asyncio.Event()  # task 0 goes alone, held by the paused server
                coalescer: Any = pool._coalescer
                coalescer.on_batch = lambda kind, n: sent.set()
                tasks = [asyncio.ensure_future(pool.allocate(POOL, "o0"))]
                await sent.wait()
                tasks += [asyncio.ensure_future(pool.allocate(POOL, f"o{i}"))
                          for i in range(1, 5)]
                while _queued(pool) < 4:
                    await asyncio.sleep(0.001)
                tasks[4].cancel()  # still queued: never sent
                await asyncio.sleep(0)
                admin.execute_command("CLIENT", "UNPAUSE")
            while not gate.batches:
                await asyncio.sleep(0.001)
            tasks[2].cancel()  # in the batch under way
            gate.open.set()
            results = await asyncio.gather(*tasks, return_exceptions=True)

            async def given_back() -> bool:  # the give-back follows the batch's reply
                return (await pool.stats(POOL)).leased == 3

            await _until_async(given_back, "the cancelled task's lease given back")
            stats = await pool.stats(POOL)
            return results, stats.leased, gate.batches[0]

    results, leased, batch = asyncio.run(scenario())
    assert batch == 3
    assert [type(r).__name__ for r in results] == [
        "Lease", "Lease", "CancelledError", "Lease", "CancelledError"]
    assert leased == 3
    assert redis_client.hget("wp:{COIN}:leases", "owner:o2") is None
    assert redis_client.hget("wp:{COIN}:leases", "owner:o4") is None


def test_an_interrupted_leader_leaves_no_caller_behind(
        redis_server: RedisServer, redis_client: redis.Redis) -> None:
    """The thread that sends a batch is interrupted (Ctrl-C) before its reply: the other
    callers of that batch are sent again by the next leader, and each gets its lease."""
    pool = ready(redis_server.url)
    coalescer: Any = pool._coalescer
    together = coalescer._together
    interrupted: list[BaseException] = []

    def once_interrupted(calls: list[Call[Any]]) -> list[Outcome]:
        if not interrupted:
            together(calls)  # it ran; the reply is what the interruption loses
            raise KeyboardInterrupt
        outcomes: list[Outcome] = together(calls)
        return outcomes

    coalescer._together = once_interrupted
    leases: dict[str, Lease] = {}

    def allocate(owner: str) -> None:
        try:
            leases[owner] = pool.allocate(POOL, owner)
        except KeyboardInterrupt as exc:
            interrupted.append(exc)

    with redis.Redis(port=redis_server.port) as admin:
        admin.execute_command("CLIENT", "PAUSE", 60_000, "WRITE")
        try:
            threads = [threading.Thread(target=allocate, args=(f"o{i}",)) for i in range(4)]
            threads[0].start()
            _until(lambda: coalescer._lanes._lanes and any(
                lane.busy for lane in coalescer._lanes._lanes.values()), "o0 in flight")
            for i, thread in enumerate(threads[1:], start=1):
                thread.start()
                _until_queued(pool, i)
        finally:
            admin.execute_command("CLIENT", "UNPAUSE")
        for thread in threads:
            thread.join()
    assert len(interrupted) == 1  # o1, which led the batch o1-o3
    assert sorted(leases) == ["o0", "o2", "o3"]
    assert len({lease.wallet for lease in leases.values()}) == 3
    # o2 and o3 went again: the same wallets the interrupted batch leased them
    assert not leases["o2"].fresh and not leases["o3"].fresh
    pool.close()


# -- the reserve lane, and many callers at once ------------------------------------------------

def test_with_redis_down_every_caller_of_a_batch_falls_back_on_its_own(
        tmp_path: Path, store: Any) -> None:
    """Redis dies with a batch queued: each caller falls back to the database's reserve
    as its call alone would, each with a wallet of its own."""
    from tests.test_fallback import ready_pool

    server = RedisServer(tmp_path / "redis", appendfsync="always").start()
    try:
        pool = ready_pool(server, store, breaker_failures=100)
        pool.rebalance("COIN")
        server.kill()
        leases: list[Lease] = []
        lock = threading.Lock()

        def allocate(owner: str) -> None:
            lease = pool.allocate("COIN", owner)
            with lock:
                leases.append(lease)

        threads = [threading.Thread(target=allocate, args=(f"o{i}",)) for i in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert all(lease.from_reserve for lease in leases)
        assert len({lease.wallet for lease in leases}) == 3
        pool.close()
    finally:
        server.kill()


@on_first_server
def test_threads_and_tasks_together_never_share_a_wallet(
        redis_server: RedisServer, redis_client: redis.Redis,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Eight threads on one WalletPool and 32 tasks on one AsyncWalletPool, on 10
    wallets: batches of every size, no wallet held twice, tokens rising per wallet,
    every release of a live lease accepted."""
    ready(redis_server.url).close()
    holdings: list[Holding] = []
    lost: list[str] = []
    lock = threading.Lock()
    sizes: list[int] = []

    def hold(lease: Lease, start: float, released: float, sent: float) -> None:
        with lock:
            holdings.append(Holding(lease.wallet, lease.owner, lease.token, start,
                                    min(released, sent + 60)))

    def thread_worker(pool: WalletPool, me: int) -> None:
        for i in range(150):
            sent = time.monotonic()
            try:
                lease = pool.allocate(POOL, f"t{me}-{i}")
            except PoolExhausted:
                continue
            start = time.monotonic()
            released = time.monotonic()
            try:
                pool.release(lease)
            except LeaseLost as exc:
                lost.append(str(exc))
            hold(lease, start, released, sent)

    async def task_worker(pool: AsyncWalletPool, me: int) -> None:
        for i in range(40):
            sent = time.monotonic()
            try:
                lease = await pool.allocate(POOL, f"a{me}-{i}")
            except PoolExhausted:
                await asyncio.sleep(0)
                continue
            start = time.monotonic()
            await asyncio.sleep(0)
            released = time.monotonic()
            try:
                await pool.release(lease)
            except LeaseLost as exc:
                lost.append(str(exc))
            hold(lease, start, released, sent)

    async def tasks() -> None:
        async with AsyncWalletPool.from_url(redis_server.url) as pool:
            assert pool._coalescer is not None
            pool._coalescer.on_batch = lambda kind, n: sizes.append(n)
            await asyncio.gather(*(task_worker(pool, t) for t in range(32)))

    with WalletPool.from_url(redis_server.url, coalesce=True) as shared:
        assert shared._coalescer is not None
        shared._coalescer.on_batch = lambda kind, n: sizes.append(n)
        threads = [threading.Thread(target=thread_worker, args=(shared, t)) for t in range(8)]
        for thread in threads:
            thread.start()
        asyncio.run(tasks())
        for thread in threads:
            thread.join()
    with capsys.disabled():
        print(f"\n  coalesced: {len(holdings)} holdings, {len(sizes)} script calls, "
              f"largest batch {max(sizes)}")
    assert max(sizes) > 1, "no batch formed: the test did not exercise coalescing"
    assert overlaps(holdings) == [] and token_order_breaks(holdings) == []
    assert lost == []
    assert redis_client.llen("wp:{COIN}:free") == len(WALLETS)


def test_coalescing_is_on_for_tasks_off_for_threads_unless_set(
        redis_server: RedisServer, redis_client: redis.Redis,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """AsyncWalletPool coalesces by default, WalletPool sends each call alone (faster for
    threads, measured: docs/guide/coalescing.md); `coalesce=` or WALLETPOOL_COALESCE
    sets either."""
    ready(redis_server.url).close()

    async def scenario() -> tuple[bool, list[Lease]]:
        async with AsyncWalletPool.from_url(redis_server.url, coalesce=False) as pool:
            return pool._coalescer is None, await asyncio.gather(
                *(pool.allocate(POOL, f"o{i}") for i in range(5)))

    off, leases = asyncio.run(scenario())
    assert off and sorted(lease.wallet for lease in leases) == WALLETS[:5]

    async def default() -> bool:
        async with AsyncWalletPool.from_url(redis_server.url) as pool:
            return pool._coalescer is not None

    assert asyncio.run(default())
    with WalletPool.from_url(redis_server.url) as alone:
        assert alone._coalescer is None
    with WalletPool.from_url(redis_server.url, coalesce=True) as on:
        assert on._coalescer is not None
    monkeypatch.setenv("WALLETPOOL_COALESCE", "true")
    with WalletPool.from_url(redis_server.url) as on:
        assert on._coalescer is not None
    monkeypatch.setenv("WALLETPOOL_COALESCE", "false")
    assert not asyncio.run(default())


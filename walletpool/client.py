"""WalletPool: the synchronous client. Each method takes its operation's plan from
walletpool/plans.py and runs it with `_do`, the one driver: a script call goes to
Redis, a query to the database."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import redis

from . import base
from .coalesce import SyncCoalescer
from .engine import batches, wire
from .engine.calls import Call, Outcome, Pause, Plan, Program, Query, Running, Sleep, Step, log
from .engine.intake import ImportProgress
from .engine.operations import KEEP, Keep
from .errors import WalletPoolError
from .hub import SyncHub, withdraw_cancelled
from .importer import Source, read_source
from .kept import KeptConnections, keeps_connections
from .keys import pool_names
from .models import AddResult, ImportReport, Lease, LowWater, PoolStats, Priority, ReleasedTo
from .reserve.lane import database_step
from .settings import Settings

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .reserve.rebalance import Rebalanced
    from .settings import SettingsKeywords

T = TypeVar("T")


class WalletPool(base.ClientBase):
    """FIFO pools of deposit wallets in one Redis (or Redis Cluster).

    `WalletPool(redis_client)` uses a client you configured; `WalletPool.from_url(...)`
    builds one from a URL and the environment (see walletpool.settings).
    """

    def __init__(self, client: wire.SyncRedis, *, prefix: str | None = None,
                 settings: Settings | None = None,
                 on_low_water: Callable[[LowWater], object] | None = None,
                 database_url: str | None = None, replicas: int | None = None,
                 replica_timeout: float | None = None, fsync: bool | None = None,
                 wait: float | None = None, coalesce: bool | None = None) -> None:
        """`database_url` (or WALLETPOOL_DATABASE_URL) names the store: allocation then
        falls back to the database's reserve while Redis is unreachable (see
        walletpool.plans). `replicas` (WALLETPOOL_REPLICAS): each allocation, extension
        and retirement returns only once that many replicas acknowledged it, within
        `replica_timeout` seconds, else NotReplicated; `fsync`: and once the primary (and
        each replica counted) wrote it to its AOF (Redis 7.2+, Valkey). `wait`
        (WALLETPOOL_WAIT): how long `allocate` waits for a wallet by default. `coalesce`
        (WALLETPOOL_COALESCE, default False): True sends concurrent allocate, release and
        extend calls of one pool (from several threads) to Redis as one script call
        (walletpool.coalesce). Off by default: each thread sending its own call on a
        connection of its own serves threads faster than batches handed between them
        (docs/guide/coalescing.md)."""
        super().__init__(client, prefix=prefix, settings=settings, on_low_water=on_low_water,
                         database_url=database_url, replicas=replicas,
                         replica_timeout=replica_timeout, fsync=fsync, wait=wait,
                         coalesce=coalesce)
        self.redis: wire.SyncRedis = client
        self._kept = KeptConnections(client) \
            if not self._cluster and keeps_connections(client) else None
        self._execute: Callable[..., Any] = \
            client.execute_command if self._kept is None else self._kept.execute
        self._hubs: dict[str, SyncHub] = {}
        self._hubs_lock = threading.Lock()
        self._coalescer = SyncCoalescer(self._call_alone, self._send_batch,
                                        self.settings.max_batch) \
            if self.settings.coalesce else None

    @classmethod
    def from_url(cls, url: str | None = None, *, prefix: str | None = None,
                 on_low_water: Callable[[LowWater], object] | None = None,
                 **settings: Unpack[SettingsKeywords]) -> WalletPool:
        """Connect to `url` (default REDIS_URL). Extra keywords are Settings fields.
        `on_low_water(LowWater)` is called after an allocation that leaves a pool below
        its min_free."""
        pool: WalletPool = cls._connect(redis, url, prefix, settings, on_low_water)
        return pool

    def close(self) -> None:
        with self._hubs_lock:
            hubs = list(self._hubs.values())
        for hub in hubs:  # their readers stop before the connections they read on close
            hub.close()
        if self._kept is not None:
            self._kept.close()
        self.redis.close()
        for sentinel in self._sentinels:
            sentinel.close()
        self._close_lane()

    def __enter__(self) -> WalletPool:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    # -- operations -------------------------------------------------------------------------

    def configure(self, pool: str, lease_ttl: float | None = None,
                  cooldown: float | None = None, max_size: int | None = None,
                  max_uses: int | Keep | None = KEEP, min_free: int | None = None,
                  network: str | None = None, reserve: int | None = None,
                  max_waiters: int | None = None, max_wait: float | None = None,
                  stream_cap: int | None = None) -> bool:
        """Create `pool` or change its settings; None (KEEP for max_uses) leaves one as it
        is, max_uses=None means no limit. `min_free` is the low-water mark; `network`
        (walletpool.chains) can change only while the pool holds no wallet; `reserve` is
        how many wallets the database holds back for a Redis outage (default: min_free;
        `rebalance` moves them); `max_waiters` how many orders may wait for a wallet at
        once (0: none), `max_wait` the longest one waits, seconds (0: none waits);
        `stream_cap` the most entries (one a call) the pool's stream keeps while no syncer
        has attached to it (default 1,000; docs/guide/persistence.md, "Without a
        database"). Returns True when the pool was created."""
        return self._do(self._plans.configure(pool, lease_ttl, cooldown, max_size, max_uses,
                                              min_free, network, reserve, max_waiters,
                                              max_wait, stream_cap))

    def add(self, pool: str, addresses: Sequence[str | tuple[str, str]],
            progress: Callable[[int], None] | None = None) -> AddResult:
        """Add wallets to the tail of the free queue, skipping known ones. Each address is
        checked for the pool's network and stored in canonical form; in a tag pool give
        (address, tag) pairs. One bad address and nothing is added (InvalidAddress), nor
        when an address belongs to another pool of the chain family (AddressTaken). Up
        to 5,000 wallets are one atomic step; a larger list runs as several, after
        checking up front that all fit. `progress` is called with the count sent so far.
        With ENABLE_REDIS_WALLET_QUEUES=false the wallets go to the database's reserve."""
        return self._do(self._plans.add(pool, addresses, progress))

    def import_wallets(self, pool: str, source: Source, *, dry_run: bool = False,
                       progress: ImportProgress | None = None) -> ImportReport:
        """Import a file (a path, or lines) of addresses or CSV `address,tag`: check every
        line first, then add the good ones; the report lists each refused line and why.
        `dry_run` writes nothing. `progress(stage, done, total)` follows the 'checking'
        and 'writing' stages."""
        rows, rejected = read_source(source)
        return self._do(self._plans.import_wallets(pool, rows, rejected, dry_run, progress))

    def allocate(self, pool: str, owner: str, ttl: float | None = None,
                 correlation_id: str | None = None, user_id: str | None = None,
                 wait: float | None = None, priority: Priority = "normal") -> Lease:
        """Lease the wallet idle longest to `owner` for `ttl` seconds (default: the pool's
        lease_ttl). An owner that holds a live lease gets that one back (`fresh` False),
        so a retry never takes a second wallet. PoolExhausted when none is free.

        `wait` (default: the client's, WALLETPOOL_WAIT, 0): when no wallet is free, the
        order waits up to that many seconds (capped by the pool's max_wait) for one,
        handed to it in arrival order, `priority="high"` orders first; WaitTimeout when
        none came, QueueFull when max_waiters orders wait already (both PoolExhausted).
        An order that waits again (a retry) keeps its place and gets one lease."""
        return self._do(self._plans.allocate(pool, owner, ttl, correlation_id, user_id, wait,
                                             priority))

    def allocate_many(self, pool: str, owners: Sequence[str], ttl: float | None = None,
                      correlation_id: str | None = None, user_id: str | None = None,
                      partial: bool = False) -> list[Lease]:
        """One lease per owner in one step, all or nothing (`partial`: as many as there
        are free wallets)."""
        return self._do(self._plans.allocate_many(pool, owners, ttl, correlation_id, user_id,
                                                  partial))

    def release(self, lease: Lease) -> ReleasedTo:
        """End the lease; returns the wallet's new state ('free', 'cooling', 'retired';
        'reserve' for a lease from the database's reserve; 'queued' when Redis is down
        and the release waits in the database for it)."""
        return self._do(self._plans.release(lease))

    def release_many(self, leases: Sequence[Lease]) -> list[bool]:
        """End leases of one pool in one step; True for each one that was still held."""
        return self._do(self._plans.release_many(leases))

    def extend(self, lease: Lease, ttl: float | None = None) -> Lease:
        """Set a live lease's deadline to now + `ttl` (default: the pool's lease_ttl), keeping
        its token; LeaseLost when it is no longer held."""
        return self._do(self._plans.extend(lease, ttl))

    def get_lease(self, pool: str, owner: str) -> Lease | None:
        """The owner's live lease, from Redis or (when this client has a database) from
        the database's reserve."""
        return self._do(self._plans.get_lease(pool, owner))

    def rebalance(self, pool: str) -> Rebalanced:
        """Bring the database's reserve of `pool` to its size: take wallets from Redis's
        free queue or give the surplus back, apply releases queued while Redis was down,
        finish moves a crash left half-way. Needs Redis and the database."""
        return self._do(self._plans.rebalance(pool))

    def reap(self, pool: str) -> int:
        """Reclaim every expired lease and every cooled wallet now; returns the leases
        reclaimed."""
        return self._do(self._plans.reap(pool))

    def retire(self, pool: str, address: str, tag: str | None = None) -> bool:
        """Take a wallet out of service for good (ending its lease, if any). The address
        may be in any form the pool's network accepts. False when it was retired
        already; WalletNotFound when the pool has no such wallet, PoolNotFound when
        there is no such pool."""
        return self._do(self._plans.retire(pool, address, tag))

    def upgrade(self, pool: str, progress: Callable[[int], None] | None = None) -> bool:
        """Convert a pool in layout 1 (as walletpool 0.1.0 wrote it) to layout 2, in place:
        same FIFO order, leases, cooling times, use counts, settings and fencing counter.
        Until it is converted, every other operation on it raises LayoutOutdated. True
        when it was converted, False when it needed nothing. Idempotent, and safe to run
        again after a crash half-way. `progress` gets the wallets converted so far."""
        return self._do(self._plans.upgrade(pool, progress))

    def stats(self, pool: str) -> PoolStats:
        """The pool's figures from Redis; from the database while this client is in
        fallback (see PoolStats.mode)."""
        return self._do(self._plans.stats(pool))

    def peek(self, pool: str, count: int = 10) -> list[str]:
        """The next `count` addresses allocation would hand out, head first."""
        return self._do(self._plans.peek(pool, count))

    def pools(self) -> list[str]:
        """Names of all pools under this prefix, sorted."""
        try:
            return pool_names(self.redis, self.settings.prefix)
        except Exception as exc:
            raise wire.translate(exc, self._where) from exc

    def pipeline(self) -> Pipeline:
        """Queue several operations, send them in one round trip with `execute()`."""
        return Pipeline(self)

    # -- the driver -------------------------------------------------------------------------

    def _do(self, plan: Plan[T]) -> T:
        """Run a plan: one call (the fast path), or a program step by step, each step's
        result sent in and each WalletPoolError thrown in."""
        if isinstance(plan, Call):
            return self._call(plan)
        return self._run(plan)

    def _run(self, program: Program[T]) -> T:
        running = Running(program)
        while running.step is not None:
            running.resume(self._outcome(running.step))
        return running.value()

    def _outcome(self, step: Step) -> Outcome:
        try:
            if isinstance(step, Query):
                return database_step(step.run), None
            if isinstance(step, Pause):
                return self._hub(step.pool).wait(step), None
            if isinstance(step, Sleep):
                time.sleep(step.seconds)
                return None, None
            if step.cancel is None:
                return self._call(step), None
            try:
                return self._call(step), None
            except (KeyboardInterrupt, SystemExit):  # Ctrl-C while an order joins the line
                withdraw_cancelled(lambda: self._send(step.cancel))  # type: ignore[arg-type]
                raise
        except WalletPoolError as exc:
            return None, exc

    def _hub(self, pool: str) -> SyncHub:
        with self._hubs_lock:
            hub = self._hubs.get(pool)
            if hub is None:
                hub = self._hubs[pool] = SyncHub(self, pool)
            return hub

    def _call(self, call: Call[T]) -> T:
        """Send a call (with others of its kind, when coalescing) and decode its reply."""
        if self._coalescer is not None and call.script.name in batches.BATCH_SCRIPTS:
            return self._coalescer.run(call)
        return self._call_alone(call)

    def _send_batch(self, calls: list[Call[Any]]) -> list[Outcome]:
        """A batch of calls in one script call; each one's outcome. With `replicas`, one
        wait for the batch: the durable calls it did not confirm are taken back and
        become NotReplicated, each as it would alone."""
        batch = batches.batch_call(calls)
        acknowledged: list[int] | None = [] if self._durability.applies(batch) else None
        try:
            results = self._send(batch, acknowledged)
        except WalletPoolError as exc:
            return [(None, exc)] * len(calls)
        if acknowledged is None or self._durability.confirmed(acknowledged[-1]):
            return results
        return self._run(batches.unconfirmed(self._durability, calls, results,
                                                  acknowledged[-1]))

    def _call_alone(self, call: Call[T]) -> T:
        """Send a call and decode its reply; a durable write (with `replicas` set) waits
        for the replicas in the same round trip, and one they did not confirm is taken
        back and raised as NotReplicated."""
        if not self._durability.applies(call):
            return self._send(call)
        acknowledged: list[int] = []
        value = self._send(call, acknowledged)
        if self._durability.confirmed(acknowledged[-1]):
            return value
        undo, undone = call.taking_back(value), False
        if undo is not None:
            try:
                self._send(undo)
                undone = True
            except WalletPoolError as exc:
                log.warning("could not take back an unreplicated write: %s", exc)
        raise self._durability.refusal(call, acknowledged[-1], undone)

    def _send(self, call: Call[T], acknowledged: list[int] | None = None) -> T:
        """The call's decoded reply, after the attempts wire.attempts allows; with
        `acknowledged`, the wait's count is appended to it."""
        for attempt, sent in wire.attempts(call):
            try:
                reply = self._send_once(sent, acknowledged)
            except Exception as exc:
                if not attempt.again(exc):
                    raise wire.translate(exc, self._where, sent) from exc
                continue
            decoded: T = sent.decode(reply)
            return decoded
        raise AssertionError("unreachable")  # pragma: no cover

    def _send_once(self, call: Call[Any], acknowledged: list[int] | None = None) -> Any:
        """The call on the server; refused there for want of replicas (a primary
        Sentinel demoted, still believing it leads), once more on the primary Sentinel
        names now (wire.refused_write)."""
        try:
            return self._run_script(call, acknowledged)
        except redis.exceptions.ResponseError as exc:
            if not wire.refused_write(exc) or not self._follow_primary():
                raise
        return self._run_script(call, acknowledged)

    def _follow_primary(self) -> bool:
        """Ask Sentinel for the primary now; redis-py then drops the idle connections to
        one it no longer names. False without Sentinel, or when it names none."""
        ask = wire.primary_lookup(self.redis)
        if ask is None:
            return False
        try:
            ask()
        except redis.exceptions.RedisError:
            return False
        if self._kept is not None:
            self._kept.forget()
        return True

    def _run_script(self, call: Call[Any], acknowledged: list[int] | None = None) -> Any:
        """FCALL where the server has Functions (loading the library when it lacks it),
        else EVALSHA, falling back to EVAL on NOSCRIPT."""
        execute = self._execute
        if acknowledged is not None:
            def execute(*args: Any) -> Any:
                return self._execute_and_wait(call, acknowledged, args)
        if self._functions.on:
            try:
                return execute(*wire.fcall_args(call))
            except redis.exceptions.ResponseError as exc:
                action = self._functions.after(exc)
                if action == "raise":
                    raise
                if action == "load" and self._load_library():
                    return execute(*wire.fcall_args(call))
        try:
            return execute(*wire.evalsha_args(call))
        except redis.exceptions.NoScriptError:
            return execute(*wire.eval_args(call))

    def _execute_and_wait(self, call: Call[Any], acknowledged: list[int],
                          args: tuple[Any, ...]) -> Any:
        """The script and the wait in one round trip (a Cluster: the wait goes to the
        node of the call's slot, after it)."""
        wait = self._durability.wait_args()
        if isinstance(self.redis, redis.RedisCluster):
            reply = self._execute(*args)
            node = self.redis.get_node_from_key(call.keys[0])  # type: ignore[no-untyped-call]
            acknowledged.append(self._durability.acknowledged(
                self._execute(*wait, target_nodes=node)))
            return reply
        pipe = self.redis.pipeline(transaction=False)
        pipe.execute_command(*args)  # type: ignore[no-untyped-call]
        pipe.execute_command(*wait)  # type: ignore[no-untyped-call]
        reply, waited = pipe.execute(raise_on_error=False)
        if isinstance(reply, BaseException):
            raise reply
        acknowledged.append(self._durability.acknowledged(waited))
        return reply

    def _load_library(self) -> bool:
        """Load this version's library; False when the server will not (EVALSHA then)."""
        try:
            self._execute(*wire.load_args())
        except redis.exceptions.ResponseError as exc:
            if not self._functions.refused_load(exc):
                raise
            return False
        return True


class Pipeline(base.PipelineOps):
    """Operations sent together. `execute()` returns, in order, each result or the
    WalletPoolError of that operation (never raised, so no lease of the batch is lost)."""

    def __init__(self, owner: WalletPool) -> None:
        super().__init__(owner._ops, owner._durability)
        self._pool = owner

    def execute(self) -> list[object]:
        calls = self._take()
        if not calls:
            return []
        client = self._pool.redis
        wait = self._waits(calls)
        replies, waited = self._exchange(client, calls, wait)
        results = wire.decode_all(calls, replies, self._pool._where)
        if wait is not None:
            undo = self._unconfirmed(calls, results, waited)
            if undo:
                try:
                    self._exchange(client, undo, None)
                except WalletPoolError as exc:  # the leases then end at their deadline
                    log.warning("could not take back unreplicated writes: %s", exc)
        return results

    def _exchange(self, client: wire.SyncRedis, calls: list[Call[Any]],
                  wait: tuple[str | int, ...] | None) -> tuple[list[Any], Any]:
        """The calls' replies (by EVALSHA, again by EVAL for those the server lacks)
        and the wait's reply."""
        try:
            replies, waited = self._send(client, calls, wire.evalsha_args, wait)
            missing = wire.noscript_positions(replies)
            if missing:  # the scripts were flushed: run those calls again with their source
                again, waited = self._send(client, [calls[i] for i in missing],
                                             wire.eval_args, wait)
                wire.fill(replies, missing, again)
        except Exception as exc:
            raise wire.translate(exc, self._pool._where) from exc
        return replies, waited

    @staticmethod
    def _send(client: wire.SyncRedis, calls: list[Call[Any]],
              wire_form: Callable[[Call[Any]], tuple[Any, ...]],
              wait: tuple[str | int, ...] | None) -> tuple[list[Any], Any]:
        """The calls' replies, and the wait's reply after them (a Cluster: the fewest
        acknowledgements among the nodes the calls went to)."""
        pipe = client.pipeline(transaction=False)
        for call in calls:
            pipe.execute_command(*wire_form(call))
        cluster = isinstance(client, redis.RedisCluster)
        if wait is not None and not cluster:
            pipe.execute_command(*wait)
        replies = list(pipe.execute(raise_on_error=False))
        if wait is None:
            return replies, None
        if not isinstance(client, redis.RedisCluster):
            return replies[:-1], replies[-1]
        located = [client.get_node_from_key(c.keys[0]) for c in calls]  # type: ignore[no-untyped-call]
        nodes = {node.name: node for node in located if node is not None}
        waited = [client.execute_command(*wait, target_nodes=node)  # type: ignore[no-untyped-call]
                  for node in nodes.values()]
        return replies, wire.Durability.fewest(waited)

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self._calls = []

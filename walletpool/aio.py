"""AsyncWalletPool: the asyncio client, the same operations as WalletPool as coroutines,
running the same plans (walletpool/plans.py). Database steps run in a worker thread."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import redis.asyncio as aredis
from redis import exceptions as rx

from . import base
from .coalesce import AsyncCoalescer
from .engine import batches, wire
from .engine.calls import (
    Call,
    Outcome,
    Pause,
    Plan,
    Program,
    Query,
    Running,
    Sleep,
    Step,
    log,
    text,
)
from .engine.intake import ImportProgress
from .engine.operations import KEEP, Keep
from .errors import WalletPoolError
from .hub import AsyncHub, _shielded
from .importer import Source, read_source
from .kept import AsyncKeptConnections, keeps_connections
from .keys import conf_pattern, pool_from_conf_key
from .models import AddResult, ImportReport, Lease, LowWater, PoolStats, Priority, ReleasedTo
from .reserve.lane import database_step
from .settings import Settings

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .reserve.rebalance import Rebalanced
    from .settings import SettingsKeywords

T = TypeVar("T")


class AsyncWalletPool(base.ClientBase):
    """FIFO pools of deposit wallets in one Redis, for asyncio services. See WalletPool:
    every method there is a coroutine here, with the same arguments and results."""

    def __init__(self, client: wire.AsyncRedis, *, prefix: str | None = None,
                 settings: Settings | None = None,
                 on_low_water: Callable[[LowWater], object] | None = None,
                 database_url: str | None = None, replicas: int | None = None,
                 replica_timeout: float | None = None, fsync: bool | None = None,
                 wait: float | None = None, coalesce: bool | None = None) -> None:
        """See WalletPool: `database_url` enables the fallback to the database's reserve
        (its calls run in a worker thread); `replicas`, `replica_timeout` and `fsync`
        make allocations wait for replicas; `coalesce` (default True) sends concurrent
        calls of one kind on one pool, from several tasks, as one script call."""
        super().__init__(client, prefix=prefix, settings=settings, on_low_water=on_low_water,
                         database_url=database_url, replicas=replicas,
                         replica_timeout=replica_timeout, fsync=fsync, wait=wait,
                         coalesce=coalesce)
        self.redis: wire.AsyncRedis = client
        self._kept = AsyncKeptConnections(client) \
            if not self._cluster and keeps_connections(client) else None
        self._execute: Callable[..., Awaitable[Any]] = \
            client.execute_command if self._kept is None else self._kept.execute
        self._hook_tasks: set[asyncio.Task[Any]] = set()
        self._ops.spawn = self._spawn
        self._hubs: dict[str, AsyncHub] = {}
        self._coalescer = AsyncCoalescer(self._call_alone, self._send_batch, self._send,
                                         self.settings.max_batch) \
            if self.settings.coalesce is not False else None

    def _spawn(self, awaitable: Awaitable[Any]) -> None:
        """Run what an async low-water hook returned, keeping a reference until done."""
        task = asyncio.ensure_future(awaitable)
        self._hook_tasks.add(task)
        task.add_done_callback(self._hook_done)

    def _hook_done(self, task: asyncio.Task[Any]) -> None:
        self._hook_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("low-water hook failed", exc_info=task.exception())

    @classmethod
    def from_url(cls, url: str | None = None, *, prefix: str | None = None,
                 on_low_water: Callable[[LowWater], object] | None = None,
                 **settings: Unpack[SettingsKeywords]) -> AsyncWalletPool:
        """Connect to `url` (default REDIS_URL). Extra keywords are Settings fields.
        `on_low_water(LowWater)` is called after an allocation that leaves a pool below
        its min_free (it may be a coroutine function: it then runs as a task)."""
        pool: AsyncWalletPool = cls._connect(aredis, url, prefix, settings, on_low_water)
        return pool

    async def close(self) -> None:
        for hub in self._hubs.values():
            await hub.close()
        if self._kept is not None:
            await self._kept.close()
        await self.redis.aclose()
        for sentinel in self._sentinels:
            await sentinel.aclose()
        self._close_lane()

    async def __aenter__(self) -> AsyncWalletPool:
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None
                        ) -> None:
        await self.close()

    # -- operations (documented on WalletPool) --------------------------------------------

    async def configure(self, pool: str, lease_ttl: float | None = None,
                        cooldown: float | None = None, max_size: int | None = None,
                        max_uses: int | Keep | None = KEEP, min_free: int | None = None,
                        network: str | None = None, reserve: int | None = None,
                        max_waiters: int | None = None, max_wait: float | None = None,
                        stream_cap: int | None = None) -> bool:
        plan = self._plans.configure(pool, lease_ttl, cooldown, max_size, max_uses, min_free,
                                     network, reserve, max_waiters, max_wait, stream_cap)
        return await self._do(plan)

    async def add(self, pool: str, addresses: Sequence[str | tuple[str, str]],
                  progress: Callable[[int], None] | None = None) -> AddResult:
        return await self._do(self._plans.add(pool, addresses, progress))

    async def import_wallets(self, pool: str, source: Source, *, dry_run: bool = False,
                             progress: ImportProgress | None = None) -> ImportReport:
        rows, rejected = read_source(source)
        plan = self._plans.import_wallets(pool, rows, rejected, dry_run, progress)
        return await self._do(plan)

    async def allocate(self, pool: str, owner: str, ttl: float | None = None,
                       correlation_id: str | None = None, user_id: str | None = None,
                       wait: float | None = None, priority: Priority = "normal") -> Lease:
        """As WalletPool.allocate. A waiting call costs no connection of its own: the
        client's one hub per pool watches for every order it has waiting."""
        return await self._do(self._plans.allocate(pool, owner, ttl, correlation_id, user_id,
                                                   wait, priority))

    async def allocate_many(self, pool: str, owners: Sequence[str], ttl: float | None = None,
                            correlation_id: str | None = None, user_id: str | None = None,
                            partial: bool = False) -> list[Lease]:
        plan = self._plans.allocate_many(pool, owners, ttl, correlation_id, user_id, partial)
        return await self._do(plan)

    async def release(self, lease: Lease) -> ReleasedTo:
        return await self._do(self._plans.release(lease))

    async def release_many(self, leases: Sequence[Lease]) -> list[bool]:
        return await self._do(self._plans.release_many(leases))

    async def extend(self, lease: Lease, ttl: float | None = None) -> Lease:
        return await self._do(self._plans.extend(lease, ttl))

    async def get_lease(self, pool: str, owner: str) -> Lease | None:
        return await self._do(self._plans.get_lease(pool, owner))

    async def rebalance(self, pool: str) -> Rebalanced:
        return await self._do(self._plans.rebalance(pool))

    async def upgrade(self, pool: str, progress: Callable[[int], None] | None = None) -> bool:
        """As WalletPool.upgrade."""
        return await self._do(self._plans.upgrade(pool, progress))

    async def reap(self, pool: str) -> int:
        return await self._do(self._plans.reap(pool))

    async def retire(self, pool: str, address: str, tag: str | None = None) -> bool:
        return await self._do(self._plans.retire(pool, address, tag))

    async def stats(self, pool: str) -> PoolStats:
        return await self._do(self._plans.stats(pool))

    async def peek(self, pool: str, count: int = 10) -> list[str]:
        return await self._do(self._plans.peek(pool, count))

    async def pools(self) -> list[str]:
        prefix = self.settings.prefix
        try:
            found = {pool_from_conf_key(prefix, text(k))
                     async for k in self.redis.scan_iter(match=conf_pattern(prefix), count=1000)}
        except Exception as exc:
            raise wire.translate(exc, self._where) from exc
        return sorted(found)

    def pipeline(self) -> AsyncPipeline:
        return AsyncPipeline(self)

    # -- the driver (WalletPool's, awaited) -----------------------------------------------

    async def _do(self, plan: Plan[T]) -> T:
        if isinstance(plan, Call):
            return await self._call(plan)
        return await self._run(plan)

    async def _run(self, program: Program[T]) -> T:
        running = Running(program)
        while running.step is not None:
            running.resume(await self._outcome(running.step))
        return running.value()

    async def _outcome(self, step: Step) -> Outcome:
        try:
            if isinstance(step, Query):
                return await asyncio.to_thread(database_step, step.run), None
            if isinstance(step, Pause):
                return await self._hub(step.pool).wait(step), None
            if isinstance(step, Sleep):
                await asyncio.sleep(step.seconds)
                return None, None
            if step.cancel is None:
                return await self._call(step), None
            try:
                return await self._call(step), None
            except asyncio.CancelledError:
                await _shielded(lambda: self._send(step.cancel))  # type: ignore[arg-type]
                raise
        except WalletPoolError as exc:
            return None, exc

    def _hub(self, pool: str) -> AsyncHub:
        hub = self._hubs.get(pool)
        if hub is None:
            hub = self._hubs[pool] = AsyncHub(self, pool)
        return hub

    async def _call(self, call: Call[T]) -> T:
        """As WalletPool._call: alone, or with others of its kind when coalescing."""
        if self._coalescer is not None and call.script.name in batches.BATCH_SCRIPTS:
            return await self._coalescer.run(call)
        return await self._call_alone(call)

    async def _send_batch(self, calls: list[Call[Any]]) -> list[Outcome]:
        """As WalletPool._send_batch."""
        batch = batches.batch_call(calls)
        acknowledged: list[int] | None = [] if self._durability.applies(batch) else None
        try:
            results = await self._send(batch, acknowledged)
        except WalletPoolError as exc:
            return [(None, exc)] * len(calls)
        if acknowledged is None or self._durability.confirmed(acknowledged[-1]):
            return results
        return await self._run(batches.unconfirmed(self._durability, calls, results,
                                                  acknowledged[-1]))

    async def _call_alone(self, call: Call[T]) -> T:
        """As WalletPool._call_alone: send, decode, and see that a durable write reached
        the replicas, else take it back and raise NotReplicated."""
        if not self._durability.applies(call):
            return await self._send(call)
        acknowledged: list[int] = []
        value = await self._send(call, acknowledged)
        if self._durability.confirmed(acknowledged[-1]):
            return value
        undo, undone = call.taking_back(value), False
        if undo is not None:
            try:
                await self._send(undo)
                undone = True
            except WalletPoolError as exc:
                log.warning("could not take back an unreplicated write: %s", exc)
        raise self._durability.refusal(call, acknowledged[-1], undone)

    async def _send(self, call: Call[T], acknowledged: list[int] | None = None) -> T:
        """The call's decoded reply, after the attempts wire.attempts allows; with
        `acknowledged`, the wait's count is appended to it."""
        if not call.idempotent and self._kept is None:
            # let the loop take in a close the server sent meanwhile, so that the pool
            # replaces that connection instead of sending a call it cannot resend on it
            # (a kept connection is looked at without a turn of the loop: kept.py)
            await asyncio.sleep(0)
        for attempt, sent in wire.attempts(call):
            try:
                reply = await self._send_once(sent, acknowledged)
            except Exception as exc:
                if not attempt.again(exc):
                    raise wire.translate(exc, self._where, sent) from exc
                continue
            decoded: T = sent.decode(reply)
            return decoded
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send_once(self, call: Call[Any], acknowledged: list[int] | None = None) -> Any:
        """As WalletPool._send_once: refused for want of replicas, once more on the
        primary Sentinel names now."""
        try:
            return await self._run_script(call, acknowledged)
        except rx.ResponseError as exc:
            if not wire.refused_write(exc) or not await self._follow_primary():
                raise
        return await self._run_script(call, acknowledged)

    async def _follow_primary(self) -> bool:
        """As WalletPool._follow_primary."""
        ask = wire.primary_lookup(self.redis)
        if ask is None:
            return False
        try:
            await ask()
        except rx.RedisError:
            return False
        if self._kept is not None:
            await self._kept.forget()
        return True

    async def _run_script(self, call: Call[Any], acknowledged: list[int] | None = None) -> Any:
        """As WalletPool._run_script: FCALL where the server has Functions, else EVALSHA."""
        async def execute(*args: Any) -> Any:
            if acknowledged is None:
                return await self._execute(*args)
            return await self._execute_and_wait(call, acknowledged, args)

        if self._functions.on:
            try:
                return await execute(*wire.fcall_args(call))
            except rx.ResponseError as exc:
                action = self._functions.after(exc)
                if action == "raise":
                    raise
                if action == "load" and await self._load_library():
                    return await execute(*wire.fcall_args(call))
        try:
            return await execute(*wire.evalsha_args(call))
        except rx.NoScriptError:
            return await execute(*wire.eval_args(call))

    async def _execute_and_wait(self, call: Call[Any], acknowledged: list[int],
                                args: tuple[Any, ...]) -> Any:
        """As WalletPool._execute_and_wait."""
        wait = self._durability.wait_args()
        if isinstance(self.redis, aredis.RedisCluster):
            reply = await self.redis.execute_command(*args)
            node = self.redis.get_node_from_key(call.keys[0])
            acknowledged.append(self._durability.acknowledged(
                await self.redis.execute_command(*wait, target_nodes=node)))
            return reply
        pipe = self.redis.pipeline(transaction=False)
        pipe.execute_command(*args)
        pipe.execute_command(*wait)
        reply, waited = await pipe.execute(raise_on_error=False)
        if isinstance(reply, BaseException):
            raise reply
        acknowledged.append(self._durability.acknowledged(waited))
        return reply

    async def _load_library(self) -> bool:
        try:
            await self._execute(*wire.load_args())
        except rx.ResponseError as exc:
            if not self._functions.refused_load(exc):
                raise
            return False
        return True


class AsyncPipeline(base.PipelineOps):
    """See walletpool.client.Pipeline."""

    def __init__(self, owner: AsyncWalletPool) -> None:
        super().__init__(owner._ops, owner._durability)
        self._pool = owner

    async def execute(self) -> list[object]:
        calls = self._take()
        if not calls:
            return []
        client = self._pool.redis
        wait = self._waits(calls)
        replies, waited = await self._exchange(client, calls, wait)
        results = wire.decode_all(calls, replies, self._pool._where)
        if wait is not None:
            undo = self._unconfirmed(calls, results, waited)
            if undo:
                try:
                    await self._exchange(client, undo, None)
                except WalletPoolError as exc:  # the leases then end at their deadline
                    log.warning("could not take back unreplicated writes: %s", exc)
        return results

    async def _exchange(self, client: wire.AsyncRedis, calls: list[Call[Any]],
                  wait: tuple[str | int, ...] | None) -> tuple[list[Any], Any]:
        """The calls' replies (by EVALSHA, again by EVAL for those the server lacks)
        and the wait's reply."""
        try:
            replies, waited = await self._send(client, calls, wire.evalsha_args, wait)
            missing = wire.noscript_positions(replies)
            if missing:  # the scripts were flushed: run those calls again with their source
                again, waited = await self._send(client, [calls[i] for i in missing],
                                             wire.eval_args, wait)
                wire.fill(replies, missing, again)
        except Exception as exc:
            raise wire.translate(exc, self._pool._where) from exc
        return replies, waited

    @staticmethod
    async def _send(client: wire.AsyncRedis, calls: list[Call[Any]],
                    wire_form: Callable[[Call[Any]], tuple[Any, ...]],
                    wait: tuple[str | int, ...] | None) -> tuple[list[Any], Any]:
        """See walletpool.client.Pipeline._send."""
        pipe = client.pipeline(transaction=False)
        for call in calls:
            pipe.execute_command(*wire_form(call))
        cluster = isinstance(client, aredis.RedisCluster)
        if wait is not None and not cluster:
            pipe.execute_command(*wait)
        replies = list(await pipe.execute(raise_on_error=False))
        if wait is None:
            return replies, None
        if not isinstance(client, aredis.RedisCluster):
            return replies[:-1], replies[-1]
        located = [client.get_node_from_key(c.keys[0]) for c in calls]
        nodes = {node.name: node for node in located if node is not None}
        waited = [await client.execute_command(*wait, target_nodes=node)
                  for node in nodes.values()]
        return replies, wire.Durability.fewest(waited)

    async def __aenter__(self) -> AsyncPipeline:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._calls = []

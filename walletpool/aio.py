"""AsyncWalletPool: the asyncio client, the same operations as WalletPool as coroutines."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, TypeVar

import redis.asyncio as aredis
from redis import exceptions as rx

from . import base
from .engine.intake import ImportProgress
from .engine.operations import KEEP, Call, Keep, Program, log, text
from .errors import LeaseLost
from .importer import Source, read_source
from .keys import conf_pattern, pool_from_conf_key
from .models import AddResult, ImportReport, Lease, LowWater, PoolStats
from .reserve.lane import route_async, ttl_ms
from .settings import Settings

T = TypeVar("T")


class AsyncWalletPool(base.ClientBase):
    """FIFO pools of deposit wallets in one Redis, for asyncio services. See WalletPool."""

    def __init__(self, client: aredis.Redis | aredis.RedisCluster, *, prefix: str | None = None,
                 settings: Settings | None = None,
                 on_low_water: Callable[[LowWater], object] | None = None,
                 database_url: str | None = None) -> None:
        """See WalletPool: `database_url` enables the fallback to the database's reserve
        (its calls run in a worker thread)."""
        super().__init__(client, prefix=prefix, settings=settings, on_low_water=on_low_water,
                         database_url=database_url)
        self._hook_tasks: set[asyncio.Task[Any]] = set()
        self._ops.spawn = self._spawn

    def _spawn(self, awaitable: Any) -> None:
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
                 **settings: Any) -> AsyncWalletPool:
        """Connect to `url` (default REDIS_URL). Extra keywords are Settings fields.
        `on_low_water(LowWater)` is called after an allocation that leaves a pool below
        its min_free (it may be a coroutine function: it then runs as a task)."""
        pool: AsyncWalletPool = cls._connect(aredis, url, prefix, settings, on_low_water)
        return pool

    async def close(self) -> None:
        await self.redis.aclose()
        if self._fallback is not None:
            self._fallback.close()

    async def __aenter__(self) -> AsyncWalletPool:
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None
                        ) -> None:
        await self.close()

    # -- operations -------------------------------------------------------------------------

    async def configure(self, pool: str, lease_ttl: float | None = None,
                        cooldown: float | None = None, max_size: int | None = None,
                        max_uses: int | Keep | None = KEEP, min_free: int | None = None,
                        network: str | None = None, reserve: int | None = None) -> bool:
        """See WalletPool.configure."""
        call = self._ops.configure(pool, lease_ttl, cooldown, max_size, max_uses, min_free,
                                   network, reserve)
        if self._fallback is not None and self._database_only():
            return await asyncio.to_thread(self._fallback.configure, pool, call.args[4:])
        return await self._call(call)

    async def add(self, pool: str, addresses: Sequence[str | tuple[str, str]],
                  progress: Callable[[int], None] | None = None) -> AddResult:
        """See WalletPool.add."""
        if self._fallback is not None and self._database_only():
            return await asyncio.to_thread(self._fallback.add, pool, addresses)
        return await self._run(self._ops.add(pool, addresses, progress))

    async def import_wallets(self, pool: str, source: Source, *, dry_run: bool = False,
                             progress: ImportProgress | None = None) -> ImportReport:
        """See WalletPool.import_wallets."""
        rows, rejected = read_source(source)
        if self._fallback is not None and self._database_only():
            return await asyncio.to_thread(self._fallback.import_wallets, pool, rows, rejected,
                                           dry_run)
        return await self._run(self._ops.import_wallets(pool, rows, rejected, dry_run, progress))

    async def allocate(self, pool: str, owner: str, ttl: float | None = None,
                       correlation_id: str | None = None, user_id: str | None = None) -> Lease:
        call = self._ops.allocate(pool, owner, ttl, correlation_id, user_id)
        fb = self._fallback
        if fb is None:
            return await self._call(call)
        lease: Lease = await route_async(fb, lambda: self._call(call), lambda: fb.allocate(
            pool, str(call.args[0]), ttl_ms(ttl), correlation_id, user_id))
        return lease

    async def allocate_many(self, pool: str, owners: Sequence[str], ttl: float | None = None,
                            correlation_id: str | None = None, user_id: str | None = None,
                            partial: bool = False) -> list[Lease]:
        call = self._ops.allocate_many(pool, owners, ttl, correlation_id, user_id, partial)
        fb = self._fallback
        if fb is None:
            return await self._call(call)
        leases: list[Lease] = await route_async(
            fb, lambda: self._call(call), lambda: fb.allocate_many(
                pool, list(owners), ttl_ms(ttl), correlation_id, user_id, partial))
        return leases

    async def release(self, lease: Lease) -> str:
        """See WalletPool.release."""
        call = self._ops.release(lease)
        fb = self._fallback
        if fb is None:
            return await self._call(call)
        if lease.from_reserve:
            return await asyncio.to_thread(fb.release, lease)
        state: str = await route_async(fb, lambda: self._call(call), lambda: fb.release(lease))
        return state

    async def release_many(self, leases: Sequence[Lease]) -> list[bool]:
        call = self._ops.release_many(leases)
        if self._fallback is None:
            return await self._call(call)
        if any(lease.from_reserve for lease in leases):
            return await self._one_by_one(leases)
        done: list[bool] = await route_async(self._fallback, lambda: self._call(call),
                                             functools.partial(self._one_by_one, leases))
        return done

    async def _one_by_one(self, leases: Sequence[Lease]) -> list[bool]:
        done = []
        for lease in leases:
            try:
                await self.release(lease)
                done.append(True)
            except LeaseLost:
                done.append(False)
        return done

    async def extend(self, lease: Lease, ttl: float | None = None) -> Lease:
        call = self._ops.extend(lease, ttl)
        if self._fallback is not None and lease.from_reserve:
            return await asyncio.to_thread(self._fallback.extend, lease, ttl_ms(ttl))
        return await self._call(call)

    async def get_lease(self, pool: str, owner: str) -> Lease | None:
        """See WalletPool.get_lease."""
        call = self._ops.get_lease(pool, owner)
        fb = self._fallback
        if fb is None:
            return await self._call(call)
        found: Lease | None = await route_async(fb, lambda: self._call(call), lambda: None)
        return found or await asyncio.to_thread(fb.get_lease, pool, owner)

    async def reap(self, pool: str) -> int:
        if self._fallback is not None and self._database_only():
            return await asyncio.to_thread(self._fallback.reap, pool)
        return await self._run(self._ops.reap(pool))

    async def retire(self, pool: str, address: str, tag: str | None = None) -> bool:
        return await self._call(self._ops.retire(pool, address, tag))

    async def stats(self, pool: str) -> PoolStats:
        """See WalletPool.stats."""
        call = self._ops.stats(pool)
        fb = self._fallback
        if fb is None:
            return await self._call(call)

        async def from_redis() -> PoolStats:
            return self._with_mode(await self._call(call))

        stats: PoolStats = await route_async(fb, from_redis, lambda: fb.stats(pool))
        return stats

    async def peek(self, pool: str, count: int = 10) -> list[str]:
        return await self._call(self._ops.peek(pool, count))

    async def pools(self) -> list[str]:
        prefix = self.settings.prefix
        try:
            found = {pool_from_conf_key(prefix, text(k))
                     async for k in self.redis.scan_iter(match=conf_pattern(prefix), count=1000)}
        except Exception as exc:
            raise base.translate(exc, self._where) from exc
        return sorted(found)

    def pipeline(self) -> AsyncPipeline:
        return AsyncPipeline(self)

    async def _shift_clock(self, pool: str, offset: float) -> None:
        """Tests only: run `pool`'s clock `offset` seconds ahead of Redis's."""
        await self._call(self._ops.shift_clock(pool, offset))

    async def _freeze_clock(self, pool: str, at: float) -> None:
        """Tests only: stop `pool`'s clock at epoch seconds `at` (0: Redis TIME again)."""
        await self._call(self._ops.freeze_clock(pool, at))

    # -- the driver -------------------------------------------------------------------------

    async def _send(self, call: Call[Any]) -> Any:
        for attempt in base.attempts(call):
            try:
                try:
                    return await self.redis.execute_command(*base.evalsha_args(call))
                except rx.NoScriptError:
                    return await self.redis.execute_command(*base.eval_args(call))
            except Exception as exc:
                if not attempt.again(exc):
                    raise base.translate(exc, self._where, call) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    async def _call(self, call: Call[T]) -> T:
        return call.decode(await self._send(call))

    async def _run(self, program: Program[T]) -> T:
        try:
            call = next(program)
            while True:
                call = program.send(call.decode(await self._send(call)))
        except StopIteration as done:
            result: T = done.value
            return result


class AsyncPipeline(base.PipelineOps):
    """See walletpool.pool.Pipeline."""

    def __init__(self, owner: AsyncWalletPool) -> None:
        super().__init__(owner._ops)
        self._pool = owner

    async def execute(self) -> list[object]:
        calls, self._calls = self._calls, []
        if not calls:
            return []
        client = self._pool.redis
        try:
            replies = await self._send(client, calls, base.evalsha_args)
            missing = [i for i, r in enumerate(replies) if base.is_noscript(r)]
            if missing:
                again = await self._send(client, [calls[i] for i in missing], base.eval_args)
                for i, reply in zip(missing, again, strict=False):
                    replies[i] = reply
        except Exception as exc:
            raise base.translate(exc, self._pool._where) from exc
        return base.decode_all(calls, replies, self._pool._where)

    @staticmethod
    async def _send(client: Any, calls: list[Call[Any]], wire: Any) -> list[Any]:
        pipe = client.pipeline(transaction=False)
        for call in calls:
            pipe.execute_command(*wire(call))
        return list(await pipe.execute(raise_on_error=False))

    async def __aenter__(self) -> AsyncPipeline:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._calls = []

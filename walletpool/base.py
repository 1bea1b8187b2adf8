"""What WalletPool and AsyncWalletPool share: settings, the plans they run, the
printable location of their server, and the operations a pipeline queues. A client
adds only how it runs a step: directly, or awaited."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import redis
import redis.asyncio

from .engine import wire
from .engine.calls import Call
from .engine.operations import Operations
from .models import Lease, LowWater, Mode
from .plans import Plans
from .reserve.lane import ReserveLane
from .settings import Settings, connection_options, mask_url


class ClientBase:
    """What WalletPool and AsyncWalletPool share: settings, the plans they run (one
    per operation, walletpool/plans.py), and the printable location of their server."""

    def __init__(self, client: wire.SyncRedis | wire.AsyncRedis, *, prefix: str | None = None,
                 settings: Settings | None = None,
                 on_low_water: Callable[[LowWater], object] | None = None,
                 database_url: str | None = None) -> None:
        base = settings or Settings.from_env()
        if prefix:
            base = replace(base, prefix=prefix)
        self.settings = replace(base, database_url=database_url) if database_url else base
        self._ops = Operations(self.settings, on_low_water)
        self._where = wire.where(client)
        self._lane = ReserveLane(self.settings) if self.settings.database_url else None
        self._functions = wire.Functions(allowed=not isinstance(
            client, (redis.RedisCluster, redis.asyncio.RedisCluster)))
        self._plans = Plans(self._ops, self._lane)

    @property
    def mode(self) -> Mode:
        """'redis', or 'fallback' while this client allocates from the database's reserve
        (Redis unreachable, or ENABLE_REDIS_WALLET_QUEUES=false)."""
        return self._lane.mode if self._lane is not None else "redis"

    def _close_lane(self) -> None:
        if self._lane is not None:
            self._lane.close()

    @classmethod
    def _connect(cls, redis_module: Any, url: str | None, prefix: str | None,
                 settings: dict[str, Any],
                 on_low_water: Callable[[LowWater], object] | None = None) -> Any:
        """A client of `redis_module` (redis or redis.asyncio) built from `url` and the
        environment, with a pool that makes callers wait for a free connection. The
        client owns the pool (`from_pool`), so that close() disconnects it."""
        resolved = Settings.from_env(redis_url=url, prefix=prefix, **settings)
        connections = redis_module.BlockingConnectionPool.from_url(
            resolved.connection_url, **connection_options(resolved))
        pool = cls(redis_module.Redis.from_pool(connections), settings=resolved,
                   on_low_water=on_low_water)
        pool._where = mask_url(resolved.connection_url)
        return pool


class PipelineOps:
    """The operations a pipeline queues; sync and async pipelines add only `execute`."""

    def __init__(self, ops: Operations) -> None:
        self._ops = ops
        self._calls: list[Call[Any]] = []

    def _take(self) -> list[Call[Any]]:
        """The queued calls, leaving the pipeline empty for the next batch."""
        calls, self._calls = self._calls, []
        return calls

    def __len__(self) -> int:
        return len(self._calls)

    def _queue(self, call: Call[Any]) -> PipelineOps:
        self._calls.append(call)
        return self

    def allocate(self, pool: str, owner: str, ttl: float | None = None,
                 correlation_id: str | None = None, user_id: str | None = None) -> PipelineOps:
        return self._queue(self._ops.allocate(pool, owner, ttl, correlation_id, user_id))

    def release(self, lease: Lease) -> PipelineOps:
        return self._queue(self._ops.release(lease))

    def extend(self, lease: Lease, ttl: float | None = None) -> PipelineOps:
        return self._queue(self._ops.extend(lease, ttl))

    def get_lease(self, pool: str, owner: str) -> PipelineOps:
        return self._queue(self._ops.get_lease(pool, owner))

    def retire(self, pool: str, address: str) -> PipelineOps:
        return self._queue(self._ops.retire(pool, address))

    def stats(self, pool: str) -> PipelineOps:
        return self._queue(self._ops.stats(pool))

    def peek(self, pool: str, count: int = 10) -> PipelineOps:
        return self._queue(self._ops.peek(pool, count))

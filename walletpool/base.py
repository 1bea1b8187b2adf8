"""What WalletPool and AsyncWalletPool share: settings, the plans they run, the
printable location of their server, and the operations a pipeline queues. A client
adds only how it runs a step: directly, or awaited."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import redis
import redis.asyncio

from .connect import client_for
from .engine import wire
from .engine.calls import Call
from .engine.operations import Operations
from .errors import WalletPoolError
from .models import Lease, LowWater, Mode
from .plans import Plans
from .reserve.lane import ReserveLane
from .settings import Settings
from .validation import mask_url


class ClientBase:
    """What WalletPool and AsyncWalletPool share: settings, the plans they run (one
    per operation, walletpool/plans.py), and the printable location of their server."""

    def __init__(self, client: wire.SyncRedis | wire.AsyncRedis, *, prefix: str | None = None,
                 settings: Settings | None = None,
                 on_low_water: Callable[[LowWater], object] | None = None,
                 database_url: str | None = None, replicas: int | None = None,
                 replica_timeout: float | None = None, fsync: bool | None = None,
                 wait: float | None = None, coalesce: bool | None = None) -> None:
        base = settings or Settings.from_env()
        overrides = {name: value for name, value in (
            ("prefix", prefix), ("database_url", database_url), ("replicas", replicas),
            ("replica_timeout", replica_timeout), ("fsync", fsync), ("wait", wait),
            ("coalesce", coalesce))
            if value is not None}
        self.settings = replace(base, **overrides) if overrides else base  # type: ignore[arg-type]
        self._ops = Operations(self.settings, on_low_water)
        self._durability = wire.Durability(self.settings.replicas, self.settings.replica_timeout,
                                           self.settings.fsync)
        self._cluster = isinstance(client, (redis.RedisCluster, redis.asyncio.RedisCluster))
        self._where = wire.where(client)
        self._lane = ReserveLane(self.settings) if self.settings.database_url else None
        self._functions = wire.Functions(allowed=not self._cluster)
        self._plans = Plans(self._ops, self._lane)
        self._sentinels: list[Any] = []
        """Clients of the sentinels a `redis+sentinel://` URL named, closed with this one."""

    @property
    def mode(self) -> Mode:
        """'redis', or 'fallback' while this client allocates from the database's reserve
        (Redis unreachable, or ENABLE_REDIS_WALLET_QUEUES=false)."""
        return self._lane.mode if self._lane is not None else "redis"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._where}, prefix={self.settings.prefix!r})"

    def _close_lane(self) -> None:
        if self._lane is not None:
            self._lane.close()

    @classmethod
    def _connect(cls, redis_module: Any, url: str | None, prefix: str | None,
                 settings: Mapping[str, Any],
                 on_low_water: Callable[[LowWater], object] | None = None) -> Any:
        """A client of `redis_module` (redis or redis.asyncio) built from `url` and the
        environment, with a pool that makes callers wait for a free connection. The
        client owns the pool (`from_pool`), so that close() disconnects it."""
        resolved = Settings.from_env(redis_url=url, prefix=prefix, **settings)
        client, sentinels = client_for(redis_module, resolved)
        pool = cls(client, settings=resolved, on_low_water=on_low_water)
        pool._where = mask_url(resolved.connection_url)
        pool._sentinels = sentinels
        if pool._lane is not None:  # the settings name this client's server: it may ask it
            pool._lane.lookout.enabled = True
        return pool


class PipelineOps:
    """The operations a pipeline queues; sync and async pipelines add only `execute`."""

    def __init__(self, ops: Operations, durability: wire.Durability) -> None:
        self._ops = ops
        self._durability = durability
        self._calls: list[Call[Any]] = []

    def _waits(self, calls: list[Call[Any]]) -> tuple[str | int, ...] | None:
        """The wait to send after the batch, when a call of it is a durable write."""
        return (self._durability.wait_args()
                if any(self._durability.applies(c) for c in calls) else None)

    def _unconfirmed(self, calls: list[Call[Any]], results: list[object],
                     waited: Any) -> list[Call[Any]]:
        """With the replicas short of the batch's wait, each durable call's result
        becomes NotReplicated; returns the calls that take back what they handed out."""
        acknowledged = self._durability.acknowledged(waited)
        if self._durability.confirmed(acknowledged):
            return []
        undo: list[Call[Any]] = []
        for i, call in enumerate(calls):
            if self._durability.applies(call) and not isinstance(results[i], WalletPoolError):
                taking_back = call.taking_back(results[i])
                if taking_back is not None:
                    undo.append(taking_back)
                results[i] = self._durability.refusal(call, acknowledged,
                                                      taking_back is not None)
        return undo

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

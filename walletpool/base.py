"""How a raw Redis reply or failure becomes a walletpool result or error, shared by
the sync and async drivers: the wire form of a call, NOSCRIPT detection, and the
translation of redis-py exceptions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from redis import exceptions as rx

from .engine.operations import Call, Operations
from .errors import BackendUnavailable, InvalidInput, WalletPoolError
from .models import Lease, LowWater, PoolStats
from .reserve.lane import Fallback
from .settings import Settings, connection_options, mask_url

UNREACHABLE = (rx.ConnectionError, rx.TimeoutError, rx.ReadOnlyError, rx.ClusterDownError,
               rx.TryAgainError)


class Attempt:
    def __init__(self, last: bool) -> None:
        self.last = last

    def again(self, exc: BaseException) -> bool:
        """Whether to send the call once more after `exc`: only a broken connection,
        and only when another attempt is left."""
        return not self.last and isinstance(exc, (rx.ConnectionError, rx.TimeoutError))


def attempts(call: Call[Any]) -> list[Attempt]:
    """Idempotent calls get a second attempt after a broken connection (the first may
    have run with its reply lost; running again is harmless); the others get one."""
    return [Attempt(False), Attempt(True)] if call.idempotent else [Attempt(True)]


def evalsha_args(call: Call[Any]) -> tuple[Any, ...]:
    return ("EVALSHA", call.script.sha, len(call.keys), *call.keys, *call.args)


def eval_args(call: Call[Any]) -> tuple[Any, ...]:
    """EVAL runs the script and caches it on the node, so later EVALSHAs find it again."""
    return ("EVAL", call.script.source, len(call.keys), *call.keys, *call.args)


def is_noscript(reply: object) -> bool:
    return isinstance(reply, rx.NoScriptError)


def translate(exc: BaseException, where: str, call: Call[Any] | None = None) -> WalletPoolError:
    """A redis-py exception as the walletpool error a caller can act on."""
    if isinstance(exc, WalletPoolError):
        return exc
    if isinstance(exc, UNREACHABLE):
        doubt = ""
        if call is not None and not call.idempotent:
            doubt = (f" The {call.script.name} may or may not have been applied;"
                     " check with get_lease.")
        return BackendUnavailable(f"Redis at {where} is unavailable: {exc}.{doubt}")
    if isinstance(exc, rx.ResponseError) and "walletpool:" in str(exc):
        return InvalidInput(f"refused by the {call.script.name if call else ''} script: "
                            f"{str(exc).split('walletpool:', 1)[1].strip()}")
    if isinstance(exc, rx.ResponseError) and call is not None:
        return WalletPoolError(f"the {call.script.name} script failed on Redis at {where}: "
                               f"{call.script.explain(str(exc))}")
    if isinstance(exc, rx.RedisError):
        return WalletPoolError(f"Redis at {where} failed: {exc}")
    raise exc


def where(client: Any) -> str:
    """A printable location of the client's server, never with its password."""
    try:
        kwargs = client.connection_pool.connection_kwargs
        if "path" in kwargs:
            return f"unix://{kwargs['path']}"
        return f"redis://{kwargs.get('host', '?')}:{kwargs.get('port', '?')}/{kwargs.get('db', 0)}"
    except AttributeError:
        return type(client).__name__


def decode_all(calls: list[Call[Any]], replies: list[Any], where_: str) -> list[object]:
    """Pipeline results in order: a decoded value or the WalletPoolError of that call."""
    results: list[object] = []
    for call, reply in zip(calls, replies, strict=False):
        try:
            if isinstance(reply, BaseException):
                raise translate(reply, where_, call)
            results.append(call.decode(reply))
        except WalletPoolError as exc:
            results.append(exc)
    return results


class ClientBase:
    """What WalletPool and AsyncWalletPool share: settings, the call builder, and the
    printable location of their server."""

    def __init__(self, client: Any, *, prefix: str | None = None,
                 settings: Settings | None = None,
                 on_low_water: Callable[[LowWater], object] | None = None,
                 database_url: str | None = None) -> None:
        base = settings or Settings.from_env()
        if prefix:
            base = replace(base, prefix=prefix)
        self.settings = replace(base, database_url=database_url) if database_url else base
        self.redis = client
        self._ops = Operations(self.settings, on_low_water)
        self._where = where(client)
        self._fallback = Fallback(self.settings) if self.settings.database_url else None

    @property
    def mode(self) -> str:
        """'redis', or 'fallback' while this client allocates from the database's reserve
        (Redis unreachable, or ENABLE_REDIS_WALLET_QUEUES=false)."""
        return self._fallback.mode if self._fallback is not None else "redis"

    def _database_only(self) -> bool:
        return self._fallback is not None and not self._fallback.redis_enabled

    def _with_mode(self, stats: PoolStats) -> PoolStats:
        if self._fallback is None:
            return stats
        return replace(stats, mode=self._fallback.mode,
                       fallback_switches=self._fallback.breaker.switches)

    @classmethod
    def _connect(cls, redis_module: Any, url: str | None, prefix: str | None,
                 settings: dict[str, Any],
                 on_low_water: Callable[[LowWater], object] | None = None) -> Any:
        """A client of `redis_module` (redis or redis.asyncio) built from `url` and the
        environment, with a pool that makes callers wait for a free connection."""
        resolved = Settings.from_env(redis_url=url, prefix=prefix, **settings)
        connections = redis_module.BlockingConnectionPool.from_url(
            resolved.redis_url, **connection_options(resolved))
        pool = cls(redis_module.Redis(connection_pool=connections), settings=resolved,
                   on_low_water=on_low_water)
        pool._where = mask_url(resolved.redis_url)
        return pool


class PipelineOps:
    """The operations a pipeline queues; sync and async pipelines add only `execute`."""

    def __init__(self, ops: Any) -> None:
        self._ops = ops
        self._calls: list[Call[Any]] = []

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

"""WalletPool: the synchronous client. Each method builds its call in _core and sends it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, TypeVar

import redis

from . import _backend
from ._core import KEEP, Call, Keep, Program
from ._intake import ImportProgress
from .importer import Source, read_source
from .keys import pool_names
from .models import AddResult, ImportReport, Lease, LowWater, PoolStats
from .settings import Settings

T = TypeVar("T")


class WalletPool(_backend.ClientBase):
    """FIFO pools of deposit wallets in one Redis (or Redis Cluster).

    `WalletPool(redis_client)` uses a client you configured; `WalletPool.from_url(...)`
    builds one from a URL and the environment (see walletpool.settings).
    """

    def __init__(self, client: redis.Redis | redis.RedisCluster, *, prefix: str | None = None,
                 settings: Settings | None = None,
                 on_low_water: Callable[[LowWater], object] | None = None) -> None:
        super().__init__(client, prefix=prefix, settings=settings, on_low_water=on_low_water)
        self._execute: Callable[..., Any] = client.execute_command

    @classmethod
    def from_url(cls, url: str | None = None, *, prefix: str | None = None,
                 on_low_water: Callable[[LowWater], object] | None = None,
                 **settings: Any) -> WalletPool:
        """Connect to `url` (default REDIS_URL). Extra keywords are Settings fields.
        `on_low_water(LowWater)` is called after an allocation that leaves a pool below
        its min_free."""
        pool: WalletPool = cls._connect(redis, url, prefix, settings, on_low_water)
        return pool

    def close(self) -> None:
        self.redis.close()

    def __enter__(self) -> WalletPool:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    # -- operations -------------------------------------------------------------------------

    def configure(self, pool: str, lease_ttl: float | None = None,
                  cooldown: float | None = None, max_size: int | None = None,
                  max_uses: int | Keep | None = KEEP, min_free: int | None = None,
                  network: str | None = None) -> bool:
        """Create `pool` or change its settings; None (KEEP for max_uses) leaves one as it
        is, max_uses=None means no limit. `min_free` is the low-water mark; `network`
        (walletpool.chains) can change only while the pool holds no wallet. Returns True
        when the pool was created."""
        return self._call(self._ops.configure(pool, lease_ttl, cooldown, max_size, max_uses,
                                              min_free, network))

    def add(self, pool: str, addresses: Sequence[str | tuple[str, str]],
            progress: Callable[[int], None] | None = None) -> AddResult:
        """Add wallets to the tail of the free queue, skipping known ones. Each address is
        checked for the pool's network and stored in canonical form; in a tag pool give
        (address, tag) pairs. One bad address and nothing is added (InvalidAddress), nor
        when an address belongs to another pool of the chain family (AddressTaken). Up
        to 5,000 wallets are one atomic step; a larger list runs as several, after
        checking up front that all fit. `progress` is called with the count sent so far."""
        return self._run(self._ops.add(pool, addresses, progress))

    def import_wallets(self, pool: str, source: Source, *, dry_run: bool = False,
                       progress: ImportProgress | None = None) -> ImportReport:
        """Import a file (a path, or lines) of addresses or CSV `address,tag`: check every
        line first, then add the good ones; the report lists each refused line and why.
        `dry_run` writes nothing. `progress(stage, done, total)` follows the 'checking'
        and 'writing' stages."""
        rows, rejected = read_source(source)
        return self._run(self._ops.import_wallets(pool, rows, rejected, dry_run, progress))

    def allocate(self, pool: str, owner: str, ttl: float | None = None,
                 correlation_id: str | None = None, user_id: str | None = None) -> Lease:
        return self._call(self._ops.allocate(pool, owner, ttl, correlation_id, user_id))

    def allocate_many(self, pool: str, owners: Sequence[str], ttl: float | None = None,
                      correlation_id: str | None = None, user_id: str | None = None,
                      partial: bool = False) -> list[Lease]:
        return self._call(self._ops.allocate_many(pool, owners, ttl, correlation_id, user_id,
                                                  partial))

    def release(self, lease: Lease) -> str:
        return self._call(self._ops.release(lease))

    def release_many(self, leases: Sequence[Lease]) -> list[bool]:
        return self._call(self._ops.release_many(leases))

    def extend(self, lease: Lease, ttl: float | None = None) -> Lease:
        return self._call(self._ops.extend(lease, ttl))

    def get_lease(self, pool: str, owner: str) -> Lease | None:
        return self._call(self._ops.get_lease(pool, owner))

    def reap(self, pool: str) -> int:
        return self._run(self._ops.reap(pool))

    def retire(self, pool: str, address: str, tag: str | None = None) -> bool:
        return self._call(self._ops.retire(pool, address, tag))

    def stats(self, pool: str) -> PoolStats:
        return self._call(self._ops.stats(pool))

    def peek(self, pool: str, count: int = 10) -> list[str]:
        return self._call(self._ops.peek(pool, count))

    def pools(self) -> list[str]:
        """Names of all pools under this prefix, sorted."""
        try:
            return pool_names(self.redis, self.settings.prefix)
        except Exception as exc:
            raise _backend.translate(exc, self._where) from exc

    def pipeline(self) -> Pipeline:
        """Queue several operations, send them in one round trip with `execute()`."""
        return Pipeline(self)

    def _shift_clock(self, pool: str, offset: float) -> None:
        """Tests only: run `pool`'s clock `offset` seconds ahead of Redis's."""
        self._call(self._ops.shift_clock(pool, offset))

    def _freeze_clock(self, pool: str, at: float) -> None:
        """Tests only: stop `pool`'s clock at epoch seconds `at` (0: Redis TIME again)."""
        self._call(self._ops.freeze_clock(pool, at))

    # -- the driver -------------------------------------------------------------------------

    def _send(self, call: Call[Any]) -> Any:
        for attempt in _backend.attempts(call):
            try:
                try:
                    return self._execute(*_backend.evalsha_args(call))
                except redis.exceptions.NoScriptError:
                    return self._execute(*_backend.eval_args(call))
            except Exception as exc:
                if not attempt.again(exc):
                    raise _backend.translate(exc, self._where, call) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _call(self, call: Call[T]) -> T:
        return call.decode(self._send(call))

    def _run(self, program: Program[T]) -> T:
        try:
            call = next(program)
            while True:
                call = program.send(call.decode(self._send(call)))
        except StopIteration as done:
            result: T = done.value
            return result


class Pipeline(_backend.PipelineOps):
    """Operations sent together. `execute()` returns, in order, each result or the
    WalletPoolError of that operation (never raised, so no lease of the batch is lost)."""

    def __init__(self, owner: WalletPool) -> None:
        super().__init__(owner._ops)
        self._pool = owner

    def execute(self) -> list[object]:
        calls, self._calls = self._calls, []
        if not calls:
            return []
        client = self._pool.redis
        try:
            replies = self._send(client, calls, _backend.evalsha_args)
            missing = [i for i, r in enumerate(replies) if _backend.is_noscript(r)]
            if missing:  # the scripts were flushed: run those calls again with their source
                again = self._send(client, [calls[i] for i in missing], _backend.eval_args)
                for i, reply in zip(missing, again, strict=False):
                    replies[i] = reply
        except Exception as exc:
            raise _backend.translate(exc, self._pool._where) from exc
        return _backend.decode_all(calls, replies, self._pool._where)

    @staticmethod
    def _send(client: Any, calls: list[Call[Any]], wire: Any) -> list[Any]:
        pipe = client.pipeline(transaction=False)
        for call in calls:
            pipe.execute_command(*wire(call))
        return list(pipe.execute(raise_on_error=False))

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self._calls = []


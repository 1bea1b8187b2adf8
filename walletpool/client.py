"""WalletPool: the synchronous client. Each method builds its call in _core and sends it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import redis

from . import base
from .engine.intake import ImportProgress
from .engine.operations import KEEP, Call, Keep, Program
from .errors import InvalidInput, LeaseLost
from .importer import Source, read_source
from .keys import pool_names
from .models import AddResult, ImportReport, Lease, LowWater, PoolStats
from .reserve.lane import route, ttl_ms
from .settings import Settings

if TYPE_CHECKING:
    from .reserve.rebalance import Rebalanced

T = TypeVar("T")


class WalletPool(base.ClientBase):
    """FIFO pools of deposit wallets in one Redis (or Redis Cluster).

    `WalletPool(redis_client)` uses a client you configured; `WalletPool.from_url(...)`
    builds one from a URL and the environment (see walletpool.settings).
    """

    def __init__(self, client: redis.Redis | redis.RedisCluster, *, prefix: str | None = None,
                 settings: Settings | None = None,
                 on_low_water: Callable[[LowWater], object] | None = None,
                 database_url: str | None = None) -> None:
        """`database_url` (or WALLETPOOL_DATABASE_URL) names the store: allocation then
        falls back to the database's reserve while Redis is unreachable (see
        walletpool.reserve.lane)."""
        super().__init__(client, prefix=prefix, settings=settings, on_low_water=on_low_water,
                         database_url=database_url)
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
        if self._fallback is not None:
            self._fallback.close()

    def __enter__(self) -> WalletPool:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    # -- operations -------------------------------------------------------------------------

    def configure(self, pool: str, lease_ttl: float | None = None,
                  cooldown: float | None = None, max_size: int | None = None,
                  max_uses: int | Keep | None = KEEP, min_free: int | None = None,
                  network: str | None = None, reserve: int | None = None) -> bool:
        """Create `pool` or change its settings; None (KEEP for max_uses) leaves one as it
        is, max_uses=None means no limit. `min_free` is the low-water mark; `network`
        (walletpool.chains) can change only while the pool holds no wallet; `reserve` is
        how many wallets the database holds back for a Redis outage (default: min_free;
        `rebalance` moves them). Returns True when the pool was created."""
        call = self._ops.configure(pool, lease_ttl, cooldown, max_size, max_uses, min_free,
                                   network, reserve)
        if self._fallback is not None and self._database_only():
            return self._fallback.configure(pool, call.args[4:])
        return self._call(call)

    def add(self, pool: str, addresses: Sequence[str | tuple[str, str]],
            progress: Callable[[int], None] | None = None) -> AddResult:
        """Add wallets to the tail of the free queue, skipping known ones. Each address is
        checked for the pool's network and stored in canonical form; in a tag pool give
        (address, tag) pairs. One bad address and nothing is added (InvalidAddress), nor
        when an address belongs to another pool of the chain family (AddressTaken). Up
        to 5,000 wallets are one atomic step; a larger list runs as several, after
        checking up front that all fit. `progress` is called with the count sent so far.
        With ENABLE_REDIS_WALLET_QUEUES=false the wallets go to the database's reserve."""
        if self._fallback is not None and self._database_only():
            return self._fallback.add(pool, addresses)
        return self._run(self._ops.add(pool, addresses, progress))

    def import_wallets(self, pool: str, source: Source, *, dry_run: bool = False,
                       progress: ImportProgress | None = None) -> ImportReport:
        """Import a file (a path, or lines) of addresses or CSV `address,tag`: check every
        line first, then add the good ones; the report lists each refused line and why.
        `dry_run` writes nothing. `progress(stage, done, total)` follows the 'checking'
        and 'writing' stages."""
        rows, rejected = read_source(source)
        if self._fallback is not None and self._database_only():
            return self._fallback.import_wallets(pool, rows, rejected, dry_run)
        return self._run(self._ops.import_wallets(pool, rows, rejected, dry_run, progress))

    def allocate(self, pool: str, owner: str, ttl: float | None = None,
                 correlation_id: str | None = None, user_id: str | None = None) -> Lease:
        call = self._ops.allocate(pool, owner, ttl, correlation_id, user_id)
        fb = self._fallback
        if fb is None:
            return self._call(call)
        lease: Lease = route(fb, lambda: self._call(call), lambda: fb.allocate(
            pool, str(call.args[0]), ttl_ms(ttl), correlation_id, user_id))
        return lease

    def allocate_many(self, pool: str, owners: Sequence[str], ttl: float | None = None,
                      correlation_id: str | None = None, user_id: str | None = None,
                      partial: bool = False) -> list[Lease]:
        call = self._ops.allocate_many(pool, owners, ttl, correlation_id, user_id, partial)
        fb = self._fallback
        if fb is None:
            return self._call(call)
        leases: list[Lease] = route(fb, lambda: self._call(call), lambda: fb.allocate_many(
            pool, list(owners), ttl_ms(ttl), correlation_id, user_id, partial))
        return leases

    def release(self, lease: Lease) -> str:
        """End the lease; returns the wallet's new state ('free', 'cooling', 'retired';
        'reserve' for a lease from the database's reserve; 'queued' when Redis is down
        and the release waits in the database for it)."""
        call = self._ops.release(lease)
        fb = self._fallback
        if fb is None:
            return self._call(call)
        if lease.from_reserve:
            return fb.release(lease)
        state: str = route(fb, lambda: self._call(call), lambda: fb.release(lease))
        return state

    def release_many(self, leases: Sequence[Lease]) -> list[bool]:
        call = self._ops.release_many(leases)
        if self._fallback is None:
            return self._call(call)

        def one_by_one() -> list[bool]:
            return [_released(self.release, lease) for lease in leases]

        if any(lease.from_reserve for lease in leases):
            return one_by_one()
        done: list[bool] = route(self._fallback, lambda: self._call(call), one_by_one)
        return done

    def extend(self, lease: Lease, ttl: float | None = None) -> Lease:
        call = self._ops.extend(lease, ttl)
        if self._fallback is not None and lease.from_reserve:
            return self._fallback.extend(lease, ttl_ms(ttl))
        return self._call(call)

    def get_lease(self, pool: str, owner: str) -> Lease | None:
        """The owner's live lease, from Redis or (when this client has a database) from
        the database's reserve."""
        call = self._ops.get_lease(pool, owner)
        fb = self._fallback
        if fb is None:
            return self._call(call)
        found: Lease | None = route(fb, lambda: self._call(call), lambda: None)
        return found or fb.get_lease(pool, owner)

    def rebalance(self, pool: str) -> Rebalanced:
        """Bring the database's reserve of `pool` to its size: take wallets from Redis's
        free queue or give the surplus back, apply releases queued while Redis was down,
        finish moves a crash left half-way. Needs Redis and the database."""
        if self._fallback is None:
            raise InvalidInput("rebalance needs the database: pass database_url or set "
                               "WALLETPOOL_DATABASE_URL")
        from .reserve.rebalance import rebalance

        return rebalance(self, self._fallback.engine, pool)

    def reap(self, pool: str) -> int:
        if self._fallback is not None and self._database_only():
            return self._fallback.reap(pool)
        return self._run(self._ops.reap(pool))

    def retire(self, pool: str, address: str, tag: str | None = None) -> bool:
        return self._call(self._ops.retire(pool, address, tag))

    def stats(self, pool: str) -> PoolStats:
        """The pool's figures from Redis; from the database while this client is in
        fallback (see PoolStats.mode)."""
        call = self._ops.stats(pool)
        fb = self._fallback
        if fb is None:
            return self._call(call)
        stats: PoolStats = route(fb, lambda: self._with_mode(self._call(call)),
                                 lambda: fb.stats(pool))
        return stats

    def peek(self, pool: str, count: int = 10) -> list[str]:
        return self._call(self._ops.peek(pool, count))

    def pools(self) -> list[str]:
        """Names of all pools under this prefix, sorted."""
        try:
            return pool_names(self.redis, self.settings.prefix)
        except Exception as exc:
            raise base.translate(exc, self._where) from exc

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
        for attempt in base.attempts(call):
            try:
                try:
                    return self._execute(*base.evalsha_args(call))
                except redis.exceptions.NoScriptError:
                    return self._execute(*base.eval_args(call))
            except Exception as exc:
                if not attempt.again(exc):
                    raise base.translate(exc, self._where, call) from exc
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


def _released(release: Callable[[Lease], str], lease: Lease) -> bool:
    try:
        release(lease)
    except LeaseLost:
        return False
    return True


class Pipeline(base.PipelineOps):
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
            replies = self._send(client, calls, base.evalsha_args)
            missing = [i for i, r in enumerate(replies) if base.is_noscript(r)]
            if missing:  # the scripts were flushed: run those calls again with their source
                again = self._send(client, [calls[i] for i in missing], base.eval_args)
                for i, reply in zip(missing, again, strict=False):
                    replies[i] = reply
        except Exception as exc:
            raise base.translate(exc, self._pool._where) from exc
        return base.decode_all(calls, replies, self._pool._where)

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


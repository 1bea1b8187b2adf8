"""The reserve lane: what a client given a database (`database_url=`) does on the
database, the reserve of wallets that Redis never sees. Every method is blocking (the
asyncio client runs it in a worker thread); walletpool/plans.py decides when a call
goes here, this module only serves it (docs/design.md, "The reserve lane").

- allocate: from the reserve (walletpool.reserve.queries), FIFO by release time.
- release / extend of a reserve lease (`lease.from_reserve`): in the database.
- release of a Redis lease while Redis is down: queued in the database and applied,
  fenced by its token, by the next rebalance once Redis is back. Extend of a Redis
  lease needs Redis (BackendUnavailable while it is down).
- ENABLE_REDIS_WALLET_QUEUES=false: the database alone, for every pool operation."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from .. import chains
from ..engine.calls import fields
from ..errors import BackendUnavailable, InvalidAddress, PoolExhausted, WalletPoolError
from ..logs import ContextLogger
from ..models import AddResult, ImportReport, Lease, Mode, PoolStats, Rejected, ReleasedTo
from ..settings import Settings
from .breaker import Breaker
from .watch import Lookout

if TYPE_CHECKING:  # SQLAlchemy loads only when a client first needs the database
    import sqlalchemy as sa

log = ContextLogger()
T = TypeVar("T")


def database_step(run: Callable[[], T]) -> T:
    """Run one database step of a plan (a Query), as both clients do: SQLAlchemy's
    errors leave it as walletpool's own, BackendUnavailable when the database cannot be
    reached (so that a plan can turn to Redis), WalletPoolError otherwise."""
    try:
        return run()
    except Exception as exc:
        if "sqlalchemy" not in sys.modules:  # then no error of its can be raised
            raise
        import sqlalchemy.exc as sa_exc

        if not isinstance(exc, sa_exc.SQLAlchemyError):
            raise
        text = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        if isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError,
                            sa_exc.TimeoutError, sa_exc.DisconnectionError)):
            raise BackendUnavailable(f"the database is unavailable: {text}") from exc
        raise WalletPoolError(f"the database failed: {text}") from exc


class ReserveLane:
    """The database side of one client: the breaker, the engine, the reserve calls."""

    def __init__(self, settings: Settings) -> None:
        assert settings.database_url is not None
        self.settings = settings
        self.breaker = Breaker(settings.breaker_failures, settings.breaker_probe)
        self.lookout = Lookout(settings, self.breaker)
        self.breaker.on_open = self.lookout.start
        self.redis_enabled = settings.redis_queues
        self._engine: sa.Engine | None = None
        self._engine_lock = threading.Lock()
        self._schema_checked = False

    @property
    def engine(self) -> sa.Engine:
        """The database's engine, made on first use without a query: the plans hand it
        to programs (heal, rebalance) whose queries run as database steps, where an
        outage becomes BackendUnavailable."""
        with self._engine_lock:
            if self._engine is None:
                from ..store.engine import create_engine

                self._engine = create_engine(self.settings.database_url or "")
            return self._engine

    @property
    def ready_engine(self) -> sa.Engine:
        """The engine once the schema has been found to be this walletpool's (the lane's
        own calls, each inside a database step)."""
        engine = self.engine
        if not self._schema_checked:
            from .queries import ready

            ready(engine)
            self._schema_checked = True
        return engine

    @property
    def mode(self) -> Mode:
        return self.breaker.mode if self.redis_enabled else "fallback"

    def use_redis(self) -> bool:
        return self.redis_enabled and self.breaker.allow()

    def close(self) -> None:
        self.lookout.close()
        if self._engine is not None:
            self._engine.dispose()

    # -- the reserve lane ----------------------------------------------------------------------

    def allocate(self, pool: str, owner: str, ttl_ms: int | None, correlation_id: str | None,
                 user_id: str | None) -> Lease:
        from . import queries as reserve

        lease = reserve.allocate(self.ready_engine, pool, owner, ttl_ms, correlation_id, user_id)
        if lease is None:
            counts = reserve.counts(self.ready_engine, pool)
            log.warning("reserve exhausted", extra=fields(pool=pool, leased=counts.leased))
            if self.redis_enabled:
                why = (f"Redis is unavailable and the database's reserve has no free wallet "
                       f"({counts.leased} leased from it); allocation resumes from Redis when "
                       "it is back")
            else:
                why = (f"the database (ENABLE_REDIS_WALLET_QUEUES=false) has no free wallet "
                       f"({counts.leased} leased)")
            raise PoolExhausted(f"pool {pool}: {why}", pool=pool, free=0, leased=counts.leased,
                                cooling=counts.free)
        log.info("wallet allocated from the reserve", extra=fields(
            pool=pool, address=lease.wallet, owner=owner, token=lease.token))
        return lease

    def allocate_many(self, pool: str, owners: Sequence[str], ttl_ms: int | None,
                      correlation_id: str | None, user_id: str | None,
                      partial: bool) -> list[Lease]:
        leases: list[Lease] = []
        for owner in dict.fromkeys(owners):
            try:
                leases.append(self.allocate(pool, owner, ttl_ms, correlation_id, user_id))
            except PoolExhausted:
                if partial:
                    break
                for lease in leases:  # all or nothing, as in Redis
                    if lease.fresh:
                        self.release(lease)
                raise
        return leases

    def release(self, lease: Lease) -> ReleasedTo:
        from . import queries as reserve

        if lease.from_reserve:
            return reserve.release(self.ready_engine, lease)
        reserve.queue_release(self.ready_engine, lease)
        log.warning("release queued until Redis is back", extra=fields(
            pool=lease.pool, address=lease.wallet, owner=lease.owner, token=lease.token))
        return "queued"

    def extend(self, lease: Lease, ttl_ms: int | None) -> Lease:
        from . import queries as reserve

        if lease.from_reserve:
            return reserve.extend(self.ready_engine, lease, ttl_ms)
        raise BackendUnavailable(
            f"lease of {lease.wallet} in pool {lease.pool} is Redis's and Redis is unavailable: "
            "it cannot be extended now (release it, or retry when Redis is back)")

    def get_lease(self, pool: str, owner: str) -> Lease | None:
        from . import queries as reserve

        return reserve.get_lease(self.ready_engine, pool, owner)

    def stats(self, pool: str) -> PoolStats:
        """The pool as the database sees it (Redis's part as of the last sync)."""
        import sqlalchemy as sa

        from ..store import schema
        from . import queries as reserve

        counts = reserve.counts(self.ready_engine, pool)
        w, p = schema.wallets, schema.pools
        with self.ready_engine.connect() as conn:
            settings = conn.execute(sa.select(p).where(p.c.name == pool)).mappings().first()
            if settings is None:
                from ..errors import PoolNotFound

                raise PoolNotFound(f"pool {pool} is in neither Redis nor the database")
            by_state = {str(state): int(n) for state, n in conn.execute(
                sa.select(w.c.state, sa.func.count()).where(w.c.pool == pool)
                .group_by(w.c.state))}
            now = reserve.db_now_ms(conn)
        mirrored_leases = by_state.get("leased", 0) - counts.leased - counts.expired
        in_reserve = counts.free + counts.leased + counts.moving + counts.expired
        return PoolStats(
            pool=pool, free=by_state.get("free", 0), leased=mirrored_leases + counts.leased,
            cooling=by_state.get("cooling", 0), retired=by_state.get("retired", 0),
            total=sum(by_state.values()), last_token=int(settings["max_token"]), events=0,
            expired_unreaped=counts.expired, cooled_ready=0,
            lease_ttl=settings["lease_ttl_ms"] / 1000, cooldown=settings["cooldown_ms"] / 1000,
            max_size=int(settings["max_size"]), max_uses=int(settings["max_uses"]) or None,
            server_time=now / 1000, network=settings["network"] or chains.default_network(pool),
            min_free=int(settings["min_free"]), reserve=in_reserve,
            reserve_target=settings["reserve"], mode=self.mode,
            fallback_switches=self.breaker.switches)

    # -- a pool on the database alone (ENABLE_REDIS_WALLET_QUEUES=false) -------------------

    def configure(self, pool: str, pairs: Sequence[str | int]) -> bool:
        from . import queries as reserve

        settings = dict(zip(pairs[::2], pairs[1::2], strict=True))
        settings.pop("stream_cap", None)  # Redis's alone: the database keeps no stream
        return reserve.configure(self.ready_engine, pool, {str(k): v for k, v in settings.items()})

    def _network(self, pool: str, create: bool) -> chains.Network:
        """The pool's network from the database (the pool is made when `create`)."""
        import sqlalchemy as sa

        from ..store import schema
        from . import queries as reserve

        with self.ready_engine.connect() as conn:
            known = conn.execute(sa.select(schema.pools.c.network).where(
                schema.pools.c.name == pool)).scalar()
        name = known or chains.default_network(pool)
        if known is None and create:
            from ..engine.intake import implied_network

            name = implied_network(pool)  # a typo makes no pool that checks nothing
            reserve.configure(self.ready_engine, pool, {
                "lease_ttl_ms": self.settings.lease_ttl_ms, "max_size": self.settings.max_size,
                "network": name})
        return chains.network(name)

    def add(self, pool: str, items: Sequence[object]) -> AddResult:
        """Check the wallets for the pool's network and add them to the reserve."""
        from ..engine import intake as _intake
        from . import queries as reserve

        network = self._network(pool, create=True)
        checked = _intake.check(network, _intake.rows_of(pool, items))
        if checked.rejected:
            bad = checked.rejected[0]
            raise InvalidAddress(f"pool {pool}: {bad.text!r} (position {bad.line}) is not a "
                                 f"valid {network.name} wallet: {bad.reason}; nothing added")
        added, duplicates = reserve.add(self.ready_engine, pool, checked.wallets)
        return AddResult(added, duplicates + checked.duplicates)

    def import_wallets(self, pool: str, rows: Sequence[Any], rejected: Sequence[Rejected],
                       dry_run: bool) -> ImportReport:
        """`import_wallets` into the reserve: every line checked, the good ones added."""
        from ..engine import intake as _intake
        from . import queries as reserve

        network = self._network(pool, create=not dry_run)
        checked = _intake.check(network, rows)
        refused = sorted([*rejected, *checked.rejected], key=lambda r: r.line)
        read = len(rows) + len(rejected)
        if dry_run:
            have = len(reserve.known(self.ready_engine, pool, checked.wallets))
            return ImportReport(pool, network.name, read, len(checked.wallets) - have,
                                checked.duplicates + have, refused, dry_run=True)
        added, duplicates = reserve.add(self.ready_engine, pool, checked.wallets) \
            if checked.wallets else (0, 0)
        return ImportReport(pool, network.name, read, added, checked.duplicates + duplicates,
                            refused)

    def reap(self, pool: str) -> int:
        from . import queries as reserve

        return reserve.reap(self.ready_engine, pool)

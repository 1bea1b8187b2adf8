"""One routing point: each public operation's plan, its Redis call and, where the
reserve lane serves it, the database's alternative. Both clients run these plans and
decide nothing themselves, so they cannot drift apart (docs/design.md, "The two lanes").

How an operation is served:
- no database configured: its Redis call, always;
- allocate, allocate_many, stats, get_lease: Redis while the breaker lets calls through
  and Redis answers; the reserve when Redis is unreachable or the breaker is open (an
  allocate that may wait asks the reserve again until its wait runs out);
- release of a reserve lease, extend of one: the database; release of a Redis lease
  while Redis is down: queued in the database;
- add, import_wallets, configure, reap: the database alone when
  ENABLE_REDIS_WALLET_QUEUES=false, Redis otherwise;
- retire, peek: Redis only.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, TypeVar

from . import validation
from .engine import waits
from .engine.calls import Call, Plan, Program, Sleep, as_program, ask
from .engine.intake import ImportProgress, Row, network_of
from .engine.operations import KEEP, Keep, Operations, ttl_ms
from .errors import (
    BackendUnavailable,
    InvalidInput,
    LayoutOutdated,
    LeaseLost,
    PoolExhausted,
    PoolFenced,
    WaitTimeout,
    WalletPoolError,
)
from .models import AddResult, ImportReport, Lease, PoolStats, Priority, Rejected, ReleasedTo
from .reserve.lane import ReserveLane

if TYPE_CHECKING:
    from .reserve.rebalance import Rebalanced

T = TypeVar("T")
RESERVE_RETRY = 0.25
"""Seconds between an order's asks of the database's reserve while it waits."""


class Plans:
    """The plans of one client: its Operations (the Redis calls) and its reserve lane
    (None without a database)."""

    def __init__(self, ops: Operations, lane: ReserveLane | None) -> None:
        self.ops = ops
        self.lane = lane

    # -- the two ways of choosing a lane --------------------------------------------------

    def _either(self, pool: str, redis: Plan[T], database: Callable[[], Program[T]]
                ) -> Program[T]:
        """Redis while it answers (and the breaker lets the call through); the database
        when it is unreachable. Every outcome is fed to the breaker."""
        lane = self.lane
        assert lane is not None
        tried = lane.use_redis()
        if tried:
            try:
                result = yield from self._healing(pool, redis)
            except BackendUnavailable as exc:
                lane.breaker.failed(exc)
            except WalletPoolError:  # Redis answered (no wallet free, a lease lost...)
                lane.breaker.succeeded()
                raise
            else:
                lane.breaker.succeeded()
                return result
        try:
            return (yield from database())
        except BackendUnavailable as unreachable:
            if tried or not lane.redis_enabled:
                raise
            database_error = unreachable
        # The breaker kept this call off Redis, but the reserve cannot be reached either:
        # Redis once more, at once, rather than failing until the breaker's next probe.
        try:
            result = yield from self._healing(pool, redis)
        except BackendUnavailable as exc:
            lane.breaker.failed(exc)
            raise BackendUnavailable(f"pool {pool}: Redis and the database are both "
                                     f"unavailable ({exc}; {database_error})") from exc
        except WalletPoolError:
            lane.breaker.succeeded()
            raise
        lane.breaker.succeeded()
        return result

    def _healing(self, pool: str, plan: Plan[T]) -> Program[T]:
        """A plan on Redis; when the pool is fenced (its Redis lost writes the database
        has) and a database is configured, the pool is healed from it (store/heal.py)
        and the call sent once more."""
        try:
            return (yield from as_program(plan))
        except PoolFenced:
            if self.lane is None or not isinstance(plan, Call):
                raise
        from .store.heal import heal  # SQLAlchemy loads only when needed

        yield from heal(self.ops, self.lane.engine, pool)
        return (yield from as_program(plan))

    def _database_only(self) -> bool:
        """ENABLE_REDIS_WALLET_QUEUES=false: the pool lives in the database alone."""
        return self.lane is not None and not self.lane.redis_enabled

    # -- allocation ------------------------------------------------------------------------

    def allocate(self, pool: str, owner: str, ttl: float | None = None,
                 correlation_id: str | None = None, user_id: str | None = None,
                 wait: float | None = None, priority: Priority = "normal") -> Plan[Lease]:
        """`wait` None: the client's default (Settings.wait); 0: no waiting."""
        call = self.ops.allocate(pool, owner, ttl, correlation_id, user_id)
        wait_ms = waits.checked_wait(self.ops.settings.wait if wait is None else wait)
        high = waits.checked_priority(priority)
        lane = self.lane
        if wait_ms == 0:
            if lane is None:
                return call
            checked = str(call.args[0])
            return self._either(pool, call, lambda: ask(lambda: lane.allocate(
                pool, checked, ttl_ms(ttl), correlation_id, user_id)))
        owner_, ttl_arg, cid, uid = call.args
        until = time.monotonic() + wait_ms / 1000
        if lane is None:
            return waits.allocate_waiting(self.ops, pool, str(owner_), int(ttl_arg), str(cid),
                                          str(uid), wait_ms / 1000, high)
        from .store.heal import heal  # SQLAlchemy loads only when needed

        waiting = waits.allocate_waiting(self.ops, pool, str(owner_), int(ttl_arg), str(cid),
                                         str(uid), wait_ms / 1000, high,
                                         heal=lambda: heal(self.ops, lane.engine, pool))
        return self._either(pool, waiting, lambda: self._reserve_waiting(
            pool, str(owner_), ttl, correlation_id, user_id, until))

    def _reserve_waiting(self, pool: str, owner: str, ttl: float | None,
                         correlation_id: str | None, user_id: str | None, until: float
                         ) -> Program[Lease]:
        """While Redis is down an order waits on the database's reserve: it asks again
        every RESERVE_RETRY seconds until its wait runs out."""
        lane = self.lane
        assert lane is not None
        started = time.monotonic()
        asked = 0
        while True:
            try:
                lease = yield from ask(lambda: lane.allocate(pool, owner, ttl_ms(ttl),
                                                             correlation_id, user_id))
                return replace(lease, waited=time.monotonic() - started) if asked else lease
            except PoolExhausted as exc:
                asked += 1
                left = until - time.monotonic()
                if left <= 0:
                    waited = time.monotonic() - started
                    raise WaitTimeout(
                        f"pool {pool}'s reserve handed no wallet to {owner} within "
                        f"{waited:.1f} s of waiting (Redis is unreachable)", pool=pool,
                        free=exc.free, leased=exc.leased, cooling=exc.cooling,
                        waited=waited) from None
                yield Sleep(min(RESERVE_RETRY, left))

    def wait_check(self, pool: str, owners: dict[str, int]) -> Plan[dict[str, waits.Standing]]:
        """A hub's check of the orders it has waiting (walletpool/hub.py); a fenced pool is
        healed first when this client has a database."""
        call = waits.check(self.ops, pool, owners)
        return call if self.lane is None else self._healing(pool, call)

    def allocate_many(self, pool: str, owners: Sequence[str], ttl: float | None = None,
                      correlation_id: str | None = None, user_id: str | None = None,
                      partial: bool = False) -> Plan[list[Lease]]:
        call = self.ops.allocate_many(pool, owners, ttl, correlation_id, user_id, partial)
        lane = self.lane
        if lane is None:
            return call
        return self._either(pool, call, lambda: ask(lambda: lane.allocate_many(
            pool, list(owners), ttl_ms(ttl), correlation_id, user_id, partial)))

    def release(self, lease: Lease, *, maybe_applied: bool = False) -> Plan[ReleasedTo]:
        """`maybe_applied`: an earlier call that may have released it failed (its reply
        lost): a refusal with the lease's deadline ahead then means it did."""
        call = self.ops.release(lease)
        if maybe_applied and call.resend is not None:
            call = call.resend
        lane = self.lane
        if lane is None:
            return call
        if lease.from_reserve:
            return ask(lambda: lane.release(lease))
        return self._either(lease.pool, call, lambda: ask(lambda: lane.release(lease)))

    def release_many(self, leases: Sequence[Lease]) -> Plan[list[bool]]:
        call = self.ops.release_many(leases)
        if self.lane is None:
            return call
        if any(lease.from_reserve for lease in leases):
            return self._one_by_one(leases)
        # the batch failed on Redis, perhaps after it ran: each lease alone resolves that
        return self._either(leases[0].pool if leases else "", call,
                            lambda: self._one_by_one(leases, maybe_applied=True))

    def _one_by_one(self, leases: Sequence[Lease], maybe_applied: bool = False
                    ) -> Program[list[bool]]:
        """Each lease through its own plan: a reserve lease to the database, a Redis
        lease to Redis (or queued while it is down)."""
        done = []
        for lease in leases:
            plan = self.release(lease, maybe_applied=maybe_applied)
            try:
                yield from as_program(plan)
                done.append(True)
            except LeaseLost:
                done.append(False)
        return done

    def extend(self, lease: Lease, ttl: float | None = None) -> Plan[Lease]:
        call = self.ops.extend(lease, ttl)
        lane = self.lane
        if lane is not None and lease.from_reserve:
            return ask(lambda: lane.extend(lease, ttl_ms(ttl)))
        return call if lane is None else self._healing(lease.pool, call)

    def get_lease(self, pool: str, owner: str) -> Plan[Lease | None]:
        call = self.ops.get_lease(pool, owner)
        if self.lane is None:
            return call
        return self._get_lease(call, pool, owner)

    def _get_lease(self, call: Call[Lease | None], pool: str, owner: str
                   ) -> Program[Lease | None]:
        lane = self.lane
        assert lane is not None
        found = yield from self._either(pool, call, lambda: ask(lambda: None))
        if found is None:  # a lease from the reserve is only in the database
            found = yield from ask(lambda: lane.get_lease(pool, owner))
        return found

    # -- pool upkeep ---------------------------------------------------------------------

    def add(self, pool: str, addresses: Sequence[str | tuple[str, str]],
            progress: Callable[[int], None] | None = None) -> Plan[AddResult]:
        lane = self.lane
        if lane is not None and self._database_only():
            return ask(lambda: lane.add(pool, addresses))
        return self.ops.add(pool, addresses, progress)

    def import_wallets(self, pool: str, rows: Sequence[Row], rejected: Sequence[Rejected],
                       dry_run: bool = False, progress: ImportProgress | None = None
                       ) -> Plan[ImportReport]:
        lane = self.lane
        if lane is not None and self._database_only():
            return ask(lambda: lane.import_wallets(pool, rows, rejected, dry_run))
        return self.ops.import_wallets(pool, rows, rejected, dry_run, progress)

    def configure(self, pool: str, lease_ttl: float | None = None,
                  cooldown: float | None = None, max_size: int | None = None,
                  max_uses: int | Keep | None = KEEP, min_free: int | None = None,
                  network: str | None = None, reserve: int | None = None,
                  max_waiters: int | None = None, max_wait: float | None = None,
                  stream_cap: int | None = None) -> Plan[bool]:
        self.ops.keys(pool)  # the name is checked first, whichever lane serves
        pairs = self.ops.settings_pairs(lease_ttl, cooldown, max_size, max_uses, min_free,
                                        network, reserve, max_waiters, max_wait, stream_cap)
        lane = self.lane
        if lane is not None and self._database_only():
            return ask(lambda: lane.configure(pool, pairs))
        return self.ops.configure_pairs(pool, pairs)

    def upgrade(self, pool: str, progress: Callable[[int], None] | None = None
                ) -> Plan[bool]:
        return self.ops.upgrade(pool, progress)  # Redis's own keys: no reserve lane

    def reap(self, pool: str) -> Plan[int]:
        lane = self.lane
        if lane is not None and self._database_only():
            return ask(lambda: lane.reap(pool))
        return self.ops.reap(pool)

    def retire(self, pool: str, address: str, tag: str | None = None) -> Program[bool]:
        """The address is taken in any form the pool's network accepts (an EIP-55 or
        lowercase Ethereum address, a bech32 one in either case), as `add` takes it."""
        validation.pool_name(pool)
        try:
            stats = yield self.ops.stats(pool)  # PoolNotFound for a pool that does not exist
        except LayoutOutdated as exc:
            raise exc.during("retire") from None
        call = self.ops.retire(pool, address, tag, network_of(pool, stats))
        if self.lane is None:
            return (yield from as_program(call))
        return (yield from self._healing(pool, call))

    def rebalance(self, pool: str) -> Plan[Rebalanced]:
        lane = self.lane
        if lane is None:
            raise InvalidInput("rebalance needs the database: pass database_url or set "
                               "WALLETPOOL_DATABASE_URL")
        return self._rebalance(lane, pool)

    def _rebalance(self, lane: ReserveLane, pool: str) -> Program[Rebalanced]:
        from .reserve.rebalance import rebalance  # SQLAlchemy loads only when needed

        engine = yield from ask(lambda: lane.ready_engine)  # the schema is checked first
        return (yield from rebalance(self.ops, engine, pool))

    # -- reading ---------------------------------------------------------------------------

    def stats(self, pool: str) -> Plan[PoolStats]:
        call = self.ops.stats(pool)
        lane = self.lane
        if lane is None:
            return call
        return self._either(
            pool, call.then(lambda stats: replace(stats, mode=lane.mode,
                                            fallback_switches=lane.breaker.switches)),
            lambda: ask(lambda: lane.stats(pool)))

    def peek(self, pool: str, count: int = 10) -> Plan[list[str]]:
        return self.ops.peek(pool, count)

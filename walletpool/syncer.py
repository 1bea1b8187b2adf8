"""The write-behind syncer: copies every pool's event stream into the database.

Each pool's stream is read through one consumer group, so several syncers share the
work. A batch is written in one transaction (walletpool.store.apply), then acknowledged,
then the stream is trimmed below the oldest entry some group still needs. Entries a
crashed syncer read but never acknowledged are claimed after `claim_idle` seconds. When
the database or Redis is away the syncer keeps its batch, backs off and tries again: an
entry is acknowledged only after its transaction committed, so nothing is lost."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from redis import exceptions as rx

from .engine.calls import Reply, text
from .engine.wire import SyncRedis, primary_lookup
from .errors import BackendUnavailable, PoolFenced, PoolNotFound, WalletPoolError
from .keys import key, pool_names
from .logs import ContextLogger
from .settings import Settings
from .store.apply import Event, apply_batch, stream_id
from .store.migrations import check, missing_schema

if TYPE_CHECKING:
    from .reserve.rebalance import Rebalanced
    from .store.heal import Healed

log = ContextLogger("walletpool.sync")
GROUP = "walletpool-sync"


@dataclass(frozen=True)
class Lag:
    """What the database does not have yet, for one pool."""

    pool: str
    unsynced: int
    """Stream entries not yet committed by a syncer (an entry holds the changes of one
    call: one for a single allocation, many for a batch)."""
    oldest_age: float
    """Seconds since the oldest of them was appended (0 when there is none)."""



def lag(client: SyncRedis, prefix: str, pool: str) -> Lag:
    """Stream entries of `pool` not yet committed, and the age of the oldest one."""
    stream = key(prefix, pool, "events")
    now_ms = time.time() * 1000
    groups = {text(g["name"]): g for g in stream_groups(client, stream)}
    mine = groups.get(GROUP)
    if mine is None:  # no syncer ever ran: everything is unsynced
        first = client.xrange(stream, count=1)
        age = (now_ms - stream_id(text(first[0][0]))[0]) / 1000 if first else 0.0
        return Lag(pool, int(client.xlen(stream)), max(age, 0.0))
    last = text(mine["last-delivered-id"])
    undelivered: Reply = client.xrange(stream, min=f"({last}", count=100_001)
    unsynced = int(mine["pending"]) + len(undelivered)
    oldest = None
    if int(mine["pending"]):  # None when a syncer acknowledged them meanwhile
        pending_min = client.xpending(stream, GROUP)["min"]
        oldest = text(pending_min) if pending_min else None
    if oldest is None and undelivered:
        oldest = text(undelivered[0][0])
    age = (now_ms - stream_id(oldest)[0]) / 1000 if oldest else 0.0
    return Lag(pool, unsynced, max(age, 0.0))


def stream_groups(client: SyncRedis, stream: str) -> list[dict[str, Any]]:
    """The consumer groups reading a pool's stream (none when it has no stream yet)."""
    try:
        return [{text(k): v for k, v in g.items()} for g in client.xinfo_groups(stream)]
    except rx.ResponseError:  # no such stream yet
        return []


REDIS_RETRY_MAX = 1.0
"""Seconds between the syncer's attempts while Redis is unreachable, at most."""


class Syncer:
    """Copy events from Redis to the database until stopped.

    `Syncer(redis_client, engine).run()` runs in the foreground; `stop()` (or SIGTERM in
    `walletpool sync`) ends it after the batch in hand is committed and acknowledged.
    """

    def __init__(self, client: SyncRedis, engine: sa.Engine, *, prefix: str = "wp",
                 consumer: str | None = None, batch_size: int = 1000, block: float = 1.0,
                 claim_idle: float = 30.0, report_every: float = 10.0,
                 rebalance_every: float | None = 30.0, heal_every: float = 0.25,
                 settings: Settings | None = None) -> None:
        """`rebalance_every`: seconds between rebalances of every pool's reserve
        (walletpool.reserve.rebalance), the first right at start; None: never.
        `heal_every`: seconds between checks that every pool is armed and runs on the
        Redis process the database vouched for; a fenced pool is healed then
        (walletpool.store.heal). `settings`: what the syncer's own writes to Redis (a
        rebalance's moves, a heal) honour, replicas and fsync above all; default: the
        environment's (Settings.from_env)."""
        self.redis = client
        self.engine = engine
        self.prefix = prefix
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}"
        self.batch_size = batch_size
        self.block = block
        self.claim_idle_ms = int(claim_idle * 1000)
        self.report_every = report_every
        self.committed = 0
        self.errors = 0
        self._stopping = threading.Event()
        self._groups: set[str] = set()
        self._claim_at = 0.0
        self._own_pending_read: set[str] = set()
        self.rebalance_every = rebalance_every
        self._rebalance_at = 0.0
        self.heal_every = heal_every
        self.abandoned = False
        """stop() came while a batch waited for the database: it was left in the stream."""
        self._heal_at = 0.0
        self._client: Any = None
        self.settings = settings or Settings.from_env(prefix=prefix)

    def stop(self) -> None:
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    # -- one round ----------------------------------------------------------------------

    def run_once(self) -> int:
        """Read and commit one batch per pool that has events; returns events committed."""
        done = 0
        if time.monotonic() >= self._heal_at:
            self._heal_at = time.monotonic() + self.heal_every
            self.heal()
        claim = time.monotonic() >= self._claim_at
        if claim:
            self._claim_at = time.monotonic() + self.claim_idle_ms / 2000
        read_from = self._primary()
        for pool in pool_names(self.redis, self.prefix):
            if self.stopping:
                break
            stream = key(self.prefix, pool, "events")
            if not self._ensure_group(pool, stream):
                continue
            entries = self._read(stream, claim)
            if entries:
                events = [event for entry_id, fields in entries
                          for event in Event.of_entry(pool, entry_id, fields)]
                if self._primary() != read_from:
                    self._lost_primary(read_from)
                    break
                if not self._commit(events):
                    break
                self.redis.xack(stream, GROUP, *[entry_id for entry_id, _ in entries])
                self._trim(stream)
                done += len(events)
        self.committed += done
        return done

    def _primary(self) -> object:
        """On a redis+sentinel:// URL, the primary Sentinel names now (asking also makes
        redis-py drop idle connections to one it no longer names); None otherwise."""
        ask = primary_lookup(self.redis)
        return ask() if ask is not None else None

    def _lost_primary(self, read_from: object) -> None:
        """The batch in hand was read from a server Sentinel no longer names primary (a
        demoted one that still believes it leads): it is not committed, so that nothing
        such a server acknowledged reaches the database as if it were true. The next
        round reads the new primary, its own pending entries first."""
        log.warning("the primary changed during the read: batch left uncommitted",
                    extra={"read_from": str(read_from), "primary": str(self._primary())})
        self._own_pending_read.clear()
        self._groups.clear()

    def _ensure_group(self, pool: str, stream: str) -> bool:
        """Attach to the pool's stream (its consumer group, made at the first entry); if
        the stream was capped before any syncer attached, first record every wallet as
        it stands (Operations.resync), so that the database misses nothing of the history
        the cap dropped. False when that could not be done now (the pool is fenced: the
        heal comes first); the pool is then left for the next round."""
        if stream in self._groups:
            return True
        try:
            self.redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
        except rx.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        client = self._pool_client()
        try:  # once per process and stream: a resync cut short starts again here
            client._do(client._ops.resync(pool))
        except (PoolFenced, PoolNotFound) as exc:
            log.warning("pool not resynced yet, trying next round",
                        extra={"pool": pool, "error": str(exc)})
            return False
        self._groups.add(stream)
        return True

    def _read(self, stream: str, claim: bool) -> list[tuple[Any, Any]]:
        if stream not in self._own_pending_read:
            # entries this consumer name read before a restart and never acknowledged
            mine: Reply = self.redis.xreadgroup(GROUP, self.consumer, {stream: "0"},
                                         count=self.batch_size)
            entries = mine[0][1] if mine else []
            if entries:
                return [e for e in entries if e[1]]
            self._own_pending_read.add(stream)
        if claim:
            claimed: Reply = self.redis.xautoclaim(stream, GROUP, self.consumer, self.claim_idle_ms,
                                            start_id="0-0", count=self.batch_size)
            entries = [e for e in claimed[1] if e[1]]
            if entries:
                log.warning("claimed entries of a stalled syncer",
                            extra={"stream": stream, "entries": len(entries)})
                return entries
        fresh: Reply = self.redis.xreadgroup(GROUP, self.consumer, {stream: ">"},
                                      count=self.batch_size)
        return fresh[0][1] if fresh else []

    def _commit(self, events: list[Event]) -> bool:
        """Write one batch, retrying with backoff while the database is away. False when
        stop() came first: the batch stays unacknowledged in the stream, nothing lost."""
        def write() -> None:
            with self.engine.begin() as conn:
                apply_batch(conn, events)

        try:
            done = self._while_database_away(write, "database unavailable, retrying the batch",
                                             events=len(events))
        except sa.exc.OperationalError as exc:  # a missing schema: no retry mends that
            raise WalletPoolError(
                f"the database has no walletpool schema ({str(exc.orig).strip()}): "
                "run `walletpool db upgrade`") from exc
        if not done:
            self.abandoned = True
        return done

    def _while_database_away(self, action: Callable[[], object], waiting: str,
                             **extra: object) -> bool:
        """Run `action`, again with backoff (0.1 s doubling to 5 s) while the database
        cannot be reached, logging `waiting`; False when stop() came first. A missing
        schema is raised at once (OperationalError): no wait mends it."""
        delay = 0.1
        while True:
            try:
                action()
                return True
            except sa.exc.OperationalError as exc:
                if missing_schema(str(exc.orig)):
                    raise
                log.warning(waiting, extra={**extra, "retry_in": delay,
                                            "error": str(exc.orig).strip()[:200]})
            if self._stopping.wait(delay):
                return False
            delay = min(delay * 2, 5.0)

    def _trim(self, stream: str) -> None:
        """Drop entries below the oldest one that any group still needs."""
        floor: tuple[int, int] | None = None
        for group in stream_groups(self.redis, stream):
            oldest = None
            if int(group["pending"]):  # another syncer may acknowledge them meanwhile
                oldest = self.redis.xpending(stream, text(group["name"]))["min"]
            needed = stream_id(text(oldest if oldest else group["last-delivered-id"]))
            floor = needed if floor is None else min(floor, needed)
        if floor is not None:
            self.redis.xtrim(stream, minid=f"{floor[0]}-{floor[1]}", approximate=False)

    # -- the loop -----------------------------------------------------------------------

    def run(self) -> int:
        """Sync until stop(); returns the number of events committed. It exits on
        nothing else: an outage of Redis or of the database, at start too, is waited
        out with backoff, and any other failure of a round is logged and the round tried
        again (a database without walletpool's schema aside: no retry mends that)."""
        if not self._database_ready():
            return self.committed
        log.info("syncer started", extra={"consumer": self.consumer, "group": GROUP})
        next_report = time.monotonic() + self.report_every
        delay = 0.1
        while not self.stopping:
            try:
                done = self.run_once()
                delay = 0.1
            except (rx.ConnectionError, rx.TimeoutError, rx.BusyLoadingError,
                    BackendUnavailable) as exc:  # the last from a program (heal, rebalance)
                log.warning("redis unavailable, retrying", extra={"retry_in": delay,
                                                                  "error": str(exc)})
                self._groups.clear()  # a Redis that lost its data lost the groups too
                self._stopping.wait(delay)
                # at most a second: a Redis back from a restart is healed (and its
                # pools unfenced) within about a second of its return
                delay = min(delay * 2, REDIS_RETRY_MAX)
                continue
            except Exception:
                # Nothing unacknowledged is lost: the entries stay pending and are read
                # again. Keep going rather than leave the pool unsynced.
                log.exception("sync round failed, retrying", extra={"retry_in": delay})
                self.errors += 1
                self._own_pending_read.clear()
                self._groups.clear()  # e.g. NOGROUP after Redis lost its data
                self._stopping.wait(delay)
                delay = min(delay * 2, 5.0)
                continue
            if time.monotonic() >= next_report:
                next_report = time.monotonic() + self.report_every
                self._aside("report", self.report)
            if self.rebalance_every is not None and time.monotonic() >= self._rebalance_at:
                self._rebalance_at = time.monotonic() + self.rebalance_every
                self._aside("rebalance", self.rebalance)
            if not done:
                self._stopping.wait(self.block)
        log.info("syncer stopped", extra={"consumer": self.consumer,
                                          "committed": self.committed})
        return self.committed

    @staticmethod
    def _aside(what: str, job: Callable[[], object]) -> None:
        """A job beside the sync (the lag report, the rebalance): its failure, a Redis
        time-out as much as a bug, is logged and the job tried at its next turn; it
        never stops the syncer, and the sync's own backoff is not its business."""
        try:
            job()
        except Exception as exc:
            log.warning("%s failed, trying again at its next turn: %s", what, exc,
                        exc_info=not isinstance(exc, (rx.RedisError, WalletPoolError,
                                                      sa.exc.OperationalError)))

    def _database_ready(self) -> bool:
        """Wait, with backoff, until the database answers and has this code's schema;
        False when stop() came first. A schema that is missing or of another version
        raises: no wait mends it."""
        return self._while_database_away(lambda: check(self.engine),
                                         "database unavailable at start, waiting for it")

    def _pool_client(self) -> Any:
        """A WalletPool on the syncer's Redis, to run programs (heal, rebalance) with."""
        if self._client is None:
            from .client import WalletPool

            self._client = WalletPool(self.redis, settings=self.settings)
        return self._client

    def heal(self) -> list[Healed]:
        """Arm every pool (from now on its scripts fence it when Redis turns out to have
        lost writes), and heal each one that is fenced. Returns the pools healed."""
        from .store.heal import heal

        client = self._pool_client()
        healed = []
        for name in pool_names(self.redis, self.prefix):
            try:
                done = client._do(heal(client._ops, self.engine, name, arm=True))
            except PoolNotFound:  # deleted meanwhile
                continue
            if done.fenced:
                healed.append(done)
        return healed

    def rebalance(self) -> list[Rebalanced]:
        """Rebalance every pool's reserve; a failure is logged and tried next time.
        Returns what was done, pool by pool (those that failed left out)."""
        from .reserve.rebalance import rebalance

        pool = self._pool_client()
        done: list[Rebalanced] = []
        for name in pool_names(self.redis, self.prefix):
            try:
                done.append(pool._do(rebalance(pool._ops, self.engine, name)))
            except BackendUnavailable as exc:  # an outage, not a bug: no traceback
                log.warning("rebalance skipped, a backend is unavailable", extra={
                    "pool": name, "error": str(exc).strip().splitlines()[0][:200]})
            except Exception:
                log.exception("rebalance failed, retrying later", extra={"pool": name})
        return done

    def report(self) -> list[Lag]:
        lags = [lag(self.redis, self.prefix, p) for p in pool_names(self.redis, self.prefix)]
        for item in lags:
            log.info("sync lag", extra={"pool": item.pool, "unsynced": item.unsynced,
                                        "oldest_age": round(item.oldest_age, 3),
                                        "committed": self.committed})
        return lags


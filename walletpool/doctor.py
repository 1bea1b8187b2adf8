"""`walletpool doctor`: checks of a deployment, each a line with ok / WARN / FAIL.

Redis: reachable, version 6.2 or newer, AOF on (a restart keeps the pools),
maxmemory-policy noeviction (an evicted key would drop wallets). Replication: a primary
with replicas refuses writes without them (min-replicas-to-write >= 1: a primary that
Sentinel demoted while it was paused or cut off, and that still believes it leads,
then sells nothing); `replicas` >= 1 without `fsync` leaves a primary that restarts
from an AOF cut short (a power loss) able to lose acknowledged leases; `fsync` wants
appendfsync always (with everysec each allocation waits for the next second's fsync).
Per pool: its key
layout (one in layout 1 needs `walletpool upgrade`); its fence (a pool
that refuses changes until it is healed: FAIL, naming the cure); its stream: capped at
stream_cap while no syncer has attached (ok for Redis alone, a warning when a database
is configured), else the entries not yet committed to the database and the age of the
oldest (the syncer is down or behind). The database, when given: reachable, schema
current."""

from __future__ import annotations

from dataclasses import dataclass

from .engine.calls import text
from .engine.wire import SyncRedis
from .errors import PoolFenced, WalletPoolError
from .keys import LAYOUT, key, pool_names
from .syncer import lag, stream_groups
from .validation import DEFAULT_STREAM_CAP

LAG_WARN_SECONDS = 10.0


@dataclass(frozen=True)
class Finding:
    level: str  # "ok", "WARN" or "FAIL"
    subject: str
    detail: str

    def __str__(self) -> str:
        return f"{self.level:4}  {self.subject}: {self.detail}"



def check_replication(client: SyncRedis, replicas: int, fsync: bool) -> list[Finding]:
    """The guard against a demoted primary that keeps selling, and the durability the
    client's settings give (docs/guide/failover.md)."""
    info = client.info("replication")
    found = []
    attached = int(info.get("connected_slaves", 0))
    if text(info.get("role", "master")) == "master" and attached:
        guard = int(text(client.config_get("min-replicas-to-write").get(
            "min-replicas-to-write", 0)))
        found.append(Finding(
            "ok" if guard >= 1 else "WARN", "replication",
            f"{attached} replicas attached, min-replicas-to-write {guard}" + (
                "" if guard >= 1 else ": a primary that Sentinel demotes while it is paused "
                "or cut off goes on taking writes until it learns of it; set "
                "min-replicas-to-write 1 and min-replicas-max-lag 2")))
    if replicas >= 1 and not fsync:
        found.append(Finding(
            "WARN", "durability",
            f"replicas={replicas} without fsync: a primary that crashes and restarts from "
            "an AOF cut short (a power loss) before its failover can lose leases its "
            "replicas acknowledged; set WALLETPOOL_FSYNC=true (WAITAOF: Redis 7.2+, Valkey)"))
    if fsync:
        policy = text(client.config_get("appendfsync").get("appendfsync", "?"))
        if policy != "always":
            found.append(Finding(
                "WARN", "durability",
                f"fsync=true with appendfsync {policy}: each allocation waits for the "
                "server's next fsync (up to a second with everysec) and times out as "
                "NotReplicated when that is later than replica_timeout; set appendfsync "
                "always on the primary and its replicas"))
    return found


def check_redis(client: SyncRedis, prefix: str, replicas: int = 0,
                fsync: bool = False, database: bool = False) -> list[Finding]:
    """`database`: a database is configured, so every pool wants a syncer attached."""
    info = client.info()
    found = []
    version = text(info.get("redis_version", "0"))
    major_minor = tuple(int(p) for p in version.split(".")[:2])
    found.append(Finding("ok" if major_minor >= (6, 2) else "FAIL", "redis version",
                         f"{version}" + ("" if major_minor >= (6, 2) else
                                         " (walletpool's scripts need 6.2 or newer)")))
    aof = int(info.get("aof_enabled", 0))
    found.append(Finding("ok" if aof else "WARN", "persistence",
                         "AOF on" if aof else "AOF off: a restart loses every pool; set "
                         "appendonly yes (appendfsync everysec)"))
    policy = text(client.config_get("maxmemory-policy").get("maxmemory-policy", "?"))
    found.append(Finding("ok" if policy == "noeviction" else "WARN", "maxmemory-policy",
                         policy if policy == "noeviction" else
                         f"{policy}: Redis may evict pool keys under memory pressure; "
                         "set noeviction"))
    found += check_replication(client, replicas, fsync)
    for pool in pool_names(client, prefix):
        layout = int(text(client.hget(key(prefix, pool, "conf"), "layout") or 1))
        if layout != LAYOUT:
            found.append(Finding("WARN", f"pool {pool} layout",
                                 f"layout {layout}, this walletpool writes layout {LAYOUT}: "
                                 "every operation refuses it until `walletpool upgrade "
                                 f"{pool}`"))
        found += check_pool(client, prefix, pool, text(info.get("run_id", "")), database)
    return found


def check_pool(client: SyncRedis, prefix: str, pool: str, run_id: str,
               database: bool) -> list[Finding]:
    """A pool's fence (`run_id`: the server's), and its stream: synced by a syncer, or
    capped while none has attached (includes/emit.lua)."""
    found = []
    armed, cap = (text(v) if v is not None else None for v in client.hmget(
        key(prefix, pool, "conf"), ["run_id", "stream_cap"]))
    if armed is not None and armed != run_id:  # stats.lua's rule: 'fenced', or at next call
        found.append(Finding("FAIL", f"pool {pool} fence", PoolFenced.advice(pool)))
    stream = key(prefix, pool, "events")
    length = int(client.xlen(stream))
    if not stream_groups(client, stream):
        limit = int(cap) if cap else DEFAULT_STREAM_CAP
        if database:
            found.append(Finding("WARN", f"pool {pool} sync",
                                 "no syncer has attached: nothing reaches the database; run "
                                 "`walletpool sync`"))
        else:
            found.append(Finding("ok", f"pool {pool} stream",
                                 f"{length} entries, capped at {limit} while no syncer has "
                                 "attached (Redis only: no database keeps the pool)"))
        return found
    behind = lag(client, prefix, pool)
    late = behind.oldest_age > LAG_WARN_SECONDS
    found.append(Finding("WARN" if late else "ok", f"pool {pool} sync",
                         f"{behind.unsynced} stream entries not yet in the database, oldest "
                         f"{behind.oldest_age:.1f} s" + (
                             " (is `walletpool sync` running? the stream is not capped once "
                             "a syncer attached: Redis memory grows meanwhile)"
                             if late else "")))
    return found


def check_database(url: str) -> list[Finding]:
    import sqlalchemy as sa

    from .store.engine import create_engine
    from .store.migrations import LATEST, current_version

    try:
        engine = create_engine(url)
    except WalletPoolError as exc:  # no such file: the schema is missing
        return [Finding("FAIL", "database", str(exc))]
    try:
        with engine.connect() as conn:
            version = current_version(conn)
    except sa.exc.SQLAlchemyError as exc:
        cause = getattr(exc, "orig", None) or exc
        reason = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
        where = engine.url.render_as_string(hide_password=True)
        return [Finding("FAIL", "database", f"{where} unreachable: {reason}")]
    finally:
        engine.dispose()
    if version == LATEST:
        return [Finding("ok", "database", f"schema at version {version}")]
    return [Finding("WARN", "database", f"schema at version {version}, this walletpool needs "
                    f"{LATEST}: run `walletpool db upgrade`")]

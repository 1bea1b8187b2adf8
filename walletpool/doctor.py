"""`walletpool doctor`: checks of a deployment, each a line with ok / WARN / FAIL.

Redis: reachable, version 6.2 or newer, AOF on (a restart keeps the pools),
maxmemory-policy noeviction (an evicted key would drop wallets). Per pool: its key
layout (one written by walletpool 0.1 needs `walletpool upgrade`), stream entries not
yet committed to the database and the age of the oldest (the syncer is down or
behind). The database, when given: reachable, schema current."""

from __future__ import annotations

from dataclasses import dataclass

from .engine.calls import text
from .engine.wire import SyncRedis
from .keys import LAYOUT, key, pool_names
from .syncer import lag

LAG_WARN_SECONDS = 10.0


@dataclass(frozen=True)
class Finding:
    level: str  # "ok", "WARN" or "FAIL"
    subject: str
    detail: str

    def __str__(self) -> str:
        return f"{self.level:4}  {self.subject}: {self.detail}"



def check_redis(client: SyncRedis, prefix: str) -> list[Finding]:
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
    for pool in pool_names(client, prefix):
        layout = int(text(client.hget(key(prefix, pool, "conf"), "layout") or 1))
        if layout != LAYOUT:
            found.append(Finding("WARN", f"pool {pool} layout",
                                 f"layout {layout} (written by walletpool 0.1): every "
                                 f"operation refuses it until `walletpool upgrade {pool}`"))
        behind = lag(client, prefix, pool)
        late = behind.oldest_age > LAG_WARN_SECONDS
        found.append(Finding("WARN" if late else "ok", f"pool {pool} sync",
                             f"{behind.unsynced} stream entries not yet in the database, oldest "
                             f"{behind.oldest_age:.1f} s" + (" (is `walletpool sync` running?)"
                                                             if late else "")))
    return found


def check_database(url: str) -> list[Finding]:
    import sqlalchemy as sa

    from .store.engine import create_engine
    from .store.migrations import LATEST, current_version

    engine = create_engine(url)
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

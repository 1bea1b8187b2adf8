"""Rebuilding a pool's Redis keys from the database, and comparing the two.

`restore` writes the pool's settings key last: until it exists every allocation is
refused (PoolNotFound), so a half-restored pool never hands out a wallet. The fencing
counter is set RESTORE_TOKEN_GAP above the highest token the database has seen, since
Redis may have issued tokens in its last unsynced moments that the database never
learned of; fencing tokens must only grow (docs/design.md, invariant 4)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from ..chains import default_network, family_of
from ..chains.wallets import split
from ..engine.wire import SyncRedis
from ..errors import PoolNotFound, WalletPoolError
from ..keys import KEY_ORDER, LAYOUT, OWNER_MARK, family_key, pack_lease, pool_keys, v1_keys
from ..verify import pool_state
from . import schema
from .migrations import check

RESTORE_TOKEN_GAP = 1_000_000
CHUNK = 5_000


class PoolExists(WalletPoolError):
    """Redis still holds the pool; restore would overwrite it (force=True, `--force`)."""


@dataclass(frozen=True)
class Restored:
    pool: str
    free: int
    leased: int
    cooling: int
    retired: int
    next_token: int
    reserve: int = 0
    """Wallets the database holds in its reserve (Redis keeps their tombstones)."""


@dataclass(frozen=True)
class Difference:
    pool: str
    address: str
    redis: str
    database: str

    def __str__(self) -> str:
        return f"{self.pool} {self.address}: redis {self.redis} / database {self.database}"



def stored_pools(engine: sa.Engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.execute(sa.select(schema.pools.c.name)).scalars())


def restore(client: SyncRedis, engine: sa.Engine, prefix: str, pool: str, *,
            force: bool = False) -> Restored:
    check(engine)
    keys = dict(zip(KEY_ORDER, pool_keys(prefix, pool), strict=True))
    with engine.connect() as conn:
        settings = conn.execute(sa.select(schema.pools).where(
            schema.pools.c.name == pool)).mappings().first()
        w = schema.wallets
        rows = conn.execute(sa.select(w).where(w.c.pool == pool)
                            .order_by(w.c.event_ms, w.c.event_seq, w.c.event_part)).mappings().all()
    if settings is None:
        raise PoolNotFound(f"pool {pool} is not in the database: nothing to restore")
    present = [k for k in keys.values() if client.exists(k)]
    if present and not force:
        raise PoolExists(f"pool {pool} still exists in Redis ({len(present)} keys); "
                         "restore would overwrite it: pass force=True (`walletpool restore "
                         "--force`) to replace it")
    client.delete(*keys.values(), *v1_keys(prefix, pool))

    known: list[Any] = []
    free: list[str] = []
    leases: list[Any] = []
    expiry: dict[str, int] = {}
    cooling: dict[str, int] = {}
    uses: list[Any] = []
    counts = {"free": 0, "leased": 0, "cooling": 0, "retired": 0, "reserve": 0}
    reserved: list[str] = []
    for row in rows:
        address, state = row["address"], row["state"]
        if schema.database_owned(state, row["token"]):  # Redis keeps only a tombstone
            state = "reserve"
            reserved.append(address)
        counts[state] += 1
        known += [address, "retired" if state == "retired" else "1"]
        if row["uses"]:
            uses += [address, row["uses"]]
        if state == "free":
            free.append(address)  # rows come in the order they entered the free queue
        elif state == "cooling":
            cooling[address] = row["cooling_since"]
        elif state == "leased":
            leases += [address, pack_lease(row["owner"], row["token"], row["expires_at"],
                                           row["leased_at"], row["correlation_id"],
                                           row["user_id"]),
                       OWNER_MARK + row["owner"], address]
            expiry[address] = row["expires_at"]

    next_token = max(int(settings["max_token"]), int(client.get(keys["seq"]) or 0)) \
        + RESTORE_TOKEN_GAP
    for name, command, items in (("known", "HSET", known), ("leases", "HSET", leases),
                                 ("uses", "HSET", uses), ("free", "RPUSH", free)):
        step = CHUNK * (2 if command == "HSET" else 1)
        for i in range(0, len(items), step):
            client.execute_command(command, keys[name], *items[i : i + step])  # type: ignore[no-untyped-call]
    for i in range(0, len(reserved), CHUNK):
        client.sadd(keys["reserve"], *reserved[i : i + CHUNK])
    for name, scores in (("expiry", expiry), ("cooling", cooling)):
        members = list(scores.items())
        for i in range(0, len(members), CHUNK):
            client.zadd(keys[name], dict(members[i : i + CHUNK]))
    client.set(keys["seq"], next_token)
    network = settings["network"] or default_network(pool)
    family = family_key(prefix, family_of(pool, network))
    wallets = list(dict.fromkeys(split(row["address"])[0] for row in rows))
    for i in range(0, len(wallets), CHUNK):  # the family's claims, lost with the rest
        client.execute_command(  # type: ignore[no-untyped-call]
            "HSET", family, *(x for a in wallets[i : i + CHUNK] for x in (a, pool)))
    client.hset(keys["conf"], mapping={  # last: the pool opens for business here
        "lease_ttl_ms": settings["lease_ttl_ms"], "cooldown_ms": settings["cooldown_ms"],
        "max_size": settings["max_size"], "max_uses": settings["max_uses"],
        "min_free": settings["min_free"], "network": network, "layout": LAYOUT,
        **{name: settings[name] for name in ("reserve", "max_waiters", "max_wait_ms")
           if settings[name] is not None}})
    return Restored(pool, counts["free"], counts["leased"], counts["cooling"],
                    counts["retired"], next_token + 1, counts["reserve"])


def reconcile(client: SyncRedis, engine: sa.Engine, prefix: str, pool: str) -> list[Difference]:
    """Every wallet whose state, owner, token or deadline differs between Redis and
    the database (none once the syncer has caught up). A wallet the database holds in
    its reserve is 'reserve' on both sides when Redis has its tombstone."""
    check(engine)
    redis_side = pool_state(client, prefix, pool)
    in_redis = dict(redis_side.state)
    for address, lease in redis_side.lease.items():
        in_redis[address] += f" owner={lease['o']} token={lease['t']} expires={lease['e']}"
    in_db: dict[str, str] = {}
    w = schema.wallets
    with engine.connect() as conn:
        for row in conn.execute(sa.select(w.c.address, w.c.state, w.c.owner, w.c.token,
                                          w.c.expires_at).where(w.c.pool == pool)):
            stored = row.state
            if schema.database_owned(row.state, row.token):
                stored = "reserve"
            elif row.state == "leased":
                stored += f" owner={row.owner} token={row.token} expires={row.expires_at}"
            in_db[row.address] = stored
    return [Difference(pool, a, in_redis.get(a, "absent"), in_db.get(a, "absent"))
            for a in sorted(set(in_redis) | set(in_db))
            if in_redis.get(a) != in_db.get(a)]

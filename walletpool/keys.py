"""Redis key names of a pool, and finding the pools under a prefix. Every key carries
the pool as a hash tag, so one pool lives on one Cluster slot and every script touches
one slot."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .engine.wire import SyncRedis

# The order every script receives its KEYS in; lua/includes/keys.lua names them the same way.
KEY_ORDER = ("conf", "free", "known", "leases", "expiry", "cooling", "seq", "events", "uses",
             "reserve", "waiters", "tickets")
# The layout version a pool's conf records (lua/includes/layout.lua); layout 1
# (walletpool 0.1.0) wrote none.
LAYOUT = 2
# Keys of layout 1 (walletpool 0.1.0) that this one replaced (the state hash, the JSON leases
# and their owner index); only upgrade.lua reads them, after KEY_ORDER's.
V1_KEYS = ("state", "lease", "owner")


def pool_keys(prefix: str, pool: str) -> tuple[str, ...]:
    """All keys of `pool`, in KEY_ORDER. `pool` must be validated first."""
    return tuple(f"{prefix}:{{{pool}}}:{name}" for name in KEY_ORDER)


def v1_keys(prefix: str, pool: str) -> tuple[str, ...]:
    """The keys only a pool in layout 1 has, in V1_KEYS order."""
    return tuple(f"{prefix}:{{{pool}}}:{name}" for name in V1_KEYS)


def key(prefix: str, pool: str, name: str) -> str:
    return pool_keys(prefix, pool)[KEY_ORDER.index(name)]


def conf_pattern(prefix: str) -> str:
    """SCAN pattern matching the settings key of every pool under `prefix`."""
    return f"{prefix}:{{*}}:conf"


def pool_from_conf_key(prefix: str, conf_key: str) -> str:
    return conf_key[len(prefix) + 2 : -len("}:conf")]


def pool_names(client: SyncRedis, prefix: str) -> list[str]:
    """Every pool under `prefix` on a synchronous client (SCAN for settings keys)."""
    found = set()
    for conf_key in client.scan_iter(match=conf_pattern(prefix), count=1000):
        raw = conf_key.decode() if isinstance(conf_key, bytes) else conf_key
        found.add(pool_from_conf_key(prefix, raw))
    return sorted(found)


def family_key(prefix: str, family: str) -> str:
    """The hash of a chain family (address -> pool). Its hash tag cannot match a pool's:
    pool names have no ':'."""
    return f"{prefix}:{{family:{family}}}:addresses"


# A lease in the leases hash (lua/includes/lease_store.lua writes the same form):
# address -> 'owner token expires_at_ms leased_at_ms correlation_id user_id', the last two
# possibly empty, and OWNER_MARK + owner -> address, its owner's index.
OWNER_MARK = ">"
LEASE_FIELDS = ("o", "t", "e", "l", "c", "u")


def pack_lease(owner: str, token: int, expires_ms: int, leased_ms: int,
               correlation_id: str | None, user_id: str | None) -> str:
    return f"{owner} {token} {expires_ms} {leased_ms} {correlation_id or ''} {user_id or ''}"


def unpack_lease(raw: str) -> dict[str, str]:
    """A packed lease by its one-letter names (o, t, e, l, c, u), every value a str."""
    values = raw.split(" ")
    if len(values) != len(LEASE_FIELDS):
        raise ValueError(f"a lease record is malformed: {raw!r}")
    return dict(zip(LEASE_FIELDS, values, strict=True))

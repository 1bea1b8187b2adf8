"""Redis key names of a pool, and finding the pools under a prefix. Every key carries
the pool as a hash tag, so one pool lives on one Cluster slot and every script touches
one slot."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .engine.wire import SyncRedis

# The order every script receives its KEYS in; lua/includes/keys.lua names them the same way.
KEY_ORDER = ("conf", "free", "state", "lease", "owner", "expiry", "cooling", "seq", "events",
             "uses", "reserve")


def pool_keys(prefix: str, pool: str) -> tuple[str, ...]:
    """All keys of `pool`, in KEY_ORDER. `pool` must be validated first."""
    return tuple(f"{prefix}:{{{pool}}}:{name}" for name in KEY_ORDER)


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

"""The designs walletpool is compared with, behind one small interface, so that the
same loops time them and the same contention run checks them:

- walletpool itself;
- the naive client-side design it replaces (tests/naive.py: RPOP, check, mark, each its
  own round trip);
- redis-allocator, the closest Python peer (Lua-scripted; `malloc_key`/`free_keys`);
- PostgreSQL alone (`FOR UPDATE SKIP LOCKED` over a partial index), see postgres.py.

`allocate` returns an opaque handle and the address; `release` returns False when the
design refused the release (walletpool's fencing does; the others never refuse)."""

from __future__ import annotations

from typing import Any, Protocol

import redis

from walletpool import LeaseLost, PoolExhausted, WalletPool


class Design(Protocol):
    def allocate(self, owner: str, ttl: float) -> tuple[Any, str] | None: ...
    def release(self, handle: Any) -> bool: ...
    def allocate_many(self, owners: list[str], ttl: float) -> list[tuple[Any, str]]: ...
    def release_many(self, handles: list[Any]) -> None: ...
    def reap(self) -> None: ...
    def close(self) -> None: ...


class WalletpoolDesign:
    def __init__(self, url: str, pool: str) -> None:
        self.client = WalletPool.from_url(url)
        self.pool = pool

    def setup(self, addresses: list[str]) -> None:
        self.client.configure(self.pool, lease_ttl=600, cooldown=0, max_size=len(addresses),
                              min_free=0)
        self.client.add(self.pool, addresses)

    def allocate(self, owner: str, ttl: float) -> tuple[Any, str] | None:
        try:
            lease = self.client.allocate(self.pool, owner, ttl=ttl)
        except PoolExhausted:
            return None
        return lease, lease.address

    def release(self, handle: Any) -> bool:
        try:
            self.client.release(handle)
        except LeaseLost:
            return False
        return True

    def allocate_many(self, owners: list[str], ttl: float) -> list[tuple[Any, str]]:
        return [(lease, lease.address)
                for lease in self.client.allocate_many(self.pool, owners, ttl=ttl)]

    def release_many(self, handles: list[Any]) -> None:
        self.client.release_many(handles)

    def reap(self) -> None:
        self.client.reap(self.pool)

    def close(self) -> None:
        self.client.close()


class NaiveDesign:
    def __init__(self, url: str, pool: str) -> None:
        from tests.naive import NaivePool

        self.client = NaivePool(url, pool)

    def setup(self, addresses: list[str]) -> None:
        self.client.redis.delete(self.client.free, self.client.marks)
        self.client.add(addresses)  # LPUSH + RPOP: first added, first out

    def allocate(self, owner: str, ttl: float) -> tuple[Any, str] | None:
        try:
            lease = self.client.allocate(owner, ttl)
        except PoolExhausted:
            return None
        return lease, lease.address

    def release(self, handle: Any) -> bool:
        self.client.release(handle)
        return True

    def allocate_many(self, owners: list[str], ttl: float) -> list[tuple[Any, str]]:
        raise NotImplementedError("the naive design has no batch form")

    def release_many(self, handles: list[Any]) -> None:
        raise NotImplementedError("the naive design has no batch form")

    def reap(self) -> None:
        self.client.reap()

    def close(self) -> None:
        self.client.close()


class AllocatorDesign:
    """redis-allocator in its exclusive mode (`shared=False`): a lock key per allocated
    resource with a TTL in whole seconds, and `gc` to return expired ones. No batch
    allocation exists, so its batch form pipelines the malloc script."""

    def __init__(self, url: str, pool: str) -> None:
        from redis_allocator import RedisAllocator

        self.redis = redis.Redis.from_url(url, decode_responses=True)
        self.allocator = RedisAllocator(self.redis, "bench", pool, shared=False)

    def setup(self, addresses: list[str]) -> None:
        self.allocator.clear()
        self.allocator.extend(addresses)

    def allocate(self, owner: str, ttl: float) -> tuple[Any, str] | None:
        key = self.allocator.malloc_key(timeout=max(1, round(ttl)))
        return None if key is None else (key, key)

    def release(self, handle: Any) -> bool:
        self.allocator.free_keys(handle)
        return True

    def allocate_many(self, owners: list[str], ttl: float) -> list[tuple[Any, str]]:
        pipe = self.redis.pipeline(transaction=False)
        script = self.allocator._malloc_script  # the script malloc_key runs
        for _ in owners:
            script(args=[max(1, round(ttl)), "", 3600], client=pipe)
        return [(key, key) for key in pipe.execute() if key is not None]

    def release_many(self, handles: list[Any]) -> None:
        self.allocator.free_keys(*handles)

    def reap(self) -> None:
        self.allocator.gc(count=1000)

    def close(self) -> None:
        self.redis.close()


def allocator_version() -> str | None:
    try:
        from importlib.metadata import version

        return version("redis-allocator")
    except Exception:
        return None


def make(kind: str, url: str, pool: str) -> Any:
    """A design by name: walletpool, naive, redis-allocator, or postgres (url: a DSN)."""
    if kind == "postgres":
        from .postgres import PostgresDesign

        return PostgresDesign(url, pool)
    return {"walletpool": WalletpoolDesign, "naive": NaiveDesign,
            "redis-allocator": AllocatorDesign}[kind](url, pool)

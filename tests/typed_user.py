"""A user's module, type-checked with the suite (`mypy --strict`): the public API as a
service sees it, with no Any leaking in and every keyword checked. Its calls are the
README's; test_typing.py runs it against a real Redis and shows mypy refusing typos."""

from __future__ import annotations

import asyncio

from walletpool import (
    AsyncWalletPool,
    Lease,
    PoolExhausted,
    PoolStats,
    Priority,
    SettingsKeywords,
    WalletPool,
)


def serve_one_order(url: str, order_id: str) -> str:
    settings: SettingsKeywords = {"max_connections": 8, "lease_ttl": 600.0}
    with WalletPool.from_url(url, prefix="typed", **settings) as pool:
        pool.configure("COIN", lease_ttl=600)  # a plain pool, made on purpose
        pool.add("COIN", ["wallet-1", "wallet-2"])
        lease: Lease = pool.allocate("COIN", order_id, correlation_id=f"req-{order_id}")
        stats: PoolStats = pool.stats("COIN")
        assert stats.leased == 1
        pool.release(lease)
        return lease.address


async def serve_orders_concurrently(url: str, orders: list[str]) -> list[str]:
    priority: Priority = "high"
    async with AsyncWalletPool.from_url(url, prefix="typed", max_batch=50) as pool:
        await pool.configure("COIN")  # a plain pool, made on purpose
        await pool.add("COIN", [f"wallet-{n}" for n in range(len(orders))])

        async def one(order: str) -> str:
            try:
                lease = await pool.allocate("COIN", order, wait=1.0, priority=priority)
            except PoolExhausted:
                return ""
            await pool.release(lease)
            return lease.address

        return list(await asyncio.gather(*(one(o) for o in orders)))

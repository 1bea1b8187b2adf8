"""An asyncio order service: each order leases a deposit address, waiting its turn when
none is free, holds it while the customer pays, and gives it back. Many orders run at
once on one client, so their calls coalesce into few script calls.

    walletpool up && export REDIS_URL=redis://127.0.0.1:6379/0
    python examples/order_service.py --orders 200 --wallets 20
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time

from walletpool import AsyncWalletPool, Lease, WaitTimeout
from walletpool.testing import sample_addresses

POOL = "ETH"


async def handle(pool: AsyncWalletPool, order_id: str, wait: float) -> Lease | None:
    """One order: an address to pay to, held until paid (here: a short random time)."""
    try:
        lease = await pool.allocate(POOL, order_id, correlation_id=f"checkout-{order_id}",
                                    wait=wait)
    except WaitTimeout:  # no address came within `wait`: the order asks again later
        return None
    await asyncio.sleep(random.uniform(0.001, 0.02))  # the customer pays
    await pool.release(lease)
    return lease


async def main(orders: int, wallets: int, wait: float) -> None:
    async with AsyncWalletPool.from_url() as pool:  # REDIS_URL
        await pool.configure(POOL, cooldown=0)
        added = await pool.add(POOL, sample_addresses("eth", wallets))
        print(f"{POOL}: {added.added} wallets added, {added.duplicates} already there")
        started = time.perf_counter()
        leases = await asyncio.gather(*(handle(pool, f"order-{n}", wait)
                                        for n in range(orders)))
        took = time.perf_counter() - started
        served = [lease for lease in leases if lease is not None]
        waited = sum(1 for lease in served if lease.waited > 0)
        print(f"served {len(served)} orders in {took:.2f} s ({waited} waited their turn, "
              f"{orders - len(served)} timed out)")
        stats = await pool.stats(POOL)
        print(f"{POOL}: {stats.free} free, {stats.leased} leased")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--wallets", type=int, default=10)
    parser.add_argument("--wait", type=float, default=30.0,
                        help="seconds an order waits in line for an address")
    args = parser.parse_args()
    asyncio.run(main(args.orders, args.wallets, args.wait))

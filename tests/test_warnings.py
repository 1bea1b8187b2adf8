"""A service that runs with `python -W error` can use walletpool: building either client,
using it and closing it warns nothing, whatever redis-py the range allows (the suite
runs this on the lock, on the lowest versions pyproject claims and on the newest releases;
scripts/dependency_range.py). In a subprocess, so that warnings at import count too."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import on_first_server
from walletpool.dev.redis_server import RedisServer

SYNC_AND_ASYNCIO = """
import asyncio, sys
from walletpool import AsyncWalletPool, WalletPool

url = sys.argv[1]
with WalletPool.from_url(url) as pool:
    pool.configure("SYNC", network="plain", lease_ttl=60)
    pool.add("SYNC", ["s1", "s2"])
    lease = pool.extend(pool.allocate("SYNC", owner="order-1"), ttl=30)
    pool.release(lease)
    pool.release_many(pool.allocate_many("SYNC", ["order-2", "order-3"]))
    pool.stats("SYNC")

async def main() -> None:
    pool = AsyncWalletPool.from_url(url)
    await pool.configure("ASYNC", network="plain", lease_ttl=60)
    await pool.add("ASYNC", ["a1"])
    held = await pool.allocate("ASYNC", owner="order-1")
    waiting = asyncio.create_task(pool.allocate("ASYNC", owner="order-2", wait=5))
    while (await pool.stats("ASYNC")).waiting < 1:
        await asyncio.sleep(0.01)
    await pool.release(held)
    await pool.release(await waiting)  # handed over through the client's hub
    await pool.close()

asyncio.run(main())
print("ok")
"""


@on_first_server
def test_both_clients_warn_nothing_under_python_w_error(redis_server: RedisServer) -> None:
    done = subprocess.run([sys.executable, "-W", "error", "-c", SYNC_AND_ASYNCIO,
                           redis_server.url], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (0, "ok\n", "")

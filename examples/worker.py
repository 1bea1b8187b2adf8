"""A sync worker: threads take orders from a queue, lease an address for each, hold it
while the order is open, and release it. Threads share one client; each sends its own
calls, on a connection the client keeps. An order that finds no address free gets
PoolExhausted and goes back to the queue (a worker could instead wait with
allocate(wait=S)).

    walletpool up && export REDIS_URL=redis://127.0.0.1:6379/0
    python examples/worker.py --orders 200 --threads 8
"""

from __future__ import annotations

import argparse
import queue
import threading
import time

from walletpool import PoolExhausted, WalletPool
from walletpool.testing import sample_addresses

POOL = "BTC"


def work(pool: WalletPool, orders: queue.Queue[str], served: list[str]) -> None:
    while True:
        try:
            order_id = orders.get_nowait()
        except queue.Empty:
            return
        try:
            lease = pool.allocate(POOL, order_id, correlation_id=f"worker-{order_id}")
        except PoolExhausted:  # every address is out: this order goes back in line
            orders.put(order_id)
            time.sleep(0.005)
            continue
        time.sleep(0.002)  # the order is open
        pool.release(lease)
        served.append(order_id)


def main(count: int, threads: int, wallets: int) -> None:
    with WalletPool.from_url() as pool:  # REDIS_URL
        pool.configure(POOL, cooldown=0)
        pool.add(POOL, sample_addresses("btc", wallets))
        orders: queue.Queue[str] = queue.Queue()
        for n in range(count):
            orders.put(f"order-{n}")
        served: list[str] = []
        workers = [threading.Thread(target=work, args=(pool, orders, served))
                   for _ in range(threads)]
        started = time.perf_counter()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        took = time.perf_counter() - started
        print(f"served {len(served)} orders in {took:.2f} s with {threads} threads")
        stats = pool.stats(POOL)
        print(f"{POOL}: {stats.free} free, {stats.leased} leased, "
              f"{stats.exhaustions} times none was free")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--wallets", type=int, default=5)
    args = parser.parse_args()
    main(args.orders, args.threads, args.wallets)

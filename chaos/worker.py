"""One worker process of the nemesis run: orders that allocate a wallet, hold it a few
ms and release it, until a deadline, each operation written to a history (JSON lines).

    python -m chaos.worker --id 3 --url URL --database-url DSN --pools A,B --until T
        --out FILE [--tasks N]

`--tasks N` runs N asyncio tasks on one AsyncWalletPool; without it, one thread on a
WalletPool (`--batch N`: N owners an order, through allocate_many and release_many).
`--wait S`: an order may wait S seconds for a wallet. Times are time.monotonic(), one
clock for every process of the machine. The clients' settings come from the
environment (WALLETPOOL_REPLICAS, WALLETPOOL_SOCKET_TIMEOUT, ...), as the run sets it.

A record: {"w": worker, "op": "allocate"|"release", "pool", "owner", "t0": invoked,
"t1": completed, "ok": bool, "err": the exception's class, "wp": whether it is a
WalletPoolError, "addr", "token", "reserve": from the reserve, "try": the attempt}.
An allocate that failed is tried again for the same owner (allocate is idempotent per
owner) a few times, so that a lease whose reply was lost is found again rather than
left to expire; a release likewise."""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
import traceback
from collections import Counter
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import IO, Any

from walletpool import (
    AsyncWalletPool,
    Lease,
    LeaseLost,
    PoolExhausted,
    WaitTimeout,
    WalletPool,
)
from walletpool.errors import WalletPoolError

TRIES = 3
HOLD_S = (0.0, 0.01)


class History:
    def __init__(self, out: IO[str], worker: str) -> None:
        self.out = out
        self.worker = worker

    def write(self, op: str, pool: str, owner: str, t0: float, ok: bool,
              error: BaseException | None = None, lease: Lease | None = None,
              attempt: int = 0, result: str | None = None) -> None:
        record: dict[str, Any] = {"w": self.worker, "op": op, "pool": pool, "owner": owner,
                                  "t0": t0, "t1": time.monotonic(), "ok": ok, "try": attempt}
        if error is not None:
            record.update(err=type(error).__name__, wp=isinstance(error, WalletPoolError),
                          msg=str(error)[:300])
            if not record["wp"]:  # where it escaped from, for the report
                record["where"] = "".join(traceback.format_tb(error.__traceback__)[-4:])
        if lease is not None:
            record.update(addr=lease.address, token=lease.token, reserve=lease.from_reserve,
                          fresh=lease.fresh)
        if result is not None:
            record["result"] = result
        self.out.write(json.dumps(record) + "\n")


class Order:
    """One order's calls, as the history records them: an allocation (one owner, or a
    batch of owners in one allocate_many) and its release."""

    def __init__(self, history: History, pool: str, owners: list[str]) -> None:
        self.history = history
        self.pool = pool
        self.owners = owners
        self.leases: list[Lease] = []

    def allocated(self, t0: float, got: Lease | list[Lease], attempt: int) -> None:
        self.leases = got if isinstance(got, list) else [got]
        for lease in self.leases:
            self.history.write("allocate", self.pool, lease.owner, t0, True, lease=lease,
                               attempt=attempt)

    def released(self, t0: float, got: object, attempt: int) -> None:
        held = got if isinstance(got, list) else [True] * len(self.leases)
        for lease, still in zip(self.leases, held, strict=True):
            if still:
                self.history.write("release", self.pool, lease.owner, t0, True, lease=lease,
                                   attempt=attempt, result=str(got))
            else:  # release_many's False: the lease was no longer held
                lost = LeaseLost("release_many: no longer held", pool=self.pool,
                                 address=lease.address, owner=lease.owner,
                                 token=lease.token, reason="none")
                self.history.write("release", self.pool, lease.owner, t0, False, lost, lease,
                                   attempt)

    def succeeded(self, op: str, t0: float, got: Any, attempt: int) -> None:
        (self.allocated if op == "allocate" else self.released)(t0, got, attempt)

    def failed(self, op: str, t0: float, error: BaseException, attempt: int) -> None:
        if op == "allocate":
            for owner in self.owners:
                self.history.write(op, self.pool, owner, t0, False, error, attempt=attempt)
            return
        for lease in self.leases:
            self.history.write(op, self.pool, lease.owner, t0, False, error, lease, attempt)


def settle_delay(attempt: int) -> float:
    return 0.05 * (attempt + 1)


FINAL = (PoolExhausted, LeaseLost, WaitTimeout)
"""Outcomes another try cannot change: the order moves on."""


def attempts(order: Order, op: str, call: Callable[[], Any]) -> bool:
    """`call` until it succeeds, TRIES times at most, each try in the history."""
    for attempt in range(TRIES):
        t0 = time.monotonic()
        try:
            got = call()
        except FINAL as exc:
            order.failed(op, t0, exc, attempt)
            return False
        except Exception as exc:
            order.failed(op, t0, exc, attempt)
            time.sleep(settle_delay(attempt))
            continue
        order.succeeded(op, t0, got, attempt)
        return True
    return False


async def attempts_async(order: Order, op: str, call: Callable[[], Awaitable[Any]]) -> bool:
    """As attempts, awaited."""
    for attempt in range(TRIES):
        t0 = time.monotonic()
        try:
            got = await call()
        except FINAL as exc:
            order.failed(op, t0, exc, attempt)
            return False
        except Exception as exc:
            order.failed(op, t0, exc, attempt)
            await asyncio.sleep(settle_delay(attempt))
            continue
        order.succeeded(op, t0, got, attempt)
        return True
    return False


def run_sync(args: argparse.Namespace, history: History, rng: random.Random) -> None:
    """Orders one at a time; with --batch N, N owners an order, through allocate_many
    and release_many."""
    pool = WalletPool.from_url(args.url, database_url=args.database_url)
    pools = args.pools.split(",")
    n = 0
    try:
        while time.monotonic() < args.until:
            n += 1
            name = rng.choice(pools)
            if args.batch:
                owners = [f"{history.worker}-{n}.{i}" for i in range(args.batch)]
                order = Order(history, name, owners)
                allocate: Callable[[], Any] = partial(pool.allocate_many, name, owners)
            else:
                order = Order(history, name, [f"{history.worker}-{n}"])
                allocate = partial(pool.allocate, name, order.owners[0], wait=args.wait)
            if not attempts(order, "allocate", allocate):
                time.sleep(0.01)
                continue
            time.sleep(rng.uniform(*HOLD_S))
            attempts(order, "release", partial(pool.release_many, order.leases)
                     if args.batch else partial(pool.release, order.leases[0]))
    finally:
        pool.close()


async def run_async(args: argparse.Namespace, history: History, rng: random.Random) -> None:
    """--tasks N orders at once on one client (with --wait, each may wait for a
    wallet: the pool's waiters and their hand-offs)."""
    pool = AsyncWalletPool.from_url(args.url, database_url=args.database_url)
    pools = args.pools.split(",")
    sizes: Counter[int] = Counter()  # calls per script call, when the client coalesces
    if pool._coalescer is not None:
        pool._coalescer.on_batch = lambda op, size: sizes.update([size])

    async def orders(task: int) -> None:
        n = 0
        while time.monotonic() < args.until:
            n += 1
            order = Order(history, rng.choice(pools), [f"{history.worker}.{task}-{n}"])
            if not await attempts_async(order, "allocate", partial(
                    pool.allocate, order.pool, order.owners[0], wait=args.wait)):
                await asyncio.sleep(0.01)
                continue
            await asyncio.sleep(rng.uniform(*HOLD_S))
            await attempts_async(order, "release", partial(pool.release, order.leases[0]))

    try:
        await asyncio.gather(*(orders(i) for i in range(args.tasks)))
    finally:
        await pool.close()
        Path(args.out).with_suffix(".batches.json").write_text(json.dumps(
            {str(size): n for size, n in sorted(sizes.items())}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--id", required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--pools", required=True)
    parser.add_argument("--until", type=float, required=True, help="time.monotonic() to stop")
    parser.add_argument("--out", required=True)
    parser.add_argument("--tasks", type=int, default=0, help="asyncio tasks (0: sync)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=0, help="owners per allocate_many")
    parser.add_argument("--wait", type=float, default=0.0,
                        help="seconds an order may wait for a wallet")
    args = parser.parse_args(argv)
    rng = random.Random(f"{args.seed}-{args.id}")
    with open(args.out, "a", buffering=1) as out:  # line-buffered: a killed worker keeps its lines
        history = History(out, args.id)
        if args.tasks:
            asyncio.run(run_async(args, history, rng))
        else:
            run_sync(args, history, rng)
    return 0


if __name__ == "__main__":
    sys.exit(main())

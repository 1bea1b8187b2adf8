"""One worker process of the nemesis run: orders that allocate a wallet, hold it a few
ms and release it, until a deadline, each operation written to a history (JSON lines).

    python -m chaos.worker --id 3 --url URL --database-url DSN --pools A,B --until T
        --out FILE [--tasks N]

`--tasks N` runs N asyncio tasks on one AsyncWalletPool; without it, one thread on a
WalletPool. Times are time.monotonic(), one clock for every process of the machine.

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
from collections.abc import Awaitable, Callable
from functools import partial
from typing import IO, Any

from walletpool import AsyncWalletPool, Lease, LeaseLost, PoolExhausted, WalletPool
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

    def done(self, op: str, pool: str, owner: str, t0: float, got: Any, lease: Lease | None,
             attempt: int) -> None:
        if op == "allocate":
            self.write(op, pool, owner, t0, True, lease=got, attempt=attempt)
        else:
            self.write(op, pool, owner, t0, True, lease=lease, attempt=attempt,
                       result=str(got))


def settle_delay(attempt: int) -> float:
    return 0.05 * (attempt + 1)


FINAL = (PoolExhausted, LeaseLost)
"""Outcomes another try cannot change: the order moves on."""


def attempts(history: History, op: str, name: str, owner: str, call: Callable[[], Any],
             lease: Lease | None) -> Any:
    """`call` until it succeeds, TRIES times at most, each try in the history; None when
    none did."""
    for attempt in range(TRIES):
        t0 = time.monotonic()
        try:
            got = call()
        except FINAL as exc:
            history.write(op, name, owner, t0, False, exc, lease, attempt)
            return None
        except Exception as exc:
            history.write(op, name, owner, t0, False, exc, lease, attempt)
            time.sleep(settle_delay(attempt))
            continue
        history.done(op, name, owner, t0, got, lease, attempt)
        return got
    return None


async def attempts_async(history: History, op: str, name: str, owner: str,
                         call: Callable[[], Awaitable[Any]], lease: Lease | None) -> Any:
    """As attempts, awaited."""
    for attempt in range(TRIES):
        t0 = time.monotonic()
        try:
            got = await call()
        except FINAL as exc:
            history.write(op, name, owner, t0, False, exc, lease, attempt)
            return None
        except Exception as exc:
            history.write(op, name, owner, t0, False, exc, lease, attempt)
            await asyncio.sleep(settle_delay(attempt))
            continue
        history.done(op, name, owner, t0, got, lease, attempt)
        return got
    return None


def run_sync(args: argparse.Namespace, history: History, rng: random.Random) -> None:
    pool = WalletPool.from_url(args.url, database_url=args.database_url,
                               socket_timeout=args.socket_timeout)
    pools = args.pools.split(",")
    n = 0
    try:
        while time.monotonic() < args.until:
            n += 1
            name, owner = rng.choice(pools), f"{history.worker}-{n}"
            lease = attempts(history, "allocate", name, owner,
                             partial(pool.allocate, name, owner), None)
            if lease is None:
                time.sleep(0.01)
                continue
            time.sleep(rng.uniform(*HOLD_S))
            attempts(history, "release", name, owner,
                     partial(pool.release, lease), lease)
    finally:
        pool.close()


async def run_async(args: argparse.Namespace, history: History, rng: random.Random) -> None:
    pool = AsyncWalletPool.from_url(args.url, database_url=args.database_url,
                                    socket_timeout=args.socket_timeout)
    pools = args.pools.split(",")

    async def orders(task: int) -> None:
        n = 0
        while time.monotonic() < args.until:
            n += 1
            name, owner = rng.choice(pools), f"{history.worker}.{task}-{n}"
            lease = await attempts_async(
                history, "allocate", name, owner,
                partial(pool.allocate, name, owner), None)
            if lease is None:
                await asyncio.sleep(0.01)
                continue
            await asyncio.sleep(rng.uniform(*HOLD_S))
            await attempts_async(history, "release", name, owner,
                                 partial(pool.release, lease), lease)

    try:
        await asyncio.gather(*(orders(i) for i in range(args.tasks)))
    finally:
        await pool.close()


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
    parser.add_argument("--socket-timeout", type=float, default=1.0)
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

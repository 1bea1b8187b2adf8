"""The worker of the Redis-outage load test (test_outage.py): one process allocating and
releasing in a loop through a client with a database, logging each holding the way
tests/stress.py does, so that overlaps across both lanes (Redis and the reserve) are
real double allocations."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any

from tests.stress import CLOCK_STEP, Holding
from walletpool import LeaseLost, PoolExhausted, WalletPool

TTL = 2.0


@dataclass
class Outcome:
    holdings: list[Holding] = field(default_factory=list)
    from_reserve: int = 0
    exhausted: list[str] = field(default_factory=list)
    late_release_refused: int = 0
    queued: int = 0
    slowest: float = 0.0
    errors: list[str] = field(default_factory=list)


def worker(redis_url: str, database_url: str, pool_name: str, worker_id: int, seconds: float,
           start: Any, out: Any) -> None:
    rng = random.Random(worker_id)
    outcome = Outcome()
    pool = WalletPool.from_url(redis_url, database_url=database_url, socket_timeout=0.5,
                               breaker_failures=2, breaker_probe=0.3)
    start.wait()
    deadline = time.monotonic() + seconds
    i = 0
    while time.monotonic() < deadline:
        i += 1
        owner = f"w{worker_id}-{i}"
        sent = time.monotonic()
        try:
            lease = pool.allocate(pool_name, owner, ttl=TTL)
        except PoolExhausted as exc:
            outcome.exhausted.append(str(exc))
            time.sleep(0.01)
            continue
        except Exception as exc:  # anything else is a failure the test reports
            outcome.errors.append(f"allocate: {exc!r}")
            time.sleep(0.01)
            continue
        began = time.monotonic()
        outcome.slowest = max(outcome.slowest, began - sent)
        outcome.from_reserve += lease.from_reserve
        time.sleep(rng.uniform(0, 0.005))
        released = time.monotonic()
        try:
            outcome.queued += pool.release(lease) == "queued"
        except LeaseLost as exc:  # rightly only when the refusal came after the deadline
            if time.monotonic() >= sent + TTL - CLOCK_STEP:
                outcome.late_release_refused += 1
            else:  # refused while the lease was live: a lost lease
                outcome.errors.append(f"release: {exc}")
        except Exception as exc:
            outcome.errors.append(f"release: {exc!r}")
        outcome.holdings.append(Holding(lease.wallet, owner, lease.token, began,
                                        min(released, sent + TTL - CLOCK_STEP)))
    pool.close()
    out.put(outcome)

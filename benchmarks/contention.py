"""The same contended workload against each design, and what it does to correctness.

Several processes allocate, hold briefly and release, as fast as they can; a share of
holders stall past their lease and release late (a slow order, a GC pause), while a
reaper returns expired wallets. Every holding is logged as an interval known to lie
inside the real one (tests/stress.py explains the bounds), so two overlapping intervals
of one address are a wallet handed to two orders at once: a double allocation.

FIFO is checked apart, by one client: take every wallet, return them in a shuffled
order, take them all again; a FIFO pool hands them out in the order they came back."""

from __future__ import annotations

import multiprocessing
import random
import time
from dataclasses import dataclass
from typing import Any

from tests.stress import Holding, overlaps

from .designs import make

TTL = 1.0          # seconds: redis-allocator's locks count whole seconds
STALL = 1.5        # a stalled holder releases this long after allocating
STALL_SHARE = 0.03
CLOCK_STEP = 0.001


@dataclass
class Contention:
    design: str
    processes: int
    seconds: float
    cycles: int
    double_allocations: int
    late_releases_refused: int
    cycles_per_s: float


def _worker(kind: str, url: str, pool: str, worker: int, seconds: float, seed: int,
            start: Any, out: Any) -> None:
    rng = random.Random(seed)
    design = make(kind, url, pool)
    start.wait()
    holdings: list[Holding] = []
    stalled: list[tuple[float, Any, str, float, float]] = []  # due, handle, address, sent, began
    refused = 0

    def release(handle: Any, address: str, sent: float, began: float) -> None:
        nonlocal refused
        released = time.monotonic()
        if not design.release(handle):
            refused += 1
        holdings.append(Holding(address, "", 0, began, min(released, sent + TTL - CLOCK_STEP)))

    deadline = time.monotonic() + seconds
    i = 0
    while (now := time.monotonic()) < deadline or stalled:
        while stalled and stalled[0][0] <= now:  # a stalled order comes back, too late
            release(*stalled.pop(0)[1:])
        if now >= deadline:
            time.sleep(0.01)
            continue
        i += 1
        sent = time.monotonic()
        got = design.allocate(f"w{worker}-{i}", TTL)
        if got is None:
            time.sleep(0.002)
            continue
        handle, address = got
        began = time.monotonic()
        if rng.random() < STALL_SHARE:  # this order stalls; the worker goes on with others
            stalled.append((began + STALL, handle, address, sent, began))
            continue
        time.sleep(rng.uniform(0, 0.002))
        release(handle, address, sent, began)
    design.close()
    out.put((holdings, refused))


def _reaper(kind: str, url: str, pool: str, stop: Any) -> None:
    design = make(kind, url, pool)
    while not stop.is_set():
        design.reap()
        time.sleep(0.05)
    design.close()


def run(kind: str, url: str, pool: str, addresses: list[str], processes: int,
        seconds: float) -> Contention:
    make(kind, url, pool).setup(addresses)
    context = multiprocessing.get_context("spawn")
    start, stop, out = context.Event(), context.Event(), context.Queue()
    workers = [context.Process(target=_worker, args=(kind, url, pool, w, seconds, w, start, out))
               for w in range(processes)]
    reaper = context.Process(target=_reaper, args=(kind, url, pool, stop))
    for p in [*workers, reaper]:
        p.start()
    time.sleep(1.0)  # spawned and connected
    start.set()
    holdings: list[Holding] = []
    refused = 0
    for _ in workers:
        got, n = out.get()
        holdings += got
        refused += n
    stop.set()
    for p in [*workers, reaper]:
        p.join()
    return Contention(kind, processes, seconds, len(holdings), len(overlaps(holdings)), refused,
                      len(holdings) / seconds)  # the drain of stalled orders is not load


def fifo_misplaced(kind: str, url: str, pool: str, size: int = 50) -> int:
    """How many of `size` wallets came out of the pool out of their return order."""
    design = make(kind, url, pool)
    design.setup([f"fifo{i:04d}" for i in range(size)])
    taken = [design.allocate(f"first-{i}", 600) for i in range(size)]
    random.Random(7).shuffle(taken)
    for handle, _ in taken:
        design.release(handle)
    again = [design.allocate(f"again-{i}", 600) for i in range(size)]
    design.close()
    returned = [address for _, address in taken]
    return sum(1 for got, want in zip(again, returned, strict=True)
               if got is None or got[1] != want)

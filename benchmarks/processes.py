"""Several processes, each with its own client of one design, started together: the
rate is all their allocate+release cycles over the wall time until the last finished.
One runner for every design (designs.py), so the rows compare like with like."""

from __future__ import annotations

import multiprocessing
import time
from typing import Any

from .designs import make
from .measure import Row, row_from
from .walletpool_rows import Tasks

TTL = 600.0


TASKS = 16
"""Tasks per process in the walletpool-tasks rows (an asyncio service per process)."""


def _tasks(url: str, pool: str, worker: int, cycles: int, start: Any, out: Any) -> None:
    """One process of an asyncio service: TASKS tasks on one AsyncWalletPool."""
    tasks = Tasks(url, pool, TASKS, owners=f"p{worker}-")
    tasks.one_round(TASKS, [])  # connected, scripts loaded
    start.wait()
    latencies: list[float] = []
    tasks.one_round(cycles, latencies)
    tasks.close()
    out.put(latencies)


def _process(kind: str, url: str, pool: str, worker: int, cycles: int, start: Any,
             out: Any) -> None:
    if kind == "walletpool-tasks":
        _tasks(url, pool, worker, cycles, start, out)
        return
    design = make(kind, url, pool)
    warm = design.allocate(f"p{worker}-warm", TTL)  # connected, scripts or plans cached
    if warm is not None:
        design.release(warm[0])
    start.wait()
    latencies = []
    for i in range(cycles):
        t = time.perf_counter()
        got = design.allocate(f"p{worker}-{i}", TTL)
        if got is None:
            raise RuntimeError(f"{kind}: the pool ran dry under {worker + 1}+ processes")
        design.release(got[0])
        latencies.append(time.perf_counter() - t)
    design.close()
    out.put(latencies)


def one_round(kind: str, url: str, pool: str, count: int, share: int
              ) -> tuple[float, list[float]]:
    context = multiprocessing.get_context("spawn")
    start, out = context.Event(), context.Queue()
    workers = [context.Process(target=_process, args=(kind, url, pool, w, share, start, out))
               for w in range(count)]
    for w in workers:
        w.start()
    time.sleep(1.5)  # spawn, import, connect, warm up: not part of the measurement
    began = time.perf_counter()
    start.set()
    latencies: list[float] = []
    for _ in workers:
        latencies += out.get()
    elapsed = time.perf_counter() - began
    for w in workers:
        w.join()
    return elapsed, latencies


def side_by_side(rows: list[tuple[str, str, str, str, str]], count: int, rounds: int,
                 cycles: int) -> list[Row]:
    """One row per design, (group, name, kind, url, pool) each: `rounds` rounds of
    `count` processes sharing `cycles`, the designs' rounds taken in turn (see
    measure.side_by_side)."""
    share = max(1, cycles // count)
    rates: list[list[float]] = [[] for _ in rows]
    latencies: list[list[float]] = [[] for _ in rows]
    for _ in range(rounds):
        for i, (_, _, kind, url, pool) in enumerate(rows):
            elapsed, seen = one_round(kind, url, pool, count, share)
            rates[i].append(share * count / elapsed)
            latencies[i] += seen
    return [row_from(group, name, rates[i], latencies[i])
            for i, (group, name, _, _, _) in enumerate(rows)]

"""Timing loops for any design of designs.py: one client calling allocate then release,
and batches of BATCH through the design's batch form."""

from __future__ import annotations

import time

from .designs import Design
from .measure import Round

BATCH = 100
TTL = 600.0


def sequential(design: Design) -> Round:
    def one_round(cycles: int, latencies: list[float]) -> None:
        for i in range(cycles):
            t = time.perf_counter()
            got = design.allocate(f"order-{i}", TTL)
            if got is None:
                raise RuntimeError("the pool ran dry during a sequential run")
            design.release(got[0])
            latencies.append(time.perf_counter() - t)

    return one_round


def batched(design: Design) -> Round:
    owners = [f"order-{i}" for i in range(BATCH)]

    def one_round(cycles: int, latencies: list[float]) -> None:
        for _ in range(cycles // BATCH):
            got = design.allocate_many(owners, TTL)
            if len(got) != BATCH:
                raise RuntimeError(f"a batch of {BATCH} got {len(got)} wallets")
            design.release_many([handle for handle, _ in got])

    return one_round

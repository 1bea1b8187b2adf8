"""What every benchmark row shares: the row itself, medians over rounds, latency
percentiles, and the line that says which machine and versions produced the numbers."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import redis

# One round runs `cycles` allocate+release cycles and appends per-cycle latencies (s)
# to the list it is given (batched rows append nothing: a cycle has no latency of its own).
Round = Callable[[int, list[float]], None]


@dataclass
class Row:
    group: str            # which table and chart the row belongs to
    name: str
    cycles_per_s: float   # median over rounds
    p50_us: float | None = None
    p99_us: float | None = None
    rounds: list[float] = field(default_factory=list)  # every round's rate, for the record
    note: str = ""


def percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * q))]


def measure(group: str, name: str, rounds: int, cycles: int, one_round: Round,
            note: str = "") -> Row:
    """Run `one_round` `rounds` times after one unmeasured warm-up round a tenth as long."""
    one_round(max(1, cycles // 10), [])
    rates: list[float] = []
    latencies: list[float] = []
    for _ in range(rounds):
        started = time.perf_counter()
        one_round(cycles, latencies)
        rates.append(cycles / (time.perf_counter() - started))
    return row_from(group, name, rates, latencies, note)


@dataclass
class Job:
    """A row to measure beside others (side_by_side): its round and cycles per round."""

    group: str
    name: str
    cycles: int
    one_round: Round


def side_by_side(jobs: list[Job], rounds: int) -> list[Row]:
    """Every job's rounds taken in turn, round 1 of each job, then round 2 of each, and
    so on, after one warm-up round each a tenth as long. The machine's load moves over
    minutes, so rows measured one after the other see different machines; taken in turn,
    the rows a ratio compares share the same moments."""
    for job in jobs:
        job.one_round(max(1, job.cycles // 10), [])
    rates: list[list[float]] = [[] for _ in jobs]
    latencies: list[list[float]] = [[] for _ in jobs]
    for _ in range(rounds):
        for i, job in enumerate(jobs):
            started = time.perf_counter()
            job.one_round(job.cycles, latencies[i])
            rates[i].append(job.cycles / (time.perf_counter() - started))
    return [row_from(job.group, job.name, rates[i], latencies[i]) for i, job in enumerate(jobs)]


def row_from(group: str, name: str, rates: list[float], latencies: list[float],
             note: str = "") -> Row:
    latencies = sorted(latencies)
    return Row(group, name, statistics.median(rates),
               percentile(latencies, 0.5) * 1e6 if latencies else None,
               percentile(latencies, 0.99) * 1e6 if latencies else None,
               [round(r, 1) for r in rates], note)


def machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo").read().splitlines():  # noqa: SIM115
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"host": platform.node(), "cores": str(os.cpu_count()), "cpu": cpu,
            "os": platform.platform(terse=True), "python": platform.python_version(),
            "redis-py": redis.__version__, "date": time.strftime("%Y-%m-%d")}


def machine_line(redis_version: str) -> str:
    m = machine()
    return (f"# {m['host']}: {m['cores']} cores ({m['cpu']}), Python {m['python']}, "
            f"redis-server {redis_version}, redis-py {m['redis-py']}, {m['date']}")

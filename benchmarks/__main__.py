"""walletpool against the alternatives, side by side in one run on one machine.

    python -m benchmarks [--quick] [--rounds R] [--cycles N] [--out DIR] [--no-chart]

Starts its own redis-server (AOF, fsync every second) and PostgreSQL (fsync on,
synchronous_commit off: the same durability bargain), then measures allocate+release
cycles/s and latency p50/p99 for walletpool (sequential, batched, pipelined, several
processes, asyncio, orders waiting for a drained pool and the hand-off's latency), the
naive client-side design, PostgreSQL SKIP LOCKED, redis-allocator
and redis-benchmark's ceiling; then growth (pool sizes, memory per wallet, reap), the
syncer, and correctness under contention (double allocations, FIFO). Writes
results.json, results.md and chart.png to DIR (default benchmarks/results).
`./scripts/bench` makes the venv with the `bench` extra and runs this.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import psycopg
import redis

from walletpool import WalletPool
from walletpool.dev.postgres_server import PostgresServer
from walletpool.dev.redis_server import RedisServer, binary_version
from walletpool.store.engine import create_engine
from walletpool.store.migrations import upgrade

from . import (
    alternatives,
    ceiling,
    contention,
    durability,
    floors,
    growth,
    processes,
    servers,
    waiting,
    walletpool_rows,
)
from .designs import allocator_version, make
from .measure import Job, machine, side_by_side
from .postgres import dsn_of
from .report import Results, chart, markdown, targets, write_json
from .syncer import throughput

POOL_SIZE = 1_000
NAMES = {
    "floor": "no-op EVALSHA x2 (redis-py floor)",
    "seq": "walletpool sequential",
    "batch": f"walletpool allocate_many/release_many ({walletpool_rows.BATCH})",
    "seq_coalesced": "walletpool sequential, coalesce on",
    "threads": f"WalletPool, {walletpool_rows.THREADS} threads",
    "threads_coalesced": f"WalletPool, {walletpool_rows.THREADS} threads, coalesce on",
    "tasks": f"AsyncWalletPool, {walletpool_rows.TASKS} tasks",
    "tasks_alone": f"AsyncWalletPool, {walletpool_rows.TASKS} tasks, coalesce off",
    "naive": "naive RPOP, check, mark (separate round trips), sequential",
    "pg": "PostgreSQL SKIP LOCKED, one client",
    "pg_batch": f"PostgreSQL SKIP LOCKED, batches of {alternatives.BATCH}",
    "allocator": "redis-allocator malloc_key/free_keys, sequential",
    "allocator_batch": f"redis-allocator, {alternatives.BATCH} malloc pipelined + free_keys",
    "raw": floors.ROW_NAMES["raw"],
    "minimal": floors.ROW_NAMES["minimal"],
    **waiting.NAMES,
}
CEILING = {  # rows only where redis-benchmark is installed
    "ceiling_noop": "redis-benchmark no-op EVALSHA, 50 clients",
    "ceiling_allocate": "redis-benchmark allocate.lua, 50 clients",
}


def process_names(count: int) -> dict[str, str]:
    return {"procs": f"walletpool, {count} processes",
            "procs_tasks": f"walletpool, {count} processes x {processes.TASKS} tasks",
            "pg_procs": f"PostgreSQL SKIP LOCKED, {count} processes",
            "allocator_procs": f"redis-allocator, {count} processes"}


@dataclass
class Plan:
    rounds: int
    cycles: int
    processes: int
    tasks: int
    sizes: list[int]
    reap: int
    contention_processes: int
    contention_seconds: float
    syncer_events: int
    ceiling_requests: int
    server_calls: int
    server_rounds: int
    handoffs: int
    drained_seconds: float
    memory_wallets: int


def plan(args: argparse.Namespace) -> Plan:
    if args.quick:  # every row, tiny: proves the runner works (the test suite runs this)
        return Plan(1, 200, 2, 8, [1_000, 5_000], 1_000, 2, 1.0, 2_000, 2_000, 200, 1, 20, 0.5,
                    5_000)
    # Redis's time per call: many short rounds (a second or two each), whose median a
    # burst of load on the shared machine moves less than it moves a few long ones.
    return Plan(args.rounds, args.cycles, 2 * (os.cpu_count() or 2), 64,
                [1_000, 100_000, 1_000_000], 10_000, 4, 6.0, 50_000, 200_000, 4_000,
                3 * args.rounds, 300, 3.0, 100_000)


def progress(what: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {what}", file=sys.stderr, flush=True)


def run(p: Plan, folder: Path) -> Results:
    with RedisServer(folder / "redis") as server, \
            PostgresServer(folder / "pg", fsync=True,
                           settings={"synchronous_commit": "off"}) as postgres:
        client = redis.Redis(port=server.port)
        pool = WalletPool.from_url(server.url)
        dsn = dsn_of(postgres.url)
        with psycopg.connect(dsn) as db:
            pg_version = str(db.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
        r = Results(machine(), {"walletpool": version("walletpool"),
                                "redis-server": binary_version(server.binary),
                                "PostgreSQL": pg_version,
                                "redis-allocator": allocator_version() or "not installed"})

        progress("syncer events/s")
        engine = create_engine(postgres.url)
        upgrade(engine)
        pool.configure("BENCH", lease_ttl=600, max_size=10_000, min_free=0)
        pool.add("BENCH", [f"bench{i:05d}" for i in range(5_000)])
        r.syncer_events_per_s = statistics.median(
            throughput(pool, engine, p.syncer_events, p.rounds, 1000))
        engine.dispose()
        client.flushall()

        pool.configure("COIN", lease_ttl=600, cooldown=0, max_size=POOL_SIZE, min_free=0)
        pool.add("COIN", growth.addresses("coin", POOL_SIZE))
        for pair in (floors.RAW, floors.MINIMAL):  # the floors, driven the same way
            pair.fill(client, p.cycles + 10)
        wallets = growth.addresses("alt", POOL_SIZE)
        alts = {kind: make(kind, url, "ALT") for kind, url in
                [("naive", server.url), ("postgres", dsn), ("redis-allocator", server.url)]}
        for design in alts.values():
            design.setup(wallets)

        # The rows the targets compare, one client each, their rounds taken in turn.
        jobs = walletpool_rows.jobs(client, pool, "COIN", p.cycles)
        task_jobs, loops = walletpool_rows.task_jobs(server.url, "COIN", p.cycles)
        jobs += task_jobs
        jobs += [Job("floor", floors.ROW_NAMES[pair.name], p.cycles, pair.round(client))
                 for pair in (floors.RAW, floors.MINIMAL)]
        jobs += [Job("alternatives", NAMES["naive"], p.cycles,
                     alternatives.sequential(alts["naive"]))]
        for kind, sequential_name, batch_name in [
            ("postgres", NAMES["pg"], NAMES["pg_batch"]),
            ("redis-allocator", NAMES["allocator"], NAMES["allocator_batch"]),
        ]:
            jobs += [Job("alternatives", sequential_name, p.cycles,
                         alternatives.sequential(alts[kind])),
                     Job("alternatives", batch_name, p.cycles * 10,
                         alternatives.batched(alts[kind]))]
        progress(f"one client, {len(jobs)} rows side by side: "
                 + ", ".join(job.name for job in jobs))
        r.rows += side_by_side(jobs, p.rounds)
        for design in alts.values():
            design.close()
        for loop in loops:
            loop.close()

        # Several processes of each design, their rounds taken in turn.
        names = process_names(p.processes)
        progress(f"{p.processes} processes of each design, side by side")
        r.rows += processes.side_by_side(
            [("walletpool", names["procs"], "walletpool", server.url, "COIN"),
             ("walletpool", names["procs_tasks"], "walletpool-tasks", server.url, "COIN"),
             ("alternatives", names["pg_procs"], "postgres", dsn, "ALT"),
             ("alternatives", names["allocator_procs"], "redis-allocator", server.url, "ALT")],
            p.processes, p.rounds, p.cycles * 2)
        r.rows += waiting.rows(server.url, p.rounds, p.handoffs, p.drained_seconds, progress)

        if ceiling.redis_benchmark() is None:
            r.notes.append("redis-benchmark is not installed here: no ceiling rows.")
        else:
            progress("redis-benchmark ceiling")
            # two allocate runs take a wallet per call: fill the pool for both
            growth.fill(pool, "CEIL", growth.addresses("ceil", 2 * p.ceiling_requests + 1000),
                        progress)
            r.rows += ceiling.rows(server.port, client, "CEIL", p.ceiling_requests)
        client.flushall()

        growth_rows, r.memory_bytes_per_wallet, r.memory_bytes_per_wallet_unsynced = \
            growth.sizes(pool, client, p.sizes, p.rounds, p.cycles, progress)
        r.rows += growth_rows
        r.memory_pool_size = max(p.sizes)
        client.flushall()
        progress(f"reap {p.reap:,} expired leases")
        r.reap_expired, r.reap_seconds = p.reap, growth.reap_time(pool, p.reap)

        for kind, url in [("walletpool", server.url), ("naive", server.url),
                          ("redis-allocator", server.url), ("postgres", dsn)]:
            progress(f"contention: {kind}")
            client.flushall()
            r.contention.append(contention.run(kind, url, "RACE", growth.addresses("race", 200),
                                               p.contention_processes, p.contention_seconds))
            r.fifo_misplaced[kind] = contention.fifo_misplaced(kind, url, "FIFO")
        pool.close()
        client.close()
    r.rows += durability.rows(folder, p.rounds, p.cycles, progress)
    r.notes.append(durability.cost(r))
    progress("Redis's own time per call, on every server found")
    r.server_us_per_call = floors.every_server(folder / "servers", p.server_calls,
                                                p.server_rounds)
    progress("the servers side by side: speed and memory")
    r.servers = servers.compare(folder / "compare", p.rounds, p.cycles, p.memory_wallets,
                                p.server_calls, progress)
    return r


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="every row, tiny sizes (a smoke run)")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--cycles", type=int, default=1_500, help="cycles per sequential round")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--no-chart", action="store_true", help="skip the PNG (no matplotlib)")
    args = parser.parse_args()
    p = plan(args)
    with tempfile.TemporaryDirectory(prefix="walletpool-bench-") as folder:
        r = run(p, Path(folder))
    growth_rows = [row for row in r.rows if row.group == "growth"]
    names = dict(NAMES, **CEILING, **process_names(p.processes), small=growth_rows[0].name,
                 large=growth_rows[-1].name)
    goals = targets(r, names)
    for goal in goals:
        if not goal.met:
            r.notes.append(f"Target missed: {goal.what}: wanted {goal.wanted}, "
                           f"measured {goal.measured}.")
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(r, goals, args.out / "results.json")
    text = markdown(r, goals, NAMES["seq"])
    (args.out / "results.md").write_text(text)
    if not args.no_chart:
        chart(r, args.out / "chart.png")
    print(text)
    print(f"written to {args.out}/", file=sys.stderr)


if __name__ == "__main__":
    main()

"""Run the nemesis: `python -m chaos [--seconds S] [--replicas N] [--fsync] [--seed K]`.

It starts the topology (topology.py), fills three pools, starts the syncer and the
workers (sync, sync behind a proxy that can partition it, sync in batches of 5, asyncio
with 12 tasks whose calls coalesce, and asyncio with 4 orders that may wait on a pool of
2 wallets), runs
random overlapping faults for S seconds, then mends everything, lets the
syncer catch up, and checks: the histories (checker.py), reconcile, conservation. The
report goes to stdout and, with the histories, to --out. Exit 0 when every promise held,
1 when one broke. Every process it starts it stops by pid; loopback only."""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict
from pathlib import Path

import redis
import sqlalchemy as sa

from walletpool.dev.redis_server import binary_features, find_binaries, server_name
from walletpool.store import schema
from walletpool.store.engine import create_engine
from walletpool.store.restore import reconcile
from walletpool.syncer import lag
from walletpool.verify import pool_state, problems

from .checker import (
    Findings,
    Promise,
    availability,
    check,
    failover_lines,
    recovery_line,
    verdict,
)
from .nemesis import Fault, Nemesis
from .proxy import Proxy
from .topology import ROOT, Topology

POOLS = {"ALPHA": 300, "BETA": 300, "GAMMA": 2}
"""Pool -> wallets. GAMMA is small on purpose: its three orders that may wait keep one
of them in line, so hand-offs to waiters run under the faults too."""
RESERVE = 30


def pick_binary(fsync: bool) -> Path:
    found = find_binaries()
    if fsync:  # WAITAOF: Redis 7.2+ or Valkey
        found = [b for b in found if binary_features(b)["waitaof"]]
    if not found:
        raise SystemExit("chaos: no server binary" + (" with WAITAOF (Valkey, Redis 7.2+)"
                                                      if fsync else ""))
    return found[0]


def power_loss(args: argparse.Namespace, top: Topology) -> bool:
    """Whether the run includes the power-loss fault: not without a C compiler (what was
    fsynced could not be known), and not with replicas but without fsync, which the
    docs say do not cover it (doctor warns of that combination)."""
    if top.fsync_log is None:
        print("chaos: no C compiler, so no power-loss fault", file=sys.stderr)
        return False
    return bool(args.fsync) or args.replicas == 0


def start_workers(top: Topology, proxy: Proxy, out: Path, until: float, seed: int,
                  env: dict[str, str]) -> list[tuple[str, subprocess.Popen[bytes]]]:
    big = "ALPHA,BETA"
    plans = [("sync", top.url, big, []), ("sync-proxied", proxy.url, big, []),
             ("sync-batch", top.url, big, ["--batch", "5"]),
             # enough tasks that their calls coalesce into batches (walletpool.coalesce)
             ("asyncio", top.url, big, ["--tasks", "12"]),
             ("asyncio-waiting", top.url, "GAMMA", ["--tasks", "4", "--wait", "1"])]
    workers = []
    for name, url, pools, options in plans:
        command = [sys.executable, "-m", "chaos.worker", "--id", name, "--url", url,
                   "--database-url", top.database_url, "--pools", pools,
                   "--until", str(until), "--out", str(out / f"history-{name}.jsonl"),
                   "--seed", str(seed), *options]
        log = open(out / f"worker-{name}.log", "w")  # noqa: SIM115 (closed with the process)
        workers.append((name, subprocess.Popen(command, stdout=log, stderr=log, cwd=ROOT,
                                               env={**os.environ, **env},
                                               start_new_session=True)))
    return workers


def watch(top: Topology, path: Path, until: float) -> None:
    """Every 0.5 s, what each server says it is and what Sentinel names the primary: the
    record that explains a run's figures."""
    with open(path, "w", buffering=1) as log:
        while time.monotonic() < until:
            try:
                named = str(top.primary_port())
            except (redis.RedisError, ValueError) as exc:
                named = f"? ({type(exc).__name__})"
            log.write(json.dumps({"t": time.monotonic(), "sentinel": named,
                                  **{str(k): v for k, v in top.roles().items()}}) + "\n")
            time.sleep(0.5)


def listen_switches(top: Topology, path: Path, until: float) -> None:
    """Each failover as Sentinel announces it (+switch-master), on the run's clock: when
    the new primary was named, to the ms, for the recovery figures (roles.log samples
    only every 0.5 s)."""
    with redis.Redis(port=top.sentinel_port, decode_responses=True) as sentinel, \
            open(path, "w", buffering=1) as log:
        listening = sentinel.pubsub()
        listening.subscribe("+switch-master")
        while time.monotonic() < until + 30:
            try:
                message = listening.get_message(timeout=0.1)
            except redis.RedisError:
                return
            if message and message["type"] == "message":
                # "<service> <old ip> <old port> <new ip> <new port>"
                log.write(json.dumps({"t": time.monotonic(),
                                      "sentinel": message["data"].split()[4]}) + "\n")


def finish_workers(workers: list[tuple[str, subprocess.Popen[bytes]]], until: float
                   ) -> list[str]:
    """Wait for the workers (30 s past their deadline at most); returns the ones that
    crashed or hung."""
    bad = []
    for name, process in workers:
        try:
            process.wait(timeout=max(1.0, until + 30 - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            bad.append(f"{name} hung")
            continue
        if process.returncode != 0:
            bad.append(f"{name} exited {process.returncode}")
    return bad


def caught_up(top: Topology, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        top.check_syncer()
        try:
            with redis.Redis(port=top.primary_port(), socket_timeout=2) as client:
                if all(lag(client, "wp", p).unsynced == 0 for p in POOLS):
                    return
        except (redis.RedisError, ValueError):
            pass
        time.sleep(0.25)
    raise RuntimeError("the syncer did not catch up after the faults")


def final_state(top: Topology) -> tuple[dict[str, int], dict[str, str]]:
    """reconcile's differences, and conservation with the invariants, per pool."""
    engine = create_engine(top.database_url)
    differences: dict[str, int] = {}
    conserved: dict[str, str] = {}
    try:
        with redis.Redis(port=top.primary_port(), socket_timeout=5) as client:
            for pool in POOLS:
                found_differences = reconcile(client, engine, "wp", pool)
                differences[pool] = len(found_differences)
                for difference in found_differences[:20]:
                    print(f"chaos: reconcile {pool}: {difference}", file=sys.stderr)
                state = pool_state(client, "wp", pool)
                counted = (len(state.free) + len(state.lease) + len(state.cooling)
                           + len(state.reserve))
                found = problems(state)
                wallets = POOLS[pool]
                conserved[pool] = "ok" if counted == wallets and not found else (
                    f"{counted} of {wallets} wallets; " + "; ".join(found[:3]))
    finally:
        engine.dispose()
    return differences, conserved


def commit_times(database_url: str) -> dict[tuple[str, str, int], float]:
    """When the database committed each lease it knows (the events table's rows, by
    their transaction's commit timestamp), on the monotonic clock."""
    engine = create_engine(database_url)
    offset = time.time() - time.monotonic()
    e = schema.events
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.select(
                e.c.pool, e.c.owner, e.c.token,
                sa.func.extract("epoch", sa.func.pg_xact_commit_timestamp(
                    sa.literal_column(f"{e.name}.xmin")))).where(
                e.c.state == "leased", e.c.owner.is_not(None))).all()
    finally:
        engine.dispose()
    return {(pool, owner, int(token)): float(at) - offset
            for pool, owner, token, at in rows if at is not None}


def read_primaries(path: Path) -> list[tuple[float, str]]:
    if not path.exists():
        return []
    return [(row["t"], row["sentinel"]) for row in map(json.loads, path.read_text().splitlines())]


def read_histories(out: Path) -> list[dict[str, object]]:
    records = []
    for path in sorted(out.glob("history-*.jsonl")):
        for line in path.read_text().splitlines():
            if line.strip():
                try:
                    records.append(json.loads(line))
                except ValueError:  # a line cut short by a killed worker
                    continue
    return records


def coalesced(out: Path) -> str:
    """How the asyncio workers' calls went to Redis: script calls, and those that carried
    several concurrent calls (walletpool.coalesce), from each worker's batches file."""
    sizes: dict[int, int] = {}
    for path in out.glob("history-*.batches.json"):
        for size, n in json.loads(path.read_text()).items():
            sizes[int(size)] = sizes.get(int(size), 0) + n
    together = {size: n for size, n in sizes.items() if size > 1}
    return (f"coalescing (asyncio workers): {sum(sizes.values()):,} script calls, "
            f"{sum(together.values()):,} of them batches carrying "
            f"{sum(size * n for size, n in together.items()):,} calls, largest "
            f"{max(sizes, default=0)}")


def report(args: argparse.Namespace, binary: Path, found: Findings, promises: list[Promise],
           faults: list[Fault], nemesis_errors: list[str], seconds: float, out: Path) -> str:
    during, outside = availability(found.available_during), availability(
        found.available_outside)
    kinds: dict[str, int] = {}
    for f in faults:
        kinds[f.kind] = kinds.get(f.kind, 0) + 1
    lines = [
        f"# walletpool nemesis: {seconds:.0f} s of faults, seed {args.seed}, "
        f"replicas={args.replicas}{', fsync' if args.fsync else ''}, "
        f"{server_name(binary)} primary + {args.servers - 1} replica(s), Sentinel, "
        f"PostgreSQL{'' if args.guard else ', no min-replicas-to-write'}",
        "",
        f"operations {found.operations:,}; leases acknowledged {found.leases:,} "
        f"({found.from_reserve:,} from the reserve)",
        f"faults {len(faults)}: " + ", ".join(f"{k} x{n}" for k, n in sorted(kinds.items())),
        f"wallets held twice {len(found.doubles)} ({found.committed_doubles} of leases the "
        "database had committed)",
        f"acknowledged leases lost {len(found.lost)} "
        f"({sum(c for _, c in found.lost)} committed)",
        f"token anomalies {found.token_repeats} repeated, {found.token_backwards} backwards",
        f"availability during faults {during:.1%} ({found.available_during[0]:,} of "
        f"{found.available_during[1]:,}), outside {outside:.1%} "
        f"({found.available_outside[0]:,} of {found.available_outside[1]:,})",
        "errors " + ", ".join(f"{k} {n}" for k, n in sorted(found.errors_by_kind.items())),
        "Redis lane down (the longest stretch with no allocation served by Redis, per "
        "fault): " + "; ".join(recovery_line(found)),
        "faults of the primary: " + "; ".join(failover_lines(found)),
        coalesced(out),
    ]
    if nemesis_errors:
        lines.append("faults not made: " + "; ".join(nemesis_errors[:5]))
    lines += ["", "| promise | held | measured |", "|---|---|---|"]
    lines += [f"| {p.what} | {'yes' if p.holds else '**NO**'} | {p.measured} |"
              for p in promises]
    broken = [p for p in promises if not p.holds]
    lines += ["", "verdict: " + ("every promise held" if not broken
                                 else f"{len(broken)} promise(s) BROKEN")]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=90)
    parser.add_argument("--replicas", type=int, default=0,
                        help="WALLETPOOL_REPLICAS of the clients and the syncer")
    parser.add_argument("--fsync", action="store_true", help="WALLETPOOL_FSYNC=true")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--servers", type=int, default=3,
                        help="Redis servers: a primary and its replicas")
    parser.add_argument("--no-guard", dest="guard", action="store_false",
                        help="servers without min-replicas-to-write (to show what it stops)")
    parser.add_argument("--out", type=Path, default=None, help="histories and the report")
    args = parser.parse_args(argv)
    # SIGTERM (a CI time-out, kill) ends the run through its cleanup, not around it
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    rng = random.Random(args.seed)
    binary = pick_binary(args.fsync)
    out = args.out or Path(tempfile.mkdtemp(prefix="walletpool-chaos-"))
    out.mkdir(parents=True, exist_ok=True)
    if any(out.glob("history-*.jsonl")):
        raise SystemExit(f"chaos: {out} holds the histories of an earlier run; name an "
                         "empty folder with --out (or none: a new one is made)")
    env = {"WALLETPOOL_REPLICAS": str(args.replicas),
           "WALLETPOOL_FSYNC": "true" if args.fsync else "false",
           "WALLETPOOL_SOCKET_TIMEOUT": "1",
           "WALLETPOOL_REPLICA_TIMEOUT": "0.5"}
    # with fsync the clients wait for fsyncs: the servers make one per write, as doctor
    # asks (with everysec each allocation would wait for the next second's)
    top = Topology(out / "servers", binary, args.servers - 1, args.guard, env,
                   appendfsync="always" if args.fsync else "everysec")
    proxy: Proxy | None = None
    workers: list[tuple[str, subprocess.Popen[bytes]]] = []
    started = time.monotonic()
    try:
        print(f"chaos: starting {server_name(binary)} x{args.servers}, Sentinel, "
              f"PostgreSQL in {out}", file=sys.stderr, flush=True)
        top.postgres.settings["track_commit_timestamp"] = "on"
        top.start()
        top.fill(POOLS, RESERVE)
        top.start_syncer()
        proxy = Proxy(top.primary_port)
        until = time.monotonic() + args.seconds
        workers = start_workers(top, proxy, out, until, args.seed, env)
        print(f"chaos: {args.seconds:.0f} s of faults (seed {args.seed})", file=sys.stderr,
              flush=True)
        nemesis = Nemesis(top, proxy, rng, until, aof=power_loss(args, top))
        watching = threading.Thread(target=watch, args=(top, out / "roles.log", until),
                                    daemon=True)
        watching.start()
        threading.Thread(target=listen_switches, args=(top, out / "switches.log", until),
                         daemon=True).start()
        nemesis.run()
        crashed = finish_workers(workers, until)
        end_of_run = time.monotonic()
        print("chaos: mending, waiting for the syncer", file=sys.stderr, flush=True)
        top.mend()
        caught_up(top)
        differences, conserved = final_state(top)
        commits = commit_times(top.database_url)
        found = check(read_histories(out), commits, nemesis.faults, end_of_run,
                      read_primaries(out / "switches.log"))
        promises = verdict(found, args.replicas, args.fsync, len(top.syncer_exits), crashed,
                           differences, conserved)
        text = report(args, binary, found, promises, nemesis.faults, nemesis.errors,
                      args.seconds, out)
        (out / "report.md").write_text(text)
        (out / "faults.json").write_text(json.dumps([asdict(f) for f in nemesis.faults],
                                                    indent=1))
        print(text)
        print(f"chaos: done in {time.monotonic() - started:.0f} s; histories in {out}",
              file=sys.stderr)
        return 0 if all(p.holds for p in promises) else 1
    finally:
        for _, process in workers:
            if process.poll() is None:
                process.kill()
                process.wait()
        if proxy is not None:
            proxy.close()
        top.stop()


if __name__ == "__main__":
    sys.exit(main())

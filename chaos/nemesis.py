"""The faults, and a schedule of them that is random (from the seed) and overlapping: a
fault of the Redis servers at a time (a kill and a pause of one process would undo each
other), while faults of the database, the syncer, a client's link and the scripts come
on top of it, each thread choosing its next fault uniformly. Every fault is recorded
with its start and end on the monotonic clock."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import redis

from .proxy import Proxy
from .topology import Topology, durable_size


@dataclass
class Fault:
    kind: str
    start: float
    end: float = 0.0
    note: str = ""


def _pid(top: Topology, port: int) -> int:
    pid = top.server(port).pid
    assert pid is not None
    return pid


def kill_primary(top: Topology, rng: random.Random) -> str:
    """SIGKILL the primary; its supervisor restarts it 0.5-4 s later (sooner or later
    than Sentinel's failover), with everything its AOF had."""
    port = top.primary_port()
    top.server(port).kill()
    time.sleep(rng.uniform(0.5, 4.0))
    top.restart(top.server(port), None)
    return f"port {port}"


def pause_primary(top: Topology, rng: random.Random) -> str:
    """SIGSTOP the primary 1-6 s (a GC pause, a VM stall, a partition), then SIGCONT."""
    port = top.primary_port()
    pid = _pid(top, port)
    seconds = rng.uniform(1.0, 6.0)
    os.kill(pid, signal.SIGSTOP)
    try:
        time.sleep(seconds)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)
    return f"port {port}, {seconds:.1f} s"


def stall_then_kill(top: Topology, rng: random.Random) -> str:
    """Freeze the replicas 0.2-1 s so they miss the primary's last writes, kill the
    primary, let them go on: Sentinel promotes one that lacks them."""
    port = top.primary_port()
    replicas = [_pid(top, r.port) for r in top.replicas_of(port)]
    for pid in replicas:
        os.kill(pid, signal.SIGSTOP)
    try:
        time.sleep(rng.uniform(0.2, 1.0))
        top.server(port).kill()
    finally:
        for pid in replicas:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
    time.sleep(rng.uniform(1.0, 4.0))
    top.restart(top.server(port), None)
    return f"port {port}"


def aof_cut(top: Topology, rng: random.Random) -> str:
    """A power loss of the primary: it dies, and its AOF keeps what it had fsynced and a
    random part of what it had not (appendfsync everysec: up to a second of writes);
    it restarts 0.5-3 s later. What was fsynced is known from chaos/fsync_log.c."""
    assert top.fsync_log is not None
    port = top.primary_port()
    server = top.server(port)
    server.kill()
    aof = newest_aof(server.data_dir)
    cut = 0
    if aof is not None:
        size = aof.stat().st_size
        kept = rng.randint(min(durable_size(top.fsync_log, aof), size), size)
        cut = size - kept
        with open(aof, "r+b") as f:
            f.truncate(kept)
    time.sleep(rng.uniform(0.5, 3.0))
    top.restart(server, None)
    return f"port {port}, {cut} bytes not fsynced lost"


def newest_aof(folder: Path) -> Path | None:
    """The file the server appends to: appendonly.aof (Redis 6.2), or the newest
    .incr.aof of appendonlydir (Redis 7+, Valkey)."""
    single = folder / "appendonly.aof"
    if single.exists():
        return single
    parts = sorted((folder / "appendonlydir").glob("*.incr.aof"), key=lambda p: p.stat().st_mtime)
    return parts[-1] if parts else None


def kill_replica(top: Topology, rng: random.Random) -> str:
    """SIGKILL a replica; it comes back 0.5-4 s later as a replica of the primary."""
    port = top.primary_port()
    replica = rng.choice(top.replicas_of(port))
    replica.kill()
    time.sleep(rng.uniform(0.5, 4.0))
    top.restart(replica, top.primary_port())
    return f"port {replica.port}"


def partition(top: Topology, rng: random.Random, proxy: Proxy) -> str:
    """Cut one worker off its primary 1-5 s (the proxy between them holds every byte)."""
    seconds = rng.uniform(1.0, 5.0)
    proxy.blackhole(True)
    try:
        time.sleep(seconds)
    finally:
        proxy.blackhole(False)
    return f"{seconds:.1f} s"


def kill_syncer(top: Topology, rng: random.Random) -> str:
    top.kill_syncer()
    time.sleep(rng.uniform(0.5, 3.0))
    top.start_syncer()
    return ""


def restart_database(top: Topology, rng: random.Random) -> str:
    """SIGKILL PostgreSQL, start it again 1-5 s later."""
    top.postgres.kill()
    time.sleep(rng.uniform(1.0, 5.0))
    top.postgres.start()
    return ""


def client_kill(top: Topology, rng: random.Random) -> str:
    with redis.Redis(port=top.primary_port(), socket_timeout=2) as p:
        killed = p.execute_command("CLIENT", "KILL", "TYPE", "normal")
    return f"{killed} connections"


def script_flush(top: Topology, rng: random.Random) -> str:
    with redis.Redis(port=top.primary_port(), socket_timeout=2) as p:
        p.script_flush()
        with contextlib.suppress(redis.ResponseError):  # Redis 6.2 has no functions
            p.function_flush()
    return ""


SERVER_FAULTS: dict[str, Callable[[Topology, random.Random], str]] = {
    "kill primary": kill_primary,
    "pause primary": pause_primary,
    "stall replication, kill": stall_then_kill,
    "power loss (AOF cut)": aof_cut,
    "kill replica": kill_replica,
}
PRIMARY_FAULTS = ("kill primary", "pause primary", "stall replication, kill",
                  "power loss (AOF cut)")
"""The faults that take the primary away: the ones a failover may answer."""
OTHER_FAULTS: dict[str, Callable[[Topology, random.Random], str]] = {
    "kill syncer": kill_syncer,
    "restart database": restart_database,
    "CLIENT KILL": client_kill,
    "SCRIPT/FUNCTION FLUSH": script_flush,
}


GAP = (2.0, 6.0)
"""Seconds between one fault's end and the next one's start, in each of the two
threads: with the faults' own lengths, about one fault every 3 s in all."""


class Nemesis:
    """Runs faults until `until`: one thread for the servers' faults, one for the
    others, each with random gaps, so that faults overlap at random."""

    def __init__(self, top: Topology, proxy: Proxy, rng: random.Random, until: float,
                 aof: bool) -> None:
        self.top = top
        self.proxy = proxy
        self.rng = rng
        self.until = until
        self.faults: list[Fault] = []
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self.server_faults = dict(SERVER_FAULTS)
        if not aof:
            del self.server_faults["power loss (AOF cut)"]
        self.other_faults = {**OTHER_FAULTS,
                             "partition a client": lambda t, r: partition(t, r, proxy)}

    def run(self) -> None:
        threads = [threading.Thread(target=self._loop, args=(faults, seed))
                   for seed, faults in enumerate((self.server_faults, self.other_faults))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _loop(self, faults: dict[str, Callable[[Topology, random.Random], str]],
              seed: int) -> None:
        rng = random.Random(self.rng.random() + seed)
        while time.monotonic() < self.until - 1:
            time.sleep(rng.uniform(*GAP))
            if time.monotonic() >= self.until - 1:
                return
            kind = rng.choice(sorted(faults))
            fault = Fault(kind, time.monotonic())
            try:
                fault.note = faults[kind](self.top, rng)
            except Exception as exc:  # a fault that could not be made is reported
                fault.note = f"not made: {type(exc).__name__}: {exc}"
                self.errors.append(f"{kind}: {exc}")
            fault.end = time.monotonic()
            with self._lock:
                self.faults.append(fault)
            self.top.check_syncer()

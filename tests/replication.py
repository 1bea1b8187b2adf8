"""A primary and its replica on loopback, from one server binary, for the replication
and failover tests: the replica can be stalled (SIGSTOP), so that it misses writes the
primary goes on acknowledging, and promoted, as a failover would."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import redis

from walletpool.dev.redis_server import RedisServer, free_port


class Replicated:
    def __init__(self, data_dir: Path, binary: Path) -> None:
        # replicas sync at once, not after the default 5 s wait for more of them
        quick = ["--repl-diskless-sync-delay", "0"]
        self.primary = RedisServer(data_dir / "primary", binary=binary, extra_args=quick)
        self.replica = RedisServer(data_dir / "replica", binary=binary, extra_args=[
            *quick, "--replicaof", "127.0.0.1", str(self.primary.port)])
        self.stalled_at: float | None = None
        """time.time() when `stall` froze the replica: writes after it, it lacks."""

    def start(self) -> Replicated:
        self.primary.start()
        self.replica.start()
        self.wait_in_sync()
        return self

    def wait_in_sync(self, timeout: float = 10.0) -> None:
        """Until the replica's link is up and it has all the primary wrote."""
        deadline = time.monotonic() + timeout
        with redis.Redis(port=self.primary.port) as p, redis.Redis(port=self.replica.port) as r:
            while time.monotonic() < deadline:
                info = r.info("replication")
                if (info.get("master_link_status") == "up"
                        and p.execute_command("WAIT", 1, 100) >= 1):
                    return
                time.sleep(0.02)
        raise RuntimeError("the replica did not catch up with its primary")

    def stall(self, cut: bool = False) -> None:
        """Freeze the replica: it acknowledges nothing, and misses what comes next.
        With `cut` the primary also drops the link, so that what it writes from now on
        waits in no socket buffer either: a promotion, however late, lacks it."""
        os.kill(self._pid(self.replica), signal.SIGSTOP)
        self.stalled_at = time.time()
        if cut:
            with redis.Redis(port=self.primary.port) as primary:
                primary.execute_command("CLIENT", "KILL", "TYPE", "replica")

    def resume(self) -> None:
        with contextlib.suppress(ProcessLookupError):  # it was stopped already
            os.kill(self._pid(self.replica), signal.SIGCONT)

    def fail_over(self, promote: bool = True) -> None:
        """The primary dies (SIGKILL) and the replica, stalled or not, is promoted (by
        this test, or with `promote` False by a Sentinel)."""
        self.primary.kill()
        self.resume()
        if not promote:
            return
        with redis.Redis(port=self.replica.port) as r:
            deadline = time.monotonic() + 10
            while True:
                try:
                    r.execute_command("REPLICAOF", "NO", "ONE")
                    break
                except redis.exceptions.BusyLoadingError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)

    def stop(self) -> None:
        self.resume()
        self.replica.stop()
        self.primary.stop()

    @staticmethod
    def _pid(server: RedisServer) -> int:
        assert server.pid is not None
        return server.pid


SERVICE = "walletpool"


class Sentinels:
    """Sentinel processes watching a primary as service SERVICE, quick to act: a
    primary silent for 1 s is down, and one sentinel's vote is a quorum."""

    def __init__(self, data_dir: Path, binary: Path, primary_port: int, count: int = 1) -> None:
        self.data_dir = data_dir
        self.binary = binary
        self.primary_port = primary_port
        self.ports = [free_port() for _ in range(count)]
        self.processes: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{p}" for p in self.ports)
        return f"redis+sentinel://{hosts}/{SERVICE}"

    def start(self) -> Sentinels:
        for port in self.ports:
            folder = self.data_dir / f"sentinel-{port}"
            folder.mkdir(parents=True, exist_ok=True)
            conf = folder / "sentinel.conf"
            conf.write_text("\n".join([
                f"port {port}", "bind 127.0.0.1", f"dir {folder}", "logfile sentinel.log",
                f"sentinel monitor {SERVICE} 127.0.0.1 {self.primary_port} 1",
                f"sentinel down-after-milliseconds {SERVICE} 1000",
                f"sentinel failover-timeout {SERVICE} 10000", ""]))
            self.processes.append(subprocess.Popen(
                [str(self.binary), str(conf), "--sentinel"], stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, start_new_session=True))
        for port in self.ports:
            self._wait_watching(port)
        return self

    def primary_port_now(self, port: int | None = None) -> int:
        with redis.Redis(port=port or self.ports[0], decode_responses=True) as s:
            _, found = s.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE)
            return int(found)

    def wait_promoted(self, old_port: int, timeout: float = 20.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            port = self.primary_port_now()
            if port != old_port:
                return port
            time.sleep(0.05)
        raise RuntimeError("Sentinel did not fail the primary over")

    def _wait_watching(self, port: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with redis.Redis(port=port, decode_responses=True) as s:
                    replicas = s.execute_command("SENTINEL", "REPLICAS", SERVICE)
                    if replicas:
                        return
            except redis.ConnectionError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"the sentinel on port {port} did not find the replica")

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
            process.wait(timeout=10)

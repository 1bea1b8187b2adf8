"""The processes of a nemesis run, all on loopback and all stopped by pid at the end: a
primary and its replicas (one binary, AOF everysec), a Sentinel, a PostgreSQL, the
syncer (`walletpool sync` on the Sentinel URL) and the workers. Every server starts as a
primary and the replicas are attached by REPLICAOF, so a server restarted after a crash
comes back believing it is a primary, as one whose supervisor restarts it does, until
Sentinel demotes it."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis

from walletpool import WalletPool
from walletpool.dev.postgres_server import PostgresServer
from walletpool.dev.redis_server import RedisServer, free_port
from walletpool.store.engine import create_engine
from walletpool.store.migrations import upgrade

SERVICE = "walletpool"
ROOT = Path(__file__).resolve().parent.parent


def build_fsync_log(folder: Path) -> Path | None:
    """chaos/fsync_log.c built into `folder`, or None when the machine has no C compiler."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        return None
    library = folder / "libfsynclog.so"
    done = subprocess.run([compiler, "-shared", "-fPIC", "-O2", "-o", str(library),
                           str(Path(__file__).with_name("fsync_log.c")), "-ldl"],
                          capture_output=True, text=True)
    return library if done.returncode == 0 else None


def durable_size(log: Path, aof: Path) -> int:
    """The size `aof` had when its last successful fsync began: a power loss keeps at
    least that much of it (0 when it was never fsynced)."""
    size = 0
    if log.exists():
        for line in log.read_text().splitlines():
            path, _, text = line.rpartition(" ")
            if path == str(aof) and text.isdigit():
                size = int(text)
    return size


class Topology:
    def __init__(self, folder: Path, binary: Path, replicas: int, guard: bool,
                 env: dict[str, str], appendfsync: str = "everysec") -> None:
        """`replicas`: replica servers beside the primary. `guard`: the servers refuse
        writes with no replica attached (min-replicas-to-write 1, max lag 2 s), the
        setting `walletpool doctor` asks for where a primary has replicas. `env`: the
        settings of the syncer and the workers (WALLETPOOL_REPLICAS, ...).
        `appendfsync`: the servers' AOF policy (`always` where the clients wait for
        fsyncs, as doctor asks)."""
        self.folder = folder
        self.binary = binary
        self.env = env
        extra = ["--repl-diskless-sync-delay", "0"]
        if guard:
            extra += ["--min-replicas-to-write", "1", "--min-replicas-max-lag", "2"]
        folder.mkdir(parents=True, exist_ok=True)
        self.fsync_log: Path | None = None
        """Where the servers note what they fsynced of their AOF (chaos/fsync_log.c);
        None when no C compiler could build the library that notes it."""
        preload = build_fsync_log(folder)
        server_env: dict[str, str] | None = None
        if preload is not None:
            self.fsync_log = folder / "fsynced.log"
            server_env = {"LD_PRELOAD": str(preload),
                          "WALLETPOOL_FSYNC_LOG": str(self.fsync_log)}
        self.servers = [RedisServer(folder / f"redis-{i}", binary=binary, extra_args=extra,
                                    env=server_env, appendfsync=appendfsync)
                        for i in range(1 + replicas)]
        self.sentinel_port = free_port()
        self.sentinel: subprocess.Popen[bytes] | None = None
        self.postgres = PostgresServer(folder / "postgres")
        self.syncer: subprocess.Popen[bytes] | None = None
        self.syncer_exits: list[tuple[float, int]] = []
        """(when, exit code) of each syncer that exited without being told to."""
        self.syncer_log = folder / "syncer.log"

    # -- start ------------------------------------------------------------------------------

    def start(self) -> None:
        for server in self.servers:
            server.start()
        primary = self.servers[0]
        for replica in self.servers[1:]:
            with redis.Redis(port=replica.port) as r:
                r.execute_command("REPLICAOF", "127.0.0.1", primary.port)
        self._wait_replicas_in_sync(primary.port, len(self.servers) - 1)
        self._start_sentinel(primary.port)
        self.postgres.start()
        engine = create_engine(self.postgres.url)
        upgrade(engine)
        engine.dispose()

    def _wait_replicas_in_sync(self, port: int, count: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        with redis.Redis(port=port) as p:
            while time.monotonic() < deadline:
                if count == 0 or int(p.execute_command("WAIT", count, 100)) >= count:
                    return
                time.sleep(0.05)
        raise RuntimeError(f"the replicas of port {port} did not catch up")

    def _start_sentinel(self, primary_port: int) -> None:
        folder = self.folder / "sentinel"
        folder.mkdir(parents=True, exist_ok=True)
        conf = folder / "sentinel.conf"
        conf.write_text("\n".join([
            f"port {self.sentinel_port}", "bind 127.0.0.1", f"dir {folder}",
            "logfile sentinel.log",
            f"sentinel monitor {SERVICE} 127.0.0.1 {primary_port} 1",
            f"sentinel down-after-milliseconds {SERVICE} 1000",
            f"sentinel failover-timeout {SERVICE} 6000",
            f"sentinel parallel-syncs {SERVICE} 1", ""]))
        self.sentinel = subprocess.Popen([str(self.binary), str(conf), "--sentinel"],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                         start_new_session=True)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.RedisError), \
                    redis.Redis(port=self.sentinel_port, decode_responses=True) as s:
                if len(s.execute_command("SENTINEL", "REPLICAS", SERVICE)) >= \
                        len(self.servers) - 1:
                    return
            time.sleep(0.05)
        raise RuntimeError("the sentinel did not find the replicas")

    @property
    def url(self) -> str:
        return f"redis+sentinel://127.0.0.1:{self.sentinel_port}/{SERVICE}"

    @property
    def database_url(self) -> str:
        return self.postgres.url

    def fill(self, pools: dict[str, int], reserve: int) -> None:
        """The pools and their wallets (plain network: the checks are the engine's), a
        reserve in the database for each pool large enough to spare one."""
        with WalletPool.from_url(self.url, database_url=self.database_url) as pool:
            for name, wallets in pools.items():
                pool.configure(name, lease_ttl=30, cooldown=0, max_size=10 * wallets,
                               network="plain", reserve=reserve if wallets > reserve else 0,
                               max_waiters=10)
                pool.add(name, [f"{name.lower()}-w{i:04d}" for i in range(wallets)])

    # -- the processes the nemesis acts on ---------------------------------------------

    def primary_port(self) -> int:
        """The primary as Sentinel names it now."""
        with redis.Redis(port=self.sentinel_port, decode_responses=True,
                         socket_timeout=2) as s:
            _, port = s.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE)
            return int(port)

    def server(self, port: int) -> RedisServer:
        return next(s for s in self.servers if s.port == port)

    def restart(self, server: RedisServer, replica_of: int | None) -> None:
        """Start a killed server again, as its supervisor would with the role its
        configuration file gives it (Sentinel rewrites that file when it changes a
        server's role): a replica comes back a replica of `replica_of`, a primary comes
        back a primary, believing it still is one until Sentinel demotes it."""
        server.start(timeout=30)
        if replica_of is not None and replica_of != server.port:
            with redis.Redis(port=server.port, socket_timeout=5) as r:
                r.execute_command("REPLICAOF", "127.0.0.1", replica_of)

    def replicas_of(self, port: int) -> list[RedisServer]:
        return [s for s in self.servers if s.port != port]

    def start_syncer(self) -> None:
        env = {**os.environ, **self.env, "REDIS_URL": self.url}
        with open(self.syncer_log, "a") as log:
            self.syncer = subprocess.Popen(
                [sys.executable, "-m", "walletpool.cli", "sync", "--database-url",
                 self.database_url, "--block", "0.1", "--claim-idle", "5",
                 "--rebalance-every", "2"],
                stdout=log, stderr=log, env=env, cwd=ROOT, start_new_session=True)

    def check_syncer(self) -> None:
        """Note a syncer that exited without being told to, and start it again (as its
        supervisor would)."""
        if self.syncer is not None and self.syncer.poll() is not None:
            self.syncer_exits.append((time.monotonic(), self.syncer.returncode))
            self.start_syncer()

    def kill_syncer(self) -> None:
        if self.syncer is not None:
            with contextlib.suppress(ProcessLookupError):
                self.syncer.kill()
            self.syncer.wait()
            self.syncer = None

    def roles(self) -> dict[int, str]:
        """Each server's view of itself: role, replicas attached or link state, and
        min-replicas' count of good replicas; 'down' when it does not answer."""
        seen = {}
        for server in self.servers:
            try:
                with redis.Redis(port=server.port, socket_timeout=0.2, decode_responses=True,
                                 socket_connect_timeout=0.2) as r:
                    info = r.info("replication")
                    seen[server.port] = (
                        f"master, {info['connected_slaves']} replicas, "
                        f"{info.get('min_slaves_good_slaves', '-')} good"
                        if info["role"] == "master" else
                        f"replica of {info['master_port']}, link {info['master_link_status']}")
            except redis.RedisError as exc:
                seen[server.port] = f"down ({type(exc).__name__})"
        return seen

    # -- the end ------------------------------------------------------------------------

    def mend(self) -> None:
        """After the faults: every server running and resumed, the database up, a syncer
        running, Sentinel's primary answering with its replicas attached."""
        for server in self.servers:
            if server.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(server.pid, signal.SIGCONT)
            if server.process is None or server.process.poll() is not None:
                server.start(timeout=30)
        if self.postgres.process is None or self.postgres.process.poll() is not None:
            self.postgres.start()
        self.check_syncer()
        if self.syncer is None:
            self.start_syncer()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.RedisError, ValueError):
                port = self.primary_port()
                with redis.Redis(port=port, socket_timeout=2) as p:
                    info = p.info("replication")
                    if info["role"] == "master" and \
                            int(info["connected_slaves"]) >= len(self.servers) - 1:
                        self._wait_replicas_in_sync(port, len(self.servers) - 1, timeout=10)
                        return
            time.sleep(0.2)
        raise RuntimeError("the servers did not settle after the faults")

    def stop(self) -> None:
        self.kill_syncer()
        if self.sentinel is not None:
            self.sentinel.terminate()
            try:
                self.sentinel.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.sentinel.kill()
                self.sentinel.wait()
        for server in self.servers:
            if server.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(server.pid, signal.SIGCONT)
            server.kill()
        self.postgres.remove()

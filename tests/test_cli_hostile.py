"""Every command against hostile and mistyped input (issue 27, item 6): a bad URL of each
kind, a database that is not one walletpool can use, a missing file, a wrong type, Ctrl-C.
Each ends with the exit code the documented table gives and one line, never a traceback."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from walletpool import AsyncWalletPool, InvalidInput, WalletPool
from walletpool.cli import EXIT_INTERRUPTED, main
from walletpool.dev.redis_server import RedisServer
from walletpool.store.engine import FORMS, create_engine
from walletpool.store.migrations import upgrade
from walletpool.syncer import lag

# Every command that talks to Redis, with the arguments it needs to get that far.
ON_REDIS: dict[str, list[str]] = {
    "pools": [], "import": ["COIN", "-"], "allocate": ["COIN", "o1"],
    "release": ["COIN", "o1"], "extend": ["COIN", "o1"], "stats": [], "peek": ["COIN"],
    "reap": [], "upgrade": [], "retire": ["COIN", "w1"], "configure": ["COIN"],
    "sync": ["--once"], "rebalance": [], "heal": [], "restore": [], "reconcile": [],
    "acl": [], "doctor": []}
SERVES = {"metrics"}  # serves until stopped, whatever Redis does: its scrapes report it
ON_DATABASE = ["sync", "rebalance", "heal", "restore", "reconcile", "doctor"]


def _commands() -> dict[str, click.Command]:
    found: dict[str, click.Command] = {}
    for name, command in main.commands.items():
        if isinstance(command, click.Group):
            found.update({f"{name} {sub}": c for sub, c in command.commands.items()})
        else:
            found[name] = command
    return found


def _ends_cleanly(result: Result) -> None:
    """One line of error at most, an exit code of the table, and no traceback."""
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        result.exception
    assert "Traceback" not in result.output


@pytest.fixture
def database(tmp_path: Path) -> str:
    """A database with the schema, so that only Redis can be what is wrong."""
    url = f"sqlite:///{tmp_path / 'ok.db'}"
    engine = create_engine(url, create=True)
    upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture
def not_redis() -> Iterator[int]:
    """A port that answers, but not as a Redis does (an HTTP server's reply)."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.recv(100)
                conn.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    listener.close()


def _closed_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return int(probe.getsockname()[1])


def test_the_sweep_covers_every_command() -> None:
    """A new command joins a list below, or the sweep would miss it."""
    assert set(_commands()) == {*ON_REDIS, *SERVES, "db upgrade", "up", "down", "demo",
                                "quickstart"}


@pytest.mark.parametrize("kind", ["scheme", "port", "closed", "dbindex", "not-redis",
                                  "sentinel"])
@pytest.mark.parametrize("where", ["before", "after"])
def test_every_command_refuses_each_kind_of_bad_redis_url(
        kind: str, where: str, redis_server: RedisServer, database: str, not_redis: int
        ) -> None:
    """Exit 2 for a URL that names the wrong thing (no wait cures it), 3 for a Redis
    that is not there; the URL goes before the command or after it (item 7)."""
    url = {"scheme": "foo", "port": "redis://127.0.0.1:notaport",
           "closed": f"redis://127.0.0.1:{_closed_port()}",
           "dbindex": f"{redis_server.url.rsplit('/', 1)[0]}/99999",
           "not-redis": f"redis://127.0.0.1:{not_redis}",
           "sentinel": f"redis+sentinel://127.0.0.1:{redis_server.port}/mymaster"}[kind]
    said = {"scheme": "bad Redis URL", "port": "bad Redis URL", "closed": "is unavailable",
            "dbindex": "has no such database", "not-redis": "does not answer as a Redis does",
            "sentinel": "names a Redis, not a Sentinel"}[kind]
    runner = CliRunner()
    for name, args in ON_REDIS.items():
        uses_database = ["--database-url", database] if name in ON_DATABASE else []
        argv = (["--redis-url", url, name, *args, *uses_database] if where == "before"
                else [name, *args, *uses_database, "--redis-url", url])
        result = runner.invoke(main, argv, input="")
        _ends_cleanly(result)
        if name == "restore":  # an empty database: nothing to restore, Redis never asked
            assert result.exit_code in (0, 2), (name, result.output)
            continue
        expected = 3 if kind == "closed" else 2
        assert result.exit_code == expected, (name, result.output)
        assert said in result.output, (name, result.output)
        assert len(result.output.strip().splitlines()) == 1, (name, result.output)


@pytest.mark.parametrize("kind", ["mysql", "bare-file", "not-a-url", "asyncio-driver",
                                  "missing-file", "unreachable"])
def test_every_database_command_refuses_each_kind_of_bad_database_url(
        kind: str, redis_server: RedisServer, tmp_path: Path) -> None:
    """Exit 2 with the forms a URL takes for one walletpool cannot use; 1 (run `db
    upgrade`) for a SQLite file that does not exist, which no command creates but `db
    upgrade`; 3 for a database that is not there."""
    missing = tmp_path / "missing.db"
    url = {"mysql": "mysql://user@host/db", "bare-file": "walletpool.db", "not-a-url": "::::",
           "asyncio-driver": "postgresql+asyncpg://user@host/db",
           "missing-file": f"sqlite:///{missing}",
           "unreachable": f"postgresql://user:secret@127.0.0.1:{_closed_port()}/db"}[kind]
    runner = CliRunner()
    for name in ON_DATABASE:
        result = runner.invoke(main, ["--redis-url", redis_server.url, name,
                                      *ON_REDIS[name], "--database-url", url])
        _ends_cleanly(result)
        if kind == "missing-file":
            assert result.exit_code == 1 and "run `walletpool db upgrade`" in result.output
            assert not missing.exists(), name  # issue 27, item 7: no empty file left
        elif kind == "unreachable":
            expected = 1 if name == "doctor" else 3  # doctor: a FAIL line among its checks
            assert result.exit_code == expected and "secret" not in result.output
        elif kind == "asyncio-driver" and name == "doctor":
            assert result.exit_code == 1 and "FAIL  database:" in result.output
        else:
            assert result.exit_code == 2, (name, result.output)
            assert FORMS in result.output and "Traceback" not in result.output
            assert len(result.output.strip().splitlines()) == 1, (name, result.output)
    if kind != "missing-file":
        created = runner.invoke(main, ["db", "upgrade", "--database-url", url])
        _ends_cleanly(created)
        assert created.exit_code == (3 if kind == "unreachable" else 2), created.output


@pytest.mark.parametrize("client", [WalletPool, AsyncWalletPool])
def test_a_client_refuses_a_database_url_it_cannot_use_when_made(
        client: Any, redis_server: RedisServer) -> None:
    """At construction, not at the first fallback to the reserve during an outage."""
    for url in ("mysql://user@host/db", "walletpool.db"):
        with pytest.raises(InvalidInput, match="postgresql://USER:PASSWORD@HOST"):
            client.from_url(redis_server.url, database_url=url)


def test_missing_files_and_wrong_types_are_usage_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    for argv in (["import", "COIN", str(tmp_path / "nowhere.csv")],
                 ["allocate", "COIN", "o1", "--ttl", "soon"], ["up", "--port", "0"],
                 ["configure", "COIN", "--max-size", "many"], ["metrics", "--port", "http"],
                 ["sync", "--batch-size", "0"], ["stats", "--replicas", "two"]):
        result = runner.invoke(main, ["--redis-url", "redis://127.0.0.1:1", *argv])
        _ends_cleanly(result)
        assert result.exit_code == 2, (argv, result.output)


class _Interrupted:
    """Stands for whatever a command does first: Ctrl-C arrives there."""

    @staticmethod
    def from_url(*_args: object, **_kwargs: object) -> None:
        raise KeyboardInterrupt

    def __call__(self, *_args: object, **_kwargs: object) -> None:
        raise KeyboardInterrupt


def test_ctrl_c_ends_every_command_with_130(monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    interrupted = _Interrupted()
    monkeypatch.setattr("walletpool.cli.shared.WalletPool", interrupted)
    for target in ("walletpool.store.migrations.upgrade", "walletpool.dev.redis_server.up",
                   "walletpool.dev.redis_server.down", "walletpool.dev.demo.run",
                   "walletpool.dev.quickstart.run"):
        monkeypatch.setattr(target, interrupted)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    args = {**ON_REDIS, **{name: [] for name in _commands() if name not in ON_REDIS}}
    for name, rest in args.items():
        result = runner.invoke(main, [*name.split(), *rest], input="")
        _ends_cleanly(result)
        assert result.exit_code == EXIT_INTERRUPTED, (name, result.output)
        assert "interrupted" in result.output


def test_ctrl_c_under_json_is_a_json_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("walletpool.cli.shared.WalletPool", _Interrupted())
    result = CliRunner().invoke(main, ["stats", "--json"])
    assert result.exit_code == EXIT_INTERRUPTED
    assert json.loads(result.output) == {"error": "Interrupted",
                                         "message": "interrupted (Ctrl-C)", "exit_code": 130}


def _walletpool(*args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WALLETPOOL_")}
    return subprocess.Popen([sys.executable, "-m", "walletpool", *args], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def _until(condition: Any, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout  # a bound for a stuck run, not a measurement
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_ctrl_c_on_a_waiting_allocate_withdraws_and_exits_130(
        redis_server: RedisServer, sync_pool: WalletPool) -> None:
    sync_pool.configure("CASH")  # a plain pool, made on purpose
    sync_pool.add("CASH", ["w1"])
    first = sync_pool.allocate("CASH", "first")
    run = _walletpool("--redis-url", redis_server.url, "allocate", "CASH", "second",
                      "--wait", "300")
    _until(lambda: sync_pool.stats("CASH").waiting == 1, "the allocate never waited")
    run.send_signal(signal.SIGINT)
    out, err = run.communicate(timeout=60)
    assert run.returncode == EXIT_INTERRUPTED, err
    assert out == "" and "Traceback" not in err and "interrupted" in err
    assert sync_pool.stats("CASH").waiting == 0  # it withdrew
    sync_pool.release(first)
    assert sync_pool.get_lease("CASH", "second") is None  # nothing handed to it


def test_ctrl_c_stops_the_syncer_cleanly_with_130(
        redis_server: RedisServer, sync_pool: WalletPool, database: str) -> None:
    """SIGTERM is the service manager's clean stop (exit 0); Ctrl-C the same, with 130."""
    sync_pool.configure("CASH")  # a plain pool, made on purpose
    sync_pool.add("CASH", ["w1"])
    run = _walletpool("--redis-url", redis_server.url, "sync", "--database-url", database,
                      "--block", "0.05")
    prefix = sync_pool.settings.prefix
    _until(lambda: lag(sync_pool.redis, prefix, "CASH").unsynced == 0, "it never synced")
    run.send_signal(signal.SIGINT)
    out, err = run.communicate(timeout=60)
    assert run.returncode == EXIT_INTERRUPTED, err
    assert out.startswith("committed ") and "Traceback" not in err

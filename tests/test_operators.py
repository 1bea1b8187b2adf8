"""The operator's side (issue "Operators"): each defect found by trying the command line
as a new operator would, reproduced here, so that it stays fixed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa
from click.testing import CliRunner

from tests.conftest import Cli, fresh_database, on_first_server
from walletpool import PoolNotFound, WalletNotFound, WalletPool
from walletpool.chains import network, sample_addresses
from walletpool.cli import main
from walletpool.dev.postgres_server import PostgresServer
from walletpool.dev.redis_server import RedisServer, free_port
from walletpool.store import schema
from walletpool.testing import freeze_clock, shift_clock

ETH = sample_addresses("eth", 3)  # lowercase, as the pool stores them
SHOWN = [network("eth").show(a) for a in ETH]  # EIP-55, as people copy them
# The command line is the same on every server: its tests run on the first one.
pytestmark = on_first_server




def test_retire_takes_the_address_as_allocate_prints_it_and_refuses_an_unknown_one(
        cli: Cli, sync_pool: WalletPool) -> None:
    """Defect 1: the EIP-55 form that `allocate` prints missed the stored lowercase one,
    so a compromised wallet stayed in service while `retire` exited 0."""
    assert cli("import", "ETH", "-", input="\n".join(ETH)).exit_code == 0
    printed = cli("allocate", "ETH", "r1").output.split()[0]
    assert printed != printed.lower()  # the checksummed form people copy
    retired = cli("retire", "ETH", printed)
    assert (retired.exit_code, retired.output.strip()) == (0, f"{printed}: retired")
    stats = sync_pool.stats("ETH")
    assert (stats.retired, stats.leased) == (1, 0)
    assert sync_pool.retire("ETH", printed.lower()) is False  # any form: already retired

    unknown = sample_addresses("eth", 1, seed=7)[0]
    refused = cli("retire", "ETH", ETH[1], unknown)
    assert refused.exit_code == 1
    assert f"{ETH[1]}: retired" in refused.output
    assert (f"error: WalletNotFound: pool ETH has no wallet {unknown.lower()}: nothing "
            "retired") in refused.output
    with pytest.raises(WalletNotFound) as caught:
        sync_pool.retire("ETH", unknown)
    assert (caught.value.pool, caught.value.address) == ("ETH", unknown.lower())
    assert cli("retire", "ETH", "0xnot-an-address").exit_code == 2  # InvalidAddress


def test_commands_on_a_pool_that_does_not_exist_say_so(cli: Cli, sync_pool: WalletPool) -> None:
    """Defect 8: `peek NOPE`, `reap NOPE` and `retire NOPE x` exited 0."""
    for args in (["peek", "NOPE"], ["reap", "NOPE"], ["retire", "NOPE", "x"]):
        result = cli(*args)
        assert result.exit_code == 2, args
        assert "PoolNotFound: pool NOPE does not exist" in result.output, args
    with pytest.raises(PoolNotFound):
        sync_pool.peek("NOPE")
    with pytest.raises(PoolNotFound):
        sync_pool.reap("NOPE")


def test_every_command_shows_the_checksummed_form_of_an_address(cli: Cli) -> None:
    """Defect 10: `peek` and `release` printed the stored lowercase form."""
    cli("import", "ETH", "-", input="\n".join(ETH))
    assert cli("peek", "ETH").output.split() == SHOWN
    assert cli("allocate", "ETH", "r1").output.split()[0] == SHOWN[0]
    assert cli("extend", "ETH", "r1", "--ttl", "60").output.split()[0] == SHOWN[0]
    assert cli("release", "ETH", "r1").output.strip() == f"released {SHOWN[0]} (now free)"


def test_releasing_an_expired_lease_says_when_it_expired_and_what_that_means(
        cli: Cli, sync_pool: WalletPool) -> None:
    """Defect 6: the CLI said only "owner o2 holds no live lease"; deadlines were raw epochs."""
    cli("configure", "CASH")  # a plain pool, made on purpose
    cli("import", "CASH", "-", input="l1\nl2\n")
    freeze_clock(sync_pool, "CASH", 1_800_000_000.0)
    allocated = cli("allocate", "CASH", "o2", "--ttl", "10").output
    assert "expires=2027-01-15 08:00:10.000 UTC" in allocated  # no raw epoch
    shift_clock(sync_pool, "CASH", 11)
    late = cli("release", "CASH", "o2")
    assert late.exit_code == 1
    assert ("lease of l1 in pool CASH for owner o2 (token " in late.output
            and "is lost: it expired at 2027-01-15 08:00:10.000 UTC and was reclaimed; "
                "the wallet may already serve another order" in late.output)
    sync_pool.reap("CASH")
    settled = cli("release", "CASH", "o2")
    assert settled.exit_code == 1
    assert "it was released, or it expired and was reclaimed" in settled.output


RUNNING: list[subprocess.Popen[str]] = []


@pytest.fixture(autouse=True)
def _no_process_left() -> Iterator[None]:
    """A command a test started and that did not end (the defect at hand) is killed."""
    yield
    while RUNNING:
        process = RUNNING.pop()
        if process.poll() is None:
            process.kill()
            process.wait()


def _walletpool(*args: str, stderr: Path) -> subprocess.Popen[str]:
    """`python -m walletpool ARGS` in the background, its stderr to a file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WALLETPOOL_")}
    with stderr.open("w") as err:  # the child has its own descriptor
        process = subprocess.Popen([sys.executable, "-m", "walletpool", *args], text=True,
                                   stdout=subprocess.PIPE, stderr=err, env=env)
    RUNNING.append(process)
    return process


def test_sync_once_before_db_upgrade_reports_the_schema_and_exits(
        redis_server: RedisServer, sync_pool: WalletPool, tmp_path: Path) -> None:
    """Defect 3: it retried "no such table" every 5 s, forever."""
    sync_pool.configure("CASH")  # a plain pool, made on purpose
    sync_pool.add("CASH", ["l1"])
    run = _walletpool("--redis-url", redis_server.url, "sync", "--once",
                      "--database-url", f"sqlite:///{tmp_path / 'empty.db'}",
                      stderr=tmp_path / "err")
    run.communicate(timeout=60)
    err = (tmp_path / "err").read_text()
    assert run.returncode == 1
    assert "run `walletpool db upgrade`" in err and "Traceback" not in err


@pytest.mark.parametrize("once", [False, True], ids=["sync", "sync-once"])
def test_sigterm_stops_sync_while_the_database_is_away(
        redis_server: RedisServer, sync_pool: WalletPool, tmp_path: Path,
        restartable_postgres: PostgresServer, once: bool) -> None:
    """Defect 3: while it waited for the database, only SIGKILL stopped it."""
    engine = fresh_database(restartable_postgres.url)
    sync_pool.configure("CASH")  # a plain pool, made on purpose
    sync_pool.add("CASH", ["l1"])
    for i in range(300):  # 600 stream entries, synced one a batch
        sync_pool.release(sync_pool.allocate("CASH", f"o{i}"))
    run = _walletpool("--redis-url", redis_server.url, "sync", *(["--once"] if once else []),
                      "--database-url", restartable_postgres.url, "--batch-size", "1",
                      stderr=tmp_path / "err")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # it is under way
        with engine.connect() as conn:
            if conn.execute(sa.select(sa.func.count()).select_from(schema.events)).scalar():
                break
        time.sleep(0.05)
    engine.dispose()
    restartable_postgres.kill()
    while time.monotonic() < deadline and "retrying" not in (tmp_path / "err").read_text():
        time.sleep(0.05)
    assert "database unavailable, retrying the batch" in (tmp_path / "err").read_text()
    run.send_signal(signal.SIGTERM)
    out, _ = run.communicate(timeout=15)  # it stops within its backoff, not never
    assert run.returncode == 0, (tmp_path / "err").read_text()
    assert "(stopped: the batch in hand stays in the stream)" in out
    assert "Traceback" not in (tmp_path / "err").read_text()


def test_sync_started_while_the_database_is_away_waits_for_it_and_stops_on_sigterm(
        redis_server: RedisServer, sync_pool: WalletPool, tmp_path: Path) -> None:
    """A syncer exits only when told to: started while its database is down, it says so
    in one line and waits, and SIGTERM stops it cleanly (exit 0, no traceback)."""
    sync_pool.configure("CASH")  # a plain pool, made on purpose
    sync_pool.add("CASH", ["l1"])
    nowhere = f"postgresql://walletpool:s3cret@127.0.0.1:{free_port()}/walletpool"
    run = _walletpool("--redis-url", redis_server.url, "sync", "--database-url", nowhere,
                      stderr=tmp_path / "err")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and "waiting for it" not in (tmp_path / "err").read_text():
        time.sleep(0.05)
    err = (tmp_path / "err").read_text()
    assert "database unavailable at start, waiting for it" in err
    assert run.poll() is None  # still waiting, not exited
    run.send_signal(signal.SIGTERM)
    out, _ = run.communicate(timeout=15)
    err = (tmp_path / "err").read_text()
    assert run.returncode == 0 and "committed 0 events" in out, err
    assert "Traceback" not in err and "s3cret" not in err


def test_store_failures_are_one_line_and_the_documented_exit_code(
        cli: Cli, tmp_path: Path) -> None:
    """Defect 5: tracebacks (and exit 1) for a malformed URL, an unreachable database or
    Redis, a file that is not UTF-8."""
    runner = CliRunner()
    bad_url = runner.invoke(main, ["--redis-url", "localhost:6379", "stats"])
    assert (bad_url.exit_code == 2 and bad_url.exception is None) or \
        isinstance(bad_url.exception, SystemExit)
    assert "bad Redis URL 'localhost:6379'" in bad_url.output
    nowhere_db = f"postgresql://walletpool:s3cret@127.0.0.1:{free_port()}/walletpool"
    # (`sync` without --once waits for its database instead: the test below)
    for args in (["reconcile"], ["db", "upgrade"], ["restore"], ["rebalance"],
                 ["sync", "--once"], ["heal"]):
        result = cli(*args, "--database-url", nowhere_db)
        assert result.exit_code == 3, (args, result.output)
        assert not isinstance(result.exception, Exception) or \
            isinstance(result.exception, SystemExit), (args, result.exception)
        assert "the database at postgresql+psycopg://walletpool:***@127.0.0.1:" in result.output
        assert "s3cret" not in result.output
    synced = f"sqlite:///{tmp_path / 'ok.db'}"  # a database that has a pool
    assert cli("db", "upgrade", "--database-url", synced).exit_code == 0
    cli("configure", "CASH")  # a plain pool, made on purpose
    cli("import", "CASH", "-", input="l1\n")
    assert cli("sync", "--once", "--database-url", synced).exit_code == 0
    down = f"redis://127.0.0.1:{free_port()}/0"
    for args in (["restore", "--force"], ["sync", "--once"]):
        result = runner.invoke(main, ["--redis-url", down, *args, "--database-url", synced])
        assert result.exit_code == 3, (args, result.output)
        assert "is unavailable" in result.output and ".." not in result.output

    latin1 = tmp_path / "wallets.csv"
    latin1.write_bytes("address\nl1\nCaf\xe9\n".encode("latin-1"))
    cli("configure", "CASH")  # a plain pool, made on purpose
    result = cli("import", "CASH", str(latin1))
    assert result.exit_code == 2
    assert "is not UTF-8 text (it holds the byte 0xe9" in result.output

    doctor = cli("doctor", "--database-url", nowhere_db)
    assert "database" in doctor.output and "Connection refused" in doctor.output


def test_an_excel_export_with_a_byte_order_mark_imports(cli: Cli, tmp_path: Path) -> None:
    """Defect 8: the BOM made the header line a rejected address."""
    export = tmp_path / "wallets.csv"
    export.write_bytes("address\r\nl1\r\nl2\r\n".encode("utf-8-sig"))
    cli("configure", "CASH")  # a plain pool, made on purpose
    result = cli("import", "CASH", str(export))
    assert result.exit_code == 0, result.output
    assert "added 2" in result.output


def test_a_refusal_is_said_once_not_as_a_warning_and_an_error(cli: Cli) -> None:
    """Defect 9: a log line and an `error:` line said the same."""
    cli("configure", "CASH")  # a plain pool, made on purpose
    cli("import", "CASH", "-", input="l1\n")
    cli("allocate", "CASH", "o1")
    refused = cli("allocate", "CASH", "o2")
    assert refused.exit_code == 1
    assert refused.output.count("\n") == 1, refused.output  # one line
    assert refused.output.startswith("error: PoolExhausted: pool CASH has no free wallet")


def test_typos_and_contradictory_settings_are_refused_with_a_hint(
        cli: Cli, sync_pool: WalletPool) -> None:
    """Defect 8: lowercase names without a hint; settings the pool cannot keep taken."""
    cli("configure", "CASH")  # a plain pool, made on purpose
    cli("import", "CASH", "-", input="l1\nl2\nl3\n")
    lower = cli("stats", "cash")
    assert lower.exit_code == 2 and "(did you mean CASH?)" in lower.output
    small = cli("configure", "CASH", "--max-size", "2")
    assert small.exit_code == 2
    assert "max_size 2 is below the 3 wallets in service" in small.output
    assert "pool CASH refused the configure:" in small.output  # the pool's word, no script's
    assert "script" not in small.output
    assert sync_pool.stats("CASH").max_size != 2  # nothing changed
    above = cli("configure", "CASH", "--max-size", "10", "--min-free", "11")
    assert above.exit_code == 2 and "min_free 11 is above max_size 10" in above.output
    zero = cli("configure", "CASH", "--max-uses", "0")
    assert zero.exit_code == 2 and "'none' for no limit" in zero.output
    assert cli("configure", "CASH", "--max-size", "3", "--min-free", "2").exit_code == 0


def test_up_fails_on_a_taken_port_and_down_works_from_anywhere(
        redis_server: RedisServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Defect 7: `up` said "is up" (exit 0) while its server had failed to bind; `down`
    from another directory said no server runs."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    taken = runner.invoke(main, ["up", "--port", str(redis_server.port), "--data-dir", "a"])
    assert taken.exit_code == 1
    assert f"port {redis_server.port} is taken by another server" in taken.output
    assert "Address already in use" in taken.output  # the server's own words
    assert not (tmp_path / "a").exists()  # issue 27: no empty folder left behind

    port = free_port()
    started = runner.invoke(main, ["up", "--port", str(port)])
    assert started.exit_code == 0 and f"redis://127.0.0.1:{port}/0" in started.output
    again = runner.invoke(main, ["up", "--port", str(port)])  # issue 27: exit 0, not 1
    assert again.exit_code == 0
    assert f"already runs at redis://127.0.0.1:{port}/0" in again.output
    assert f"export REDIS_URL=redis://127.0.0.1:{port}/0" in again.output
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    found = runner.invoke(main, ["up", "--port", str(port)])  # issue 27: its own server
    assert found.exit_code == 0, found.output
    assert f"already runs at redis://127.0.0.1:{port}/0" in found.output
    assert f"data in {tmp_path / 'walletpool-data'}" in found.output
    assert "another server" not in found.output and not (elsewhere / "walletpool-data").exists()
    stopped = runner.invoke(main, ["down"])
    assert stopped.exit_code == 0
    assert f"data in {tmp_path / 'walletpool-data'}" in stopped.output
    with pytest.raises(redis.ConnectionError):
        redis.Redis(port=port, socket_connect_timeout=0.5).ping()
    assert "no redis-server runs" in runner.invoke(main, ["down"]).output


def test_stats_and_pools_fit_80_columns_and_wide_has_every_column(cli: Cli) -> None:
    """Defect 9: a 21-column, 212-character table in an 80-column terminal."""
    cli("import", "USDT-TRC20", "-", input="\n".join(sample_addresses("tron", 3)))
    cli("configure", "CASH")  # a plain pool, made on purpose
    cli("import", "CASH", "-", input="l1\nl2\n")
    cli("allocate", "CASH", "o1")
    for command in (["stats"], ["pools"]):
        lines = cli(*command).output.splitlines()
        assert len(lines) == 3 and max(map(len, lines)) <= 80, lines
    wide = cli("stats", "--wide").output.splitlines()
    assert {"max_size", "lease_ttl", "last_token", "unsynced_age"} <= set(wide[0].split())
    assert "max_size" not in cli("stats").output


def test_stats_watch_redraws_until_interrupted(cli: Cli, monkeypatch: pytest.MonkeyPatch
                                               ) -> None:
    """The live view: one frame an interval, ended by Ctrl-C (here the third sleep)."""
    import time as clock

    cli("configure", "CASH")  # a plain pool, made on purpose
    cli("import", "CASH", "-", input="l1\n")
    naps = []

    def nap(seconds: float) -> None:
        naps.append(seconds)
        if len(naps) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(clock, "sleep", nap)
    result = cli("stats", "--watch", "--interval", "0.5")
    assert result.exit_code == 130 and naps == [0.5, 0.5, 0.5]
    assert result.output.count("walletpool stats every 0.5 s (Ctrl-C ends)") == 3
    assert result.output.count("CASH ") == 3


@pytest.mark.parametrize("command", [
    ["extend", "CASH", "o1", "--ttl", "60"], ["release", "CASH", "o1"], ["reap"],
    ["retire", "CASH", "l2"], ["configure", "CASH", "--cooldown", "0"], ["doctor"],
    ["stats"], ["pools"], ["peek", "CASH"], ["allocate", "CASH", "o2"]])
def test_every_command_speaks_json_and_so_do_its_errors(cli: Cli, command: list[str]) -> None:
    """Defect 9: extend, release, reap, retire, configure, doctor had no --json, and
    errors stayed plain text under it."""
    cli("configure", "CASH")  # a plain pool, made on purpose
    cli("import", "CASH", "-", input="l1\nl2\nl3\n")
    cli("allocate", "CASH", "o1")
    result = cli(*command, "--json")
    assert result.exit_code in (0, 1), result.output  # doctor may warn of the AOF
    json.loads(result.stdout)
    refused = cli(*command[:1], "NOPE", *command[2:], "--json") if len(command) > 1 else None
    if refused is not None and command[0] not in ("doctor", "stats", "pools", "reap",
                                                  "configure"):  # configure creates pools
        error = json.loads(refused.stderr)
        assert (error["error"], error["exit_code"]) == ("PoolNotFound", 2), refused.output


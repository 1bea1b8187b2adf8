"""The walletpool command: each subcommand, its output and its exit code."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import click
import redis
from click.testing import CliRunner

from tests.conftest import Cli
from walletpool.cli import main
from walletpool.dev.redis_server import RedisServer, free_port
from walletpool.store.migrations import LATEST


def test_import_configure_allocate_release_round_trip(cli: Cli, tmp_path: Path) -> None:
    source = tmp_path / "btc.txt"
    source.write_text("# wallets\nbc1qaaa\n\nbc1qbbb\nbc1qaaa\n")
    configured = cli("configure", "COIN", "--lease-ttl", "60", "--cooldown", "0")
    assert configured.exit_code == 0
    assert "reserve=none (no database)" in configured.output  # as --json's null says
    assert json.loads(cli("configure", "COIN", "--json").output)["reserve_target"] is None
    result = cli("import", "COIN", str(source))
    assert result.exit_code == 0, result.output
    assert "added 2, duplicates 1" in result.output

    allocated = cli("allocate", "COIN", "order-1", "--json")
    assert allocated.exit_code == 0
    lease = json.loads(allocated.output)
    assert (lease["address"], lease["owner"]) == ("bc1qaaa", "order-1")

    extended = cli("extend", "COIN", "order-1", "--ttl", "300")
    assert extended.exit_code == 0 and "owner=order-1" in extended.output
    assert "already held" not in extended.output  # an extension is not an allocation
    again = cli("allocate", "COIN", "order-1")
    assert "(already held)" in again.output
    stale = cli("release", "COIN", "order-1", "--token", str(lease["token"] + 1))
    assert stale.exit_code == 1 and "not" in stale.output
    released = cli("release", "COIN", "order-1", "--token", str(lease["token"]))
    assert released.exit_code == 0 and "released bc1qaaa (now free)" in released.output
    assert cli("release", "COIN", "order-1").exit_code == 1
    assert cli("peek", "COIN").output.split() == ["bc1qbbb", "bc1qaaa"]


def test_import_reads_stdin_and_reports_a_bad_line(cli: Cli) -> None:
    cli("configure", "TOKEN")  # a plain pool, made on purpose
    assert cli("import", "TOKEN", "-", input="0xabc\n0xdef\n").exit_code == 0
    bad = cli("import", "TOKEN", "-", input="0x111\nnot valid\n")
    assert bad.exit_code == 2
    assert "line 2: not valid: must be 1-128 of" in bad.output and "added 1" in bad.output
    assert cli("peek", "TOKEN", "--json").output.count("0x") == 3


def test_stats_and_pools_print_tables_and_json(cli: Cli) -> None:
    cli("configure", "CASH")  # a plain pool, made on purpose
    cli("import", "CASH", "-", input="l1\nl2\n")
    cli("allocate", "CASH", "o1")
    table = cli("stats")
    assert table.exit_code == 0
    header, row = table.output.splitlines()[:2]
    assert header.split()[:5] == ["pool", "network", "free", "leased", "cooling"]
    assert row.split()[:5] == ["CASH", "plain", "1", "1", "0"]
    data = json.loads(cli("stats", "CASH", "--json").output)
    assert (data[0]["free"], data[0]["leased"]) == (1, 1)
    assert "CASH" in cli("pools").output


def test_exhausted_pool_exits_1_and_bad_input_exits_2(cli: Cli) -> None:
    cli("configure", "CASH")  # a plain pool, made on purpose
    cli("import", "CASH", "-", input="l1\n")
    assert cli("allocate", "CASH", "o1").exit_code == 0
    exhausted = cli("allocate", "CASH", "o2")
    assert exhausted.exit_code == 1 and "PoolExhausted" in exhausted.output
    assert cli("allocate", "ltc", "o2").exit_code == 2
    assert cli("allocate", "CASH", "o 2").exit_code == 2
    assert cli("allocate", "CASH", "o2", "--ttl", "-1").exit_code == 2
    assert cli("configure", "CASH", "--max-uses", "many").exit_code == 2
    assert cli("stats", "DOGE").exit_code == 2


def test_retire_reap_and_configure_report_what_they_did(cli: Cli) -> None:
    cli("configure", "CHIP")  # a plain pool, made on purpose
    cli("import", "CHIP", "-", input="t1\nt2\n")
    assert "t1: retired" in cli("retire", "CHIP", "t1", "t9").output
    assert "0 expired" in cli("reap").output
    out = cli("configure", "CHIP", "--max-uses", "3", "--cooldown", "5").output
    assert "cooldown=5s" in out and "max_uses=3" in out


def test_an_unreachable_redis_exits_3_without_the_password() -> None:
    url = f"redis://app:s3cret@127.0.0.1:{free_port()}/0"
    result = CliRunner().invoke(main, ["--redis-url", url, "stats", "COIN"])
    assert result.exit_code == 3
    assert "BackendUnavailable" in result.output and "s3cret" not in result.output


def test_doctor_passes_a_sound_setup_and_warns_of_an_unsynced_pool(
        cli: Cli, redis_server: RedisServer, redis_client: redis.Redis, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'd.db'}"
    assert cli("db", "upgrade", "--database-url", db).exit_code == 0
    cli("configure", "COIN")  # a plain pool, made on purpose
    cli("import", "COIN", "-", input="a1\n")
    assert cli("sync", "--once", "--database-url", db).exit_code == 0
    healthy = cli("doctor", "--database-url", db)
    assert healthy.exit_code == 0, healthy.output
    assert "AOF on" in healthy.output and f"schema at version {LATEST}" in healthy.output
    assert "pool COIN sync: 0 stream entries not yet in the database" in healthy.output

    cli("allocate", "COIN", "o1")  # an event no syncer commits
    redis_client.config_set("maxmemory-policy", "allkeys-lru")
    try:
        report = cli("doctor", "--database-url", db)
    finally:
        redis_client.config_set("maxmemory-policy", "noeviction")
    assert report.exit_code == 1
    assert "WARN  maxmemory-policy: allkeys-lru" in report.output
    assert "pool COIN sync: 1 stream entries not yet in the database" in report.output


def test_stats_of_a_prefix_without_pools_says_so(cli: Cli) -> None:
    result = cli("--prefix", "empty", "stats")
    assert result.exit_code == 0, result.output
    assert "no pools under prefix 'empty'" in result.output
    assert cli("--prefix", "empty", "stats", "--json").output.strip() == "[]"


def test_the_version_is_shown_by_the_command_and_the_package(cli: Cli) -> None:
    import walletpool

    assert walletpool.__version__ == version("walletpool")
    result = cli("--version")
    assert result.exit_code == 0
    assert result.output.strip() == f"walletpool, version {version('walletpool')}"
    module = subprocess.run([sys.executable, "-m", "walletpool", "--version"],
                            capture_output=True, text=True, check=False)
    assert module.returncode == 0 and module.stdout == result.output


def test_the_changelog_names_this_version_and_layouts_go_by_number() -> None:
    """Issue 27, item 8: --version said 0.1.0 while the old layout was called "walletpool
    0.1". The newest release in the changelog is the installed version, and what an
    operator reads about layouts names them by number."""
    from walletpool.errors import LayoutOutdated
    from walletpool.keys import LAYOUT

    root = Path(__file__).resolve().parent.parent
    releases = re.findall(r"^## (\d+\.\d+\.\d+) - \d{4}-\d{2}-\d{2}$",
                          (root / "CHANGELOG.md").read_text(), re.MULTILINE)
    assert releases and releases[0] == version("walletpool"), releases
    refusal = str(LayoutOutdated.of("BTC", "allocate", 1))
    assert "stored in layout 1, older than the one this walletpool writes" in refusal
    upgrade_help = " ".join(main.commands["upgrade"].help.split())  # type: ignore[union-attr]
    assert "layout 1" in upgrade_help and f"to layout {LAYOUT}" in upgrade_help
    pages = [root / "README.md", *(root / "docs").rglob("*.md")]
    for text in (refusal, upgrade_help, *(p.read_text() for p in pages)):
        assert "walletpool 0.1's" not in text and "written by walletpool 0.1" not in text


def _cli_reference_block() -> str:
    page = Path(__file__).resolve().parent.parent / "docs" / "operations" / "cli.md"
    return page.read_text().split("```", 2)[1]


def _commands() -> list[tuple[str, click.Command]]:
    found: list[tuple[str, click.Command]] = []
    for name, command in sorted(main.commands.items()):
        if isinstance(command, click.Group):
            found += [(f"{name} {sub}", c) for sub, c in sorted(command.commands.items())]
        else:
            found.append((name, command))
    return found


def test_the_cli_reference_matches_every_commands_help() -> None:
    """The command-line reference (docs/operations/cli.md) and `--help` agree, both ways:
    every command and every option it has is in the reference, and nothing else is."""
    block = _cli_reference_block()
    entries: dict[str, str] = {}  # command -> its text in the reference (continuation lines too)
    current = None
    for line in block.splitlines():
        words = line.split()
        if not words:
            continue
        if line.startswith("walletpool --version"):  # an option of its own line
            assert "--version" in {o for p in main.params for o in p.opts}
            continue
        key = " ".join(words[:2]) if words[0] == "db" else words[0]
        if (line.startswith("  ") and not line.startswith("   ")) or \
                line.startswith("walletpool "):
            current = key if line.startswith("  ") else "main"
            entries[current] = line
        elif current is not None:
            entries[current] += " " + line
    listed = {k for k in entries if k != "main"}
    assert listed == {name for name, _ in _commands()}
    for name, command in [("main", main), *_commands()]:
        options = {o for p in command.params if isinstance(p, click.Option) and not p.hidden
                   for o in p.opts + p.secondary_opts if o.startswith("--")} - {"--help"}
        if name == "main":
            options -= {"--version"}  # a line of its own
        shown = set(re.findall(r"--[a-z][a-z-]*", entries[name]))
        assert options <= shown, (name, options - shown)
        assert shown <= options | {"--version"}, (name, shown - options)


def test_the_documented_shell_completion_works() -> None:
    env = {**os.environ, "_WALLETPOOL_COMPLETE": "bash_source"}
    script = subprocess.run([str(Path(sys.executable).parent / "walletpool")], env=env,
                            capture_output=True, text=True, timeout=30).stdout
    assert "complete -o nosort -F _walletpool_completion walletpool" in script


def test_under_json_stderr_holds_only_json(cli: Cli, redis_server: RedisServer) -> None:
    """An allocate that waits in vain logs a warning and fails: under --json both are
    JSON lines on stderr, and stdout stays empty (no second document)."""
    assert cli("configure", "COIN").exit_code == 0
    assert cli("import", "COIN", "-", input="w1\n").exit_code == 0
    assert cli("allocate", "COIN", "o1").exit_code == 0
    import inspect

    from click.testing import CliRunner

    from walletpool.cli import main

    # click before 8.2 mixes stderr into the output unless told not to
    apart: dict[str, Any] = {"mix_stderr": False} if "mix_stderr" in inspect.signature(
        CliRunner.__init__).parameters else {}
    args = ["--redis-url", redis_server.url, "allocate", "COIN", "o2", "--wait", "0.2", "--json"]
    result = CliRunner(**apart).invoke(main, args)
    assert result.exit_code != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) >= 2  # the wait's warning and the error
    parsed = [json.loads(line) for line in lines]
    assert parsed[-1]["error"] == "WaitTimeout"
    assert any(p.get("message", "").startswith("wait for a wallet timed out") for p in parsed)
    assert result.stdout == ""


def test_an_import_to_a_mistyped_pool_is_refused_naming_configure(cli: Cli) -> None:
    result = cli("import", "NEWPOOL", "-", input="a0\na1\n")
    assert result.exit_code == 2, result.output
    assert "PoolNotFound" in result.output
    assert "walletpool configure NEWPOOL --network" in result.output
    assert "NEWPOOL" not in cli("pools").output  # nothing was made

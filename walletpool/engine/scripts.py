"""The Lua scripts: each file of lua/ is one atomic operation, and names the helpers it
needs from lua/includes/ with `--- @include "name"` lines. The loader inlines them
(transitively, each once, a helper before what uses it) and keeps a line map, so that
an error Redis reports at `user_script:397` reads `release.lua:12` or
`includes/lease_store.lua:5`."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

INCLUDE = re.compile(r'^--- @include "([a-z0-9_]+)"[ \t]*$', re.M)
INCLUDES = "includes"
_SCRIPT_LINE = re.compile(r"user_script:(\d+)")


def lua_dir() -> Path:
    """The package's lua/ folder (in a source checkout and in an installed wheel)."""
    folder = Path(__file__).resolve().parent.parent / "lua"
    if not (folder / INCLUDES).is_dir():
        raise FileNotFoundError(f"walletpool's Lua scripts are missing: no {folder / INCLUDES}")
    return folder


@dataclass(frozen=True)
class Script:
    name: str
    source: str
    """The script as Redis runs it: its includes first, then its own lines."""
    sha: str
    origins: tuple[tuple[str, int], ...]
    """Line i + 1 of `source` comes from file origins[i][0] (relative to lua/), at line
    origins[i][1]."""

    def locate(self, line: int) -> str:
        """`file:line` of a line of `source`."""
        if 1 <= line <= len(self.origins):
            file, at = self.origins[line - 1]
            return f"{file}:{at}"
        return f"{self.name}.lua:?"

    def explain(self, message: str) -> str:
        """A Redis error message with every `user_script:N` put as the file and line."""
        return _SCRIPT_LINE.sub(lambda m: self.locate(int(m.group(1))), message)


class IncludeError(ValueError):
    """An `@include` names a missing helper, or includes form a cycle."""


def _assemble(folder: Path, file: str, done: set[str], trail: tuple[str, ...],
              lines: list[str], origins: list[tuple[str, int]]) -> None:
    path = folder / file
    if not path.is_file():
        raise IncludeError(f"{trail[-1] if trail else file} includes {file}, which does not exist")
    text = path.read_text()
    for name in INCLUDE.findall(text):
        dependency = f"{INCLUDES}/{name}.lua"
        if dependency in trail:
            raise IncludeError(f"include cycle: {' -> '.join((*trail, file, dependency))}")
        if dependency not in done:
            done.add(dependency)
            _assemble(folder, dependency, done, (*trail, file), lines, origins)
    for number, line in enumerate(text.splitlines(), start=1):
        lines.append(line)
        origins.append((file, number))


@cache
def script(name: str) -> Script:
    lines: list[str] = []
    origins: list[tuple[str, int]] = []
    _assemble(lua_dir(), f"{name}.lua", set(), (), lines, origins)
    source = "\n".join(lines) + "\n"
    return Script(name, source, hashlib.sha1(source.encode()).hexdigest(), tuple(origins))


def all_scripts() -> list[Script]:
    return [script(p.stem) for p in sorted(lua_dir().glob("*.lua"))]


@dataclass(frozen=True)
class Library:
    """Every script as one Redis Functions library (Redis 7 and Valkey): the helpers of
    lua/includes/ defined once, when the library loads, instead of on every call as an
    EVALSHA does, and each script a function. Its name and its functions' names carry a
    hash of the source, so two walletpool versions on one server never call each
    other's code."""

    name: str
    source: str
    origins: tuple[tuple[str, int], ...]
    version: str

    def function(self, script_name: str) -> str:
        return f"wp_{self.version}_{script_name}"

    def explain(self, message: str) -> str:
        """A Redis error message with every `user_function:N` put as the file and line."""
        def locate(match: re.Match[str]) -> str:
            line = int(match.group(1))
            if 1 <= line <= len(self.origins):
                file, at = self.origins[line - 1]
                return f"{file}:{at}"
            return f"{self.name}:?"
        return _FUNCTION_LINE.sub(locate, message)


_FUNCTION_LINE = re.compile(r"user_function:(\d+)")


@cache
def library() -> Library:
    """The library of every script. A script's own lines become the body of a local
    function, so its top-level `return` returns from the call; the function sets the
    KEYS and ARGV the helpers see, then binds the key names (includes/keys.lua) and
    clears the changes a failed call may have left (includes/emit.lua)."""
    folder = lua_dir()
    helpers: list[str] = []
    helper_origins: list[tuple[str, int]] = []
    done: set[str] = set()
    for include in sorted(p.stem for p in (folder / INCLUDES).glob("*.lua")):
        dependency = f"{INCLUDES}/{include}.lua"
        if dependency not in done:
            done.add(dependency)
            _assemble(folder, dependency, done, (), helpers, helper_origins)
    scripts = {p.stem: p.read_text().splitlines() for p in sorted(folder.glob("*.lua"))}
    version = hashlib.sha1("\n".join(
        [*helpers, *(line for own in scripts.values() for line in own)]).encode()
    ).hexdigest()[:10]
    name = f"walletpool_{version}"
    rows: list[tuple[str, tuple[str, int]]] = [
        (f"#!lua name={name}", ("(library)", 0)), ("local KEYS, ARGV = {}, {}", ("(library)", 0)),
        *zip(helpers, helper_origins, strict=True)]
    for script_name, own in scripts.items():
        file = f"{script_name}.lua"
        rows.append((f"local function {script_name}_body()", (file, 0)))
        rows += [(line, (file, n)) for n, line in enumerate(own, start=1)]
        rows.append(("end", (file, 0)))
    for script_name in scripts:
        rows.append((f"redis.register_function('wp_{version}_{script_name}', function(keys, "
                     f"args) KEYS, ARGV = keys, args; bind_keys(); forget_changes(); "
                     f"return {script_name}_body() end)", ("(library)", 0)))
    return Library(name, "\n".join(line for line, _ in rows) + "\n",
                   tuple(origin for _, origin in rows), version)

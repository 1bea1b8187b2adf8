"""What a Lua file of walletpool defines, uses and includes, read from its text: the
check that every script includes exactly what it uses (tests/test_scripts.py)."""

from __future__ import annotations

import re

from walletpool.engine.scripts import INCLUDE

_DEFINES = re.compile(r"^local[ \t]+(?:function[ \t]+(\w+)|([\w \t,]+?)[ \t]*=)", re.M)
_WORD = re.compile(r"(?<![.\w])([A-Za-z_]\w*)")
# Lua's own words and the globals Redis gives a script: never an include's
_LUA_WORDS = """
and break do else elseif end false for function goto if in local nil not or repeat return
then true until while redis cjson cmsgpack bit struct math string table tonumber tostring
type ipairs pairs unpack select error pcall assert KEYS ARGV next setmetatable getmetatable
rawget rawset"""
LUA = frozenset(_LUA_WORDS.split())


# Read left to right, so that a quote in a comment or `--` in a string is no surprise.
_NOISE = re.compile(r"--\[\[.*?\]\]|--[^\n]*|'(?:\\.|[^'\\\n])*'|\"(?:\\.|[^\"\\\n])*\"", re.S)


def code_of(source: str) -> str:
    """The source without comments and string literals."""
    return _NOISE.sub(lambda m: "''" if m.group(0)[0] in "'\"" else "", source)


def defines(source: str) -> set[str]:
    """Top-level names the file declares (`local function f`, `local A, B = ...`)."""
    names: set[str] = set()
    for function, variables in _DEFINES.findall(code_of(source)):
        names.update([function] if function else (v.strip() for v in variables.split(",")))
    return names


def uses(source: str) -> set[str]:
    """Names the file's code mentions that it does not define itself at the top."""
    return set(_WORD.findall(code_of(source))) - LUA - defines(source)


def includes(source: str) -> list[str]:
    return INCLUDE.findall(source)

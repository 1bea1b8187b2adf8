"""Alias of walletpool.engine.scripts (the Lua loader), kept so that code written for 0.1
imports unchanged."""

from .engine.scripts import Script, all_scripts, lua_dir, script

__all__ = ["Script", "all_scripts", "lua_dir", "script"]

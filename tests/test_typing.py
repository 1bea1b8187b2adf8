"""The public API is typed at its edges (issue 28): a user's module type-checks under
`mypy --strict` and runs; a misspelt setting or priority is a type error, caught before
any run."""

from __future__ import annotations

import asyncio
import typing
from dataclasses import fields
from pathlib import Path

import redis
from mypy import api as mypy_api

from walletpool import Settings, SettingsKeywords
from walletpool.dev.redis_server import RedisServer

from . import typed_user


def test_the_keywords_are_every_setting_but_the_url_and_prefix() -> None:
    """from_url's typed keywords cannot drift from Settings: a field added to one only
    fails here."""
    keywords = typing.get_type_hints(SettingsKeywords)
    assert set(keywords) == {f.name for f in fields(Settings)} - {"redis_url", "prefix"}


def test_the_typed_user_module_runs(redis_server: RedisServer,
                                    redis_client: redis.Redis) -> None:
    assert typed_user.serve_one_order(redis_server.url, "o-1") == "wallet-1"
    served = asyncio.run(typed_user.serve_orders_concurrently(
        redis_server.url, ["a", "b", "c"]))
    assert sorted(served) == ["wallet-0", "wallet-1", "wallet-2"]


def test_mypy_refuses_a_misspelt_setting_and_priority(tmp_path: Path) -> None:
    user = tmp_path / "user.py"
    user.write_text(
        "from walletpool import AsyncWalletPool, WalletPool\n"
        "pool = WalletPool.from_url('redis://127.0.0.1:6379/0', max_conections=8)\n"
        "pool.allocate('BTC', 'o-1', wait=1.0, priority='urgent')\n"
        "async def serve() -> None:\n"
        "    async with AsyncWalletPool.from_url(lease_tll=60) as apool:\n"
        "        await apool.allocate('BTC', 'o-2')\n")
    out, _err, status = mypy_api.run(["--strict", "--no-incremental",
                                      "--cache-dir", str(tmp_path / "cache"), str(user)])
    assert status == 1, out
    assert 'Unexpected keyword argument "max_conections"' in out
    assert 'Unexpected keyword argument "lease_tll"' in out
    assert 'incompatible type "Literal[\'urgent\']"' in out
    assert out.count("error:") == 3, out

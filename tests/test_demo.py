"""`walletpool demo` runs to a sound report; `walletpool up`/`down` start and stop a Redis."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from tests.conftest import on_first_server
from walletpool.dev import demo
from walletpool.dev.redis_server import RedisServer, free_port
from walletpool.dev.redis_server import down as server_down
from walletpool.dev.redis_server import up as server_up


@on_first_server  # the demo is a client's workload; the scripts are proven on each server
def test_the_demo_runs_to_a_sound_report(redis_server: RedisServer, redis_client: redis.Redis,
                                         tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    monkeypatch.delenv("WALLETPOOL_DATABASE_URL", raising=False)
    lines: list[str] = []
    progress: list[str] = []
    options = demo.Options(seconds=2, workers=8, data_dir=tmp_path)
    assert demo.run(lines.append, progress.append, options) == 0, "\n".join(lines)
    report = "\n".join(lines)
    assert "invariants    ok on every pool" in report
    assert "double allocations  0" in report
    assert "orders waited and were handed a wallet (wait p50" in report
    assert report.count(": 0 differences") == len(demo.POOLS)
    assert any("orders" in line and "free: BTC=" in line for line in progress)
    assert (tmp_path / "walletpool.db").is_file()
    assert sorted(redis_client.scan_iter("demo:{*}:conf")) == \
        sorted(f"demo:{{{p}}}:conf" for p in demo.POOLS)


def test_the_overlap_check_sees_a_double_allocation() -> None:
    sound = [("BTC:a", 1.0, 2.0), ("BTC:a", 2.5, 3.0), ("BTC:b", 1.5, 2.8)]
    assert demo._overlaps(sound) == 0
    assert demo._overlaps([*sound, ("BTC:a", 2.9, 3.5)]) == 1


def test_up_then_down(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    port = free_port()
    server = server_up(tmp_path, port)
    try:
        client = redis.Redis(port=port)
        assert client.ping() and client.config_get("appendonly")["appendonly"] == "yes"
        client.close()
        with pytest.raises(RuntimeError, match="already runs"):
            server_up(tmp_path, port)
    finally:
        stopped = server_down(tmp_path)
    assert server.pid is not None and stopped == (tmp_path, server.pid)
    with pytest.raises(redis.ConnectionError):
        redis.Redis(port=port, socket_connect_timeout=0.5).ping()
    assert server_down(tmp_path) is None

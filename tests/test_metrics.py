"""Prometheus metrics (issue "Operators"): the endpoint `walletpool metrics` serves is
scraped over HTTP and its gauges equal stats(); a service's own registry gets the
latency histogram by outcome and the fallback switches; the Grafana dashboard in docs/
queries only metrics walletpool exports."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import redis
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import on_first_server
from walletpool import PoolExhausted, WalletPool
from walletpool.dev.redis_server import RedisServer, free_port
from walletpool.metrics import METRIC_NAMES, STATES, instrument, serve

ROOT = Path(__file__).resolve().parent.parent


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(url, timeout=5) as reply:
        text = reply.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


@on_first_server
def test_the_endpoint_serves_every_pool_and_equals_stats(
        redis_server: RedisServer, redis_client: redis.Redis) -> None:
    with WalletPool.from_url(redis_server.url) as pool:
        pool.configure("COIN", lease_ttl=60, cooldown=30, min_free=4)
        pool.add("COIN", [f"b{i}" for i in range(6)])
        pool.configure("CASH")  # a plain pool, made on purpose
        pool.add("CASH", ["c0"])
        pool.release(pool.allocate("COIN", "o1"))  # one cooling
        pool.allocate("COIN", "o2")
        pool.allocate("COIN", "o3")  # below min_free: a low-water alert
        pool.retire("COIN", "b5")
        pool.allocate("CASH", "o4")
        with pytest.raises(PoolExhausted):
            pool.allocate("CASH", "o5")
        server, _ = serve(pool, port=(port := free_port()), interval=0.0)
        try:
            got = scrape(f"http://127.0.0.1:{port}/metrics")
        finally:
            server.shutdown()
            server.server_close()
        assert got[("walletpool_up", ())] == 1
        for name in ("COIN", "CASH"):
            stats = pool.stats(name)
            for state in STATES:
                assert got[("walletpool_wallets", (("pool", name), ("state", state)))] == \
                    getattr(stats, state), (name, state)
            assert got[("walletpool_low_water_alerts_total", (("pool", name),))] == \
                stats.low_water_alerts
            assert got[("walletpool_exhaustions_total", (("pool", name),))] == stats.exhaustions
            assert got[("walletpool_events_unsynced", (("pool", name),))] == stats.events
            assert got[("walletpool_sync_lag_seconds", (("pool", name),))] > 0  # no syncer
        assert (got[("walletpool_low_water_alerts_total", (("pool", "COIN"),))],
                got[("walletpool_exhaustions_total", (("pool", "CASH"),))]) == (1, 1)


def test_the_command_serves_until_sigterm_and_reports_redis_down(tmp_path: Path) -> None:
    port = free_port()
    run = subprocess.Popen([sys.executable, "-m", "walletpool", "--redis-url",
                            f"redis://127.0.0.1:{free_port()}/0", "metrics", "--port", str(port)],
                           stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                got = scrape(f"http://127.0.0.1:{port}/metrics")
                break
            except OSError:
                assert time.monotonic() < deadline and run.poll() is None
                time.sleep(0.1)
        assert got[("walletpool_up", ())] == 0  # Redis is not there: said, not crashed
        run.terminate()
        out, _ = run.communicate(timeout=10)
        assert run.returncode == 0 and f"serving http://127.0.0.1:{port}/metrics" in out
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()


@on_first_server
def test_a_service_registry_gets_latency_by_outcome_and_fallback_switches(
        redis_server: RedisServer, redis_client: redis.Redis) -> None:
    registry = CollectorRegistry()
    with WalletPool.from_url(redis_server.url) as pool:
        instrument(pool, registry)
        pool.configure("CASH")  # a plain pool, made on purpose
        pool.add("CASH", ["c0"])
        pool.allocate("CASH", "o1")
        with pytest.raises(PoolExhausted):
            pool.allocate("CASH", "o2")
        count = registry.get_sample_value
        assert count("walletpool_operation_duration_seconds_count",
                     {"op": "allocate", "outcome": "ok"}) == 1
        assert count("walletpool_operation_duration_seconds_count",
                     {"op": "allocate", "outcome": "PoolExhausted"}) == 1
        assert count("walletpool_operation_duration_seconds_count",
                     {"op": "add", "outcome": "ok"}) == 1
        assert count("walletpool_fallback_switches_total", {}) == 0


def test_the_grafana_dashboard_queries_only_exported_metrics() -> None:
    dashboard = json.loads((ROOT / "docs" / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    rules = (ROOT / "docs" / "prometheus-alerts.yml").read_text()
    exprs += re.findall(r"expr: (.+)", rules)
    assert len(exprs) >= 8
    exported = set(METRIC_NAMES) | {f"{m}_bucket" for m in METRIC_NAMES} | {
        f"{m}_count" for m in METRIC_NAMES} | {f"{m}_sum" for m in METRIC_NAMES}
    for expr in exprs:
        named = set(re.findall(r"\bwalletpool_[a-z_]+\b", expr))
        assert named and named <= exported, expr
    for alert in ("WalletpoolLowWater", "WalletpoolExhausted", "WalletpoolSyncLag",
                  "WalletpoolFenced", "WalletpoolStreamGrowing"):
        assert f"alert: {alert}" in rules

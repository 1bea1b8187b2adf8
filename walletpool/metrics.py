"""Prometheus metrics (the `metrics` extra: `pip install walletpool[metrics]`).

Two kinds, for two users:

- `PoolCollector`: what every pool holds, read from Redis when Prometheus scrapes (at
  most once per `interval`), for the operator's dashboard. `walletpool metrics`
  serves it; `docs/grafana-dashboard.json` is built on exactly these names:
  `walletpool_wallets{pool,state}` (free, leased, cooling, retired, reserve),
  `walletpool_events_unsynced{pool}`, `walletpool_sync_lag_seconds{pool}`,
  `walletpool_low_water_alerts_total{pool}`, `walletpool_exhaustions_total{pool}`,
  `walletpool_waiting{pool}` (orders waiting for a wallet),
  `walletpool_oldest_wait_seconds{pool}` (how long the longest of them has waited),
  `walletpool_stream_entries{pool}` (the event stream's length: Redis memory),
  `walletpool_fenced{pool}` (1 while the pool refuses changes until healed),
  `walletpool_up` (1 while Redis answered the last read).
- `instrument(pool, registry)`: what one service's client sees, on the service's own
  registry: `walletpool_operation_duration_seconds{op,outcome}` (a histogram; outcome
  `ok` or the error's class name, e.g. `PoolExhausted`) and
  `walletpool_fallback_switches_total` (how often the client moved between Redis and
  the database's reserve) and `walletpool_batch_size{op}` (a histogram: how many
  concurrent calls of `op`, allocate, release or extend, went as one script call; 1 for a
  call that went alone).
"""

from __future__ import annotations

import functools
import inspect
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .aio import AsyncWalletPool
from .client import WalletPool
from .errors import WalletPoolError
from .models import PoolStats

STATES = ("free", "leased", "cooling", "retired", "reserve")
OPERATIONS = ("allocate", "allocate_many", "release", "release_many", "extend",
              "get_lease", "stats", "add", "import_wallets", "configure", "reap", "retire",
              "peek")
"""The client methods instrument() times."""
METRIC_NAMES = (
    "walletpool_wallets", "walletpool_events_unsynced", "walletpool_sync_lag_seconds",
    "walletpool_low_water_alerts_total", "walletpool_exhaustions_total", "walletpool_waiting",
    "walletpool_oldest_wait_seconds", "walletpool_stream_entries", "walletpool_fenced",
    "walletpool_up",
    "walletpool_operation_duration_seconds", "walletpool_fallback_switches_total",
    "walletpool_batch_size")
"""Every metric walletpool exports (the dashboard's queries use these alone)."""


class PoolCollector(Collector):
    """Every pool's figures under the client's prefix, for a Prometheus registry."""

    def __init__(self, pool: WalletPool, interval: float = 5.0) -> None:
        self.pool = pool
        self.interval = interval
        self._lock = threading.Lock()
        self._read_at = -float("inf")
        self._snapshot: list[Metric] = []

    def collect(self) -> Iterator[Metric]:
        with self._lock:  # one read of Redis per interval, however often it is scraped
            if time.monotonic() - self._read_at >= self.interval:
                self._snapshot = self._read()
                self._read_at = time.monotonic()
            yield from self._snapshot

    def _read(self) -> list[Metric]:
        from .syncer import lag

        up = GaugeMetricFamily("walletpool_up", "1 while Redis answered the last read")
        try:
            stats = [self.pool.stats(name) for name in self.pool.pools()]
            lags = [lag(self.pool.redis, self.pool.settings.prefix, s.pool) for s in stats]
        except WalletPoolError:
            up.add_metric([], 0)
            return [up]
        up.add_metric([], 1)
        return [up, *pool_metrics(stats, [(x.unsynced, x.oldest_age) for x in lags])]


def pool_metrics(stats: list[PoolStats], lags: list[tuple[int, float]]) -> list[Metric]:
    """The pool metrics of these stats and sync lags (unsynced entries, oldest age)."""
    wallets = GaugeMetricFamily("walletpool_wallets", "Wallets of the pool by state",
                                labels=["pool", "state"])
    unsynced = GaugeMetricFamily("walletpool_events_unsynced",
                                 "Stream entries not yet committed to the database",
                                 labels=["pool"])
    lag_seconds = GaugeMetricFamily("walletpool_sync_lag_seconds",
                                    "Age of the oldest entry not yet in the database",
                                    labels=["pool"])
    low_water = CounterMetricFamily("walletpool_low_water_alerts",
                                    "Allocations that left fewer than min_free wallets free",
                                    labels=["pool"])
    exhaustions = CounterMetricFamily("walletpool_exhaustions",
                                      "Allocations refused: no free wallet", labels=["pool"])
    waiting = GaugeMetricFamily("walletpool_waiting", "Orders waiting for a wallet",
                                labels=["pool"])
    oldest = GaugeMetricFamily("walletpool_oldest_wait_seconds",
                               "How long the order waiting longest has waited",
                               labels=["pool"])
    stream = GaugeMetricFamily("walletpool_stream_entries",
                               "Entries in the pool's event stream (Redis memory: a syncer "
                               "trims what it committed; without one, stream_cap bounds it)",
                               labels=["pool"])
    fenced = GaugeMetricFamily("walletpool_fenced",
                               "1 while the pool refuses changes until healed from the "
                               "database (walletpool sync heals it; else walletpool heal)",
                               labels=["pool"])
    for s, (entries, age) in zip(stats, lags, strict=True):
        for state in STATES:
            wallets.add_metric([s.pool, state], getattr(s, state))
        unsynced.add_metric([s.pool], entries)
        lag_seconds.add_metric([s.pool], age)
        low_water.add_metric([s.pool], s.low_water_alerts)
        exhaustions.add_metric([s.pool], s.exhaustions)
        waiting.add_metric([s.pool], s.waiting)
        oldest.add_metric([s.pool], s.oldest_wait)
        stream.add_metric([s.pool], s.events)
        fenced.add_metric([s.pool], 1 if s.fenced else 0)
    return [wallets, unsynced, lag_seconds, low_water, exhaustions, waiting, oldest, stream,
            fenced]


class _Switches(Collector):
    def __init__(self, pool: WalletPool | AsyncWalletPool) -> None:
        self.pool = pool

    def collect(self) -> Iterable[Metric]:
        lane = self.pool._plans.lane
        switches = CounterMetricFamily(
            "walletpool_fallback_switches",
            "Moves of this client between Redis and the database's reserve")
        switches.add_metric([], lane.breaker.switches if lane is not None else 0)
        yield switches


def instrument(pool: WalletPool | AsyncWalletPool,
               registry: CollectorRegistry | None = None) -> Histogram:
    """Time every operation of `pool` (a WalletPool or an AsyncWalletPool) into
    `walletpool_operation_duration_seconds{op,outcome}` on `registry` (Prometheus's
    default one when None), and count its fallback switches. Returns the histogram."""
    from prometheus_client import REGISTRY

    target = registry if registry is not None else REGISTRY
    duration = Histogram("walletpool_operation_duration_seconds",
                         "Duration of walletpool client calls", ["op", "outcome"],
                         registry=target,
                         buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                  0.25, 0.5, 1.0, 2.5))
    target.register(_Switches(pool))
    for op in OPERATIONS:
        method = getattr(pool, op)
        setattr(pool, op, _timed(method, op, duration))
    if pool._coalescer is not None:
        sizes = Histogram("walletpool_batch_size",
                          "Calls per script call when concurrent calls coalesce", ["op"],
                          registry=target, buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512))
        pool._coalescer.on_batch = lambda op, size: sizes.labels(op).observe(size)
    return duration


@contextmanager
def _observed(duration: Histogram, op: str) -> Iterator[None]:
    """Time the block into `duration` under `op`, and the outcome: ok, or the error."""
    started, outcome = time.perf_counter(), "ok"
    try:
        yield
    except WalletPoolError as exc:
        outcome = type(exc).__name__
        raise
    finally:
        duration.labels(op, outcome).observe(time.perf_counter() - started)


def _timed(method: Callable[..., Any], op: str, duration: Histogram) -> Callable[..., Any]:
    if inspect.iscoroutinefunction(method):
        @functools.wraps(method)
        async def timed_async(*args: Any, **kwargs: Any) -> Any:
            with _observed(duration, op):
                return await method(*args, **kwargs)

        return timed_async

    @functools.wraps(method)
    def timed(*args: Any, **kwargs: Any) -> Any:
        with _observed(duration, op):
            return method(*args, **kwargs)

    return timed


def serve(pool: WalletPool, port: int = 9465, address: str = "127.0.0.1",
          interval: float = 5.0) -> tuple[Any, CollectorRegistry]:
    """Serve /metrics for every pool on `address:port` (a daemon thread); returns the
    HTTP server (shutdown(), then server_close(), stop it) and its registry."""
    from prometheus_client import start_http_server

    registry = CollectorRegistry()
    registry.register(PoolCollector(pool, interval))
    server, _ = start_http_server(port, addr=address, registry=registry)
    return server, registry

"""The circuit breaker in front of Redis: after a few failures in a row a client stops
trying Redis for a while, so that a dead Redis does not add a timeout to every call."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from ..engine.calls import fields
from ..logs import ContextLogger
from ..models import Mode

log = ContextLogger()


class Breaker:
    """Closed: try Redis. After `failures` failures in a row it opens: calls skip Redis
    for `probe_after` seconds, then one call at a time probes it again. A success closes
    it. Each switch between Redis and the fallback is logged at WARNING and counted.

    While it is open, a lookout (`on_open` starts it: reserve/watch.py) may report that
    Redis answers again (`answered`): the next call probes at once, unless a probe is
    already under way."""

    def __init__(self, failures: int, probe_after: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.failures = failures
        self.probe_after = probe_after
        self.clock = clock
        self.in_a_row = 0
        self.open_since: float | None = None
        self.next_probe = 0.0
        self.switches = 0
        self.redis_attempts = 0
        self.on_open: Callable[[], None] | None = None
        self._probing_until = 0.0
        self._lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        return self.open_since is not None

    @property
    def mode(self) -> Mode:
        return "redis" if self.open_since is None else "fallback"

    def allow(self) -> bool:
        """Whether this call should try Redis."""
        with self._lock:
            if self.open_since is None:
                self.redis_attempts += 1
                return True
            now = self.clock()
            if now < self.next_probe:
                return False
            self.next_probe = now + self.probe_after  # one probe per interval
            self._probing_until = self.next_probe
            self.redis_attempts += 1
            return True

    def answered(self) -> None:
        """Redis answers again: the next call probes it now, not at the interval's end
        (one probe at a time: none while another is under way)."""
        with self._lock:
            now = self.clock()
            if self.open_since is not None and now >= self._probing_until:
                self.next_probe = min(self.next_probe, now)

    def succeeded(self) -> None:
        with self._lock:
            self.in_a_row = 0
            self._probing_until = 0.0
            if self.open_since is None:
                return
            down_for = self.clock() - self.open_since
            self.open_since = None
            self.switches += 1
        log.warning("Redis is back: allocating from Redis again",
                    extra=fields(mode="redis", fallback_seconds=round(down_for, 3)))

    def failed(self, error: BaseException) -> None:
        with self._lock:
            self.in_a_row += 1
            self._probing_until = 0.0
            if self.open_since is not None:
                self.next_probe = self.clock() + self.probe_after
                return
            if self.in_a_row < self.failures:
                return
            self.open_since = self.clock()
            self.next_probe = self.open_since + self.probe_after
            self.switches += 1
        log.warning("Redis is unreachable: allocating from the database's reserve",
                    extra=fields(mode="fallback", error=str(error)))
        if self.on_open is not None:
            self.on_open()

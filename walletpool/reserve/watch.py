"""The breaker's lookout: while a client's breaker is open, one thread asks Redis every
100 ms whether it answers (with Sentinel: the primary Sentinel names now, so a failover
is seen as soon as Sentinel announces it). The first answer lets the next call probe
Redis at once, instead of after the breaker's whole interval. Only this thread waits on
a dead or paused server meanwhile: no caller does (docs/design.md, "The two lanes")."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..engine.wire import primary_lookup
from ..logs import ContextLogger

if TYPE_CHECKING:
    from ..settings import Settings
    from .breaker import Breaker

log = ContextLogger()

EVERY = 0.1
"""Seconds between the lookout's questions while the breaker is open."""
TIMEOUT = 0.25
"""Seconds the lookout waits for an answer: a paused server costs it this, no caller."""


class Lookout:
    """Started by the breaker when it opens (`start`, idempotent); it ends by itself once
    the breaker closes, or at `close`. It asks the server the settings name, so it is
    `enabled` only for a client built from them (`from_url`): a client handed its own
    Redis connection keeps the breaker's plain interval."""

    def __init__(self, settings: Settings, breaker: Breaker, every: float = EVERY) -> None:
        self.settings = replace(settings, socket_timeout=min(TIMEOUT, settings.socket_timeout),
                                max_connections=1)
        self.breaker = breaker
        self.every = every
        self.answers = 0
        """Times Redis answered while the breaker was open (each let a probe through)."""
        self.enabled = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            running = self._thread is not None and self._thread.is_alive()
            if not self.enabled or self._stop.is_set() or running:
                return
            self._thread = threading.Thread(target=self._run, name="walletpool-lookout",
                                            daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2 * TIMEOUT + self.every)

    def _run(self) -> None:
        import redis

        from ..connect import client_for

        try:
            client, sentinels = client_for(redis, self.settings)
        except Exception as exc:  # the lookout is a shortcut: never a failure of its own
            log.debug("the breaker's lookout could not start: %s", exc)
            return
        try:
            while self.breaker.is_open and not self._stop.wait(self.every):
                if self.breaker.is_open and _answers(client):
                    self.breaker.answered()
                    self.answers += 1
        finally:
            client.close()
            for sentinel in sentinels:
                sentinel.close()


def _answers(client: Any) -> bool:
    """Whether the server the client's calls go to answers now. With Sentinel, asking for
    the primary first drops connections to one Sentinel no longer names."""
    import redis

    ask = primary_lookup(client)
    try:
        if ask is not None:
            ask()
        return bool(client.ping())
    except redis.exceptions.RedisError:
        return False

"""A TCP proxy between one worker and the primary of the moment (asked of Sentinel at
each new connection), which can cut the worker off: while `blackhole` is on it forwards
no byte either way and connects nothing new, so the worker's calls time out as they do
across a network partition, and its connections live on to meet the primary again."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable

from walletpool.dev.redis_server import free_port


class Proxy:
    def __init__(self, upstream: Callable[[], int]) -> None:
        self.upstream = upstream
        self.port = free_port()
        self._cut = threading.Event()
        self._closed = False
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def blackhole(self, on: bool) -> None:
        if on:
            self._cut.set()
        else:
            self._cut.clear()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._connect, args=(client,), daemon=True).start()

    def _connect(self, client: socket.socket) -> None:
        while self._cut.is_set() and not self._closed:
            time.sleep(0.05)
        try:
            upstream = socket.create_connection(("127.0.0.1", self.upstream()), timeout=2)
        except (OSError, ValueError):
            client.close()
            return
        self._sockets += [client, upstream]
        for source, target in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            source.settimeout(0.05)
            while not self._closed:
                if self._cut.is_set():
                    time.sleep(0.05)
                    continue
                try:
                    data = source.recv(65536)
                except TimeoutError:
                    continue
                if not data:
                    break
                target.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, target):
                with contextlib.suppress(OSError):
                    s.close()

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        for s in self._sockets:
            with contextlib.suppress(OSError):
                s.close()

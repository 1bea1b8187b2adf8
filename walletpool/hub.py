"""Hubs: how a client waits for the wallets handed to its orders. One hub per pool and
client, whatever the number of orders waiting: it reads the pool's stream (one XREAD
BLOCK at a time, so one connection) and checks all its orders in one call when the
stream names one of them, or at least every RECHECK seconds (engine/waits.py keeps the
bookkeeping both hubs share). A hub runs only while an order of its client waits.

SyncHub serves WalletPool with a thread; AsyncHub serves AsyncWalletPool with a task."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from .engine import wire
from .engine.calls import Call, Pause, Plan, log
from .engine.waits import BLOCK_MS, HubState, Standing, Waiter
from .errors import WalletPoolError
from .keys import key
from .plans import Plans
from .settings import Settings

T = TypeVar("T")


class SyncClient(Protocol):
    """What a SyncHub uses of WalletPool (named so, not imported: the client imports
    this module)."""

    redis: Any
    settings: Settings
    _where: str
    _plans: Plans

    def _do(self, plan: Plan[T]) -> T: ...
    def _send(self, call: Call[T]) -> T: ...


class AsyncClient(Protocol):
    """What an AsyncHub uses of AsyncWalletPool."""

    redis: Any
    settings: Settings
    _where: str
    _plans: Plans

    async def _do(self, plan: Plan[T]) -> T: ...
    async def _send(self, call: Call[T]) -> T: ...

READ_COUNT = 1000
"""Stream entries one read takes at most."""


def _entries(reply: Any) -> list[Any]:
    """The entries of the one stream an XREAD reply carries (RESP2 list or RESP3 map)."""
    if not reply:
        return []
    if isinstance(reply, dict):
        return next(iter(reply.values()))[0] if reply else []
    return list(reply[0][1])


def _outcome(waiter: Waiter) -> object:
    """What a Pause step returns once the waiter is off the hub."""
    result = waiter.result
    if result is None:
        return "timeout"
    if isinstance(result, BaseException):
        raise result
    return result


class _Hub:
    """What both hubs keep: the pool's bookkeeping and each waiting call's wake-up
    (a threading.Event or an asyncio.Event: both have set())."""

    def __init__(self, prefix: str, pool: str) -> None:
        self._state = HubState(pool, key(prefix, pool, "events"))
        self._events: dict[int, threading.Event | asyncio.Event] = {}
        self._lock: threading.Lock | contextlib.nullcontext[None] = contextlib.nullcontext()

    def _leave(self, waiter: Waiter) -> None:
        with self._lock:
            self._state.remove(waiter)
        self._events.pop(id(waiter), None)

    def _wake(self, done: list[Waiter]) -> None:
        for waiter in done:
            woken = self._events.get(id(waiter))
            if woken is not None:
                woken.set()


class SyncHub(_Hub):
    def __init__(self, client: SyncClient, pool: str) -> None:
        super().__init__(client.settings.prefix, pool)
        self._client = client
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closing = False

    def wait(self, pause: Pause) -> object:
        waiter = Waiter(pause.owner, pause.until, pause.joined_ms)
        woken = self._events[id(waiter)] = threading.Event()
        with self._lock:
            self._state.add(waiter, pause.cursor)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name=f"walletpool-hub-{self._state.pool}")
                self._thread.start()
        try:
            woken.wait(max(0.0, pause.until - time.monotonic()))
        except BaseException:  # Ctrl-C while waiting: the order withdraws, gives back
            self._leave(waiter)
            withdraw_cancelled(lambda: self._client._send(pause.cancel))
            raise
        self._leave(waiter)
        return _outcome(waiter)

    def close(self) -> None:
        """Stop the reader before the client's connections close: a read cut off under
        it fails in redis-py's parser (AttributeError in 5.0) instead of returning. Any
        call still waiting learns that the client closed."""
        with self._lock:
            self._closing = True
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=BLOCK_MS / 1000 + self._client.settings.socket_timeout)

    def _run(self) -> None:
        state = self._state
        while True:
            with self._lock:
                closed = state.fail(WalletPoolError(
                    f"the client of pool {state.pool} was closed while orders waited")
                ) if self._closing else []
                if self._closing or not state.waiting:
                    self._thread, state.fresh = None, True
                    self._wake(closed)
                    return
                cursor = state.cursor
            try:
                reply = self._client.redis.xread({state.stream: cursor}, count=READ_COUNT,
                                                 block=BLOCK_MS)
                with self._lock:
                    hit = state.heard(_entries(reply))
                    owners = state.owners() if hit or state.due(time.monotonic()) else {}
                if owners:
                    found: dict[str, Standing] = self._client._do(
                        self._client._plans.wait_check(state.pool, owners))
                    with self._lock:
                        done = state.settle(found, time.monotonic())
                    self._wake(done)
            except Exception as exc:  # every order waiting learns why the hub stopped
                error = exc if isinstance(exc, WalletPoolError) else wire.translate(
                    exc, self._client._where)
                log.warning("waiting for wallets failed: %s", error)
                with self._lock:
                    done = state.fail(error)
                self._wake(done)


class AsyncHub(_Hub):
    def __init__(self, client: AsyncClient, pool: str) -> None:
        super().__init__(client.settings.prefix, pool)
        self._client = client
        self._task: asyncio.Task[None] | None = None

    async def wait(self, pause: Pause) -> object:
        waiter = Waiter(pause.owner, pause.until, pause.joined_ms)
        woken = self._events[id(waiter)] = asyncio.Event()
        self._state.add(waiter, pause.cursor)
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._run())
        try:
            await asyncio.wait_for(woken.wait(), max(0.0, pause.until - time.monotonic()))
        except asyncio.TimeoutError:
            pass
        except BaseException:  # cancelled: the order withdraws, and gives back a wallet
            self._leave(waiter)
            await _shielded(lambda: self._client._send(pause.cancel))
            raise
        self._leave(waiter)
        return _outcome(waiter)

    async def _run(self) -> None:
        state = self._state
        while state.waiting:
            try:
                reply = await self._client.redis.xread({state.stream: state.cursor},
                                                       count=READ_COUNT, block=BLOCK_MS)
                hit = state.heard(_entries(reply))
                if hit or state.due(time.monotonic()):
                    plan: Plan[dict[str, Standing]] = self._client._plans.wait_check(
                        state.pool, state.owners())
                    found = await self._client._do(plan)
                    self._wake(state.settle(found, time.monotonic()))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # every order waiting learns why the hub stopped
                error = exc if isinstance(exc, WalletPoolError) else wire.translate(
                    exc, self._client._where)
                log.warning("waiting for wallets failed: %s", error)
                self._wake(state.fail(error))
        state.fresh = True

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task


def withdraw_cancelled(send: Callable[[], Any]) -> None:
    """Send a cancelled order's withdrawal; a failure is logged, so that the caller
    sees its own interruption (the ticket then lapses at its deadline, a wallet handed
    to it at its lease's)."""
    try:
        send()
    except WalletPoolError as exc:
        log.warning("could not withdraw a cancelled order: %s", exc)


async def _shielded(send: Callable[[], Awaitable[Any]]) -> None:
    """Send a withdrawal even though the caller is being cancelled; a failure is logged
    (the ticket then lapses at its deadline, a wallet handed to it at its lease's)."""
    try:
        await asyncio.shield(send())
    except Exception as exc:
        log.warning("could not withdraw a cancelled order: %s", exc)

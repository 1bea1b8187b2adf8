"""Coalescing: concurrent calls of one kind on one pool go to Redis as one script call
(group commit, no timer). A call that finds none of its kind in flight for its pool is
sent at once, alone, with its own script: one caller waits no longer than without
coalescing. Calls that arrive while one is in flight queue; when it returns, the queue
(up to `max_batch`) goes as one batch (engine/batches.py), and so on while calls keep
coming. Each caller gets its own outcome, as if its call had gone alone.

`SyncCoalescer` serves threads when a WalletPool is made with coalesce=True (by default
each thread sends its own call: faster under the GIL, docs/guide/coalescing.md):
leader and followers, no extra thread. The caller whose call is in flight leads; when
it returns it makes the first queued caller the leader of the next batch and wakes it,
then hands each member of its own batch its outcome.
`AsyncCoalescer` serves tasks. The tasks one batch's reply wakes run in one turn of the
event loop, and their next calls (the releases of the leases just handed out) would go
as one alone and the rest behind it: so while some of them have not run yet, a call
that finds none of its kind in flight waits for that turn to end, and the calls made in
it go with it as one batch. Otherwise a call goes at once. A call alone is sent by its
own task, a batch by a task of its own, so that a caller's cancellation never strands
the others; a cancelled
caller whose batch leased it a wallet gives it back, and one that joined the waiters
withdraws (docs/design.md, "Coalescing")."""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from .engine.batches import taking_back
from .engine.calls import Call, Outcome
from .errors import WalletPoolError
from .logs import ContextLogger

T = TypeVar("T")
W = TypeVar("W")
log = ContextLogger()

BatchSizes = Callable[[str, int], None]
"""Told (kind, size) of each batch sent: the metrics' walletpool_batch_size."""


def _unwrap(outcome: Outcome) -> Any:
    value, error = outcome
    if error is not None:
        raise error
    return value


class _Caller(Generic[W]):
    """One caller's call while it waits to go, with how it learns its outcome (`wake`: a
    _Signal or an asyncio future)."""

    __slots__ = ("call", "leads", "outcome", "taken", "wake", "woken")

    def __init__(self, call: Call[Any], wake: W) -> None:
        self.call = call
        self.wake = wake
        self.taken = False
        """In a batch already: it goes, whatever its caller does now."""
        self.leads: list[_Caller[W]] | None = None
        """The batch this caller sends (the sync leader)."""
        self.outcome: Outcome | None = None
        self.woken = False
        """Woken with others of its batch, in one turn of the loop (asyncio)."""


class _Lane(Generic[W]):
    """The calls of one kind on one pool: whether one is in flight, and those queued."""

    __slots__ = ("busy", "queue")

    def __init__(self) -> None:
        self.busy = False
        self.queue: deque[_Caller[W]] = deque()


class _Lanes(Generic[W]):
    """The queues of one client, and the taking of a batch from one (shared by both
    coalescers)."""

    def __init__(self, max_batch: int, on_batch: BatchSizes | None) -> None:
        self.max_batch = max_batch
        self.on_batch = on_batch
        self._lanes: dict[tuple[str, str], _Lane[W]] = {}

    def lane(self, call: Call[Any]) -> _Lane[W]:
        key = (call.script.name, call.keys[0])  # one kind on one pool (its first key)
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = _Lane()
        return lane

    def take(self, lane: _Lane[W]) -> list[_Caller[W]]:
        """The next batch, in arrival order; none left: the lane is idle."""
        batch: list[_Caller[W]] = []
        while lane.queue and len(batch) < self.max_batch:
            caller = lane.queue.popleft()
            caller.taken = True
            batch.append(caller)
        lane.busy = bool(batch)
        return batch

    def sent(self, batch: list[_Caller[W]]) -> None:
        if self.on_batch is not None:
            self.on_batch(batch[0].call.script.name, len(batch))


class _Coalescer(Generic[W]):
    """What both coalescers share: their queues, and the batch sizes' listener."""

    _lanes: _Lanes[W]

    @property
    def on_batch(self) -> BatchSizes | None:
        return self._lanes.on_batch

    @on_batch.setter
    def on_batch(self, hook: BatchSizes | None) -> None:
        self._lanes.on_batch = hook


class _Signal:
    """A one-shot wake-up for one waiting thread: a lock taken at birth, which the waiter
    waits to take and the waker releases. Cheaper than threading.Event (no condition,
    no per-wait lock), which counts at one wake-up per coalesced call."""

    __slots__ = ("_lock",)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()

    def wait(self) -> None:
        self._lock.acquire()  # interruptible: Ctrl-C raises here

    def set(self) -> None:
        self._lock.release()


class SyncCoalescer(_Coalescer[_Signal]):
    """Coalescing for WalletPool (threads). `alone(call)` sends one call as the client
    does without coalescing; `together(calls)` sends a batch and returns each outcome."""

    def __init__(self, alone: Callable[[Call[Any]], Any],
                 together: Callable[[list[Call[Any]]], list[Outcome]], max_batch: int,
                 on_batch: BatchSizes | None = None) -> None:
        self._alone = alone
        self._together = together
        self._lanes: _Lanes[_Signal] = _Lanes(max_batch, on_batch)
        self._lock = threading.Lock()

    def run(self, call: Call[T]) -> T:
        with self._lock:
            lane = self._lanes.lane(call)
            if not lane.busy:  # none in flight: this call goes at once, alone
                lane.busy = True
                me = None
            else:
                me = _Caller(call, _Signal())
                lane.queue.append(me)
        if me is None:
            return self._alone_first(lane, call)
        if me.leads is None:
            try:
                me.wake.wait()
            except BaseException:  # Ctrl-C while queued: gone from the queue, never sent
                with self._lock:
                    if not me.taken:
                        lane.queue.remove(me)
                        raise
                if me.leads is None:  # its batch is under way: its outcome is dropped
                    raise
                self._lead(lane, me)  # made leader meanwhile: the others still go
                raise
            if me.leads is None:
                assert me.outcome is not None
                return _unwrap(me.outcome)  # type: ignore[no-any-return]
        self._lead(lane, me)
        assert me.outcome is not None
        return _unwrap(me.outcome)  # type: ignore[no-any-return]

    def _alone_first(self, lane: _Lane[_Signal], call: Call[T]) -> T:
        """The fast path: no caller object, no event; what queued meanwhile goes next."""
        if self._lanes.on_batch is not None:
            self._lanes.on_batch(call.script.name, 1)
        try:
            return self._alone(call)  # type: ignore[no-any-return]
        finally:
            with self._lock:
                following = self._lanes.take(lane)
                if following:
                    following[0].leads = following
            if following:
                following[0].wake.set()

    def _lead(self, lane: _Lane[_Signal], me: _Caller[_Signal]) -> None:
        batch = me.leads
        assert batch is not None
        results: list[Outcome] | None = None
        try:
            results = self._send(batch)
        finally:
            with self._lock:
                if results is None:  # interrupted (Ctrl-C): the others go in the next batch
                    for caller in reversed(batch[1:]):
                        caller.call = caller.call if caller.call.idempotent else (
                            caller.call.resend or caller.call)
                        lane.queue.appendleft(caller)
                following = self._lanes.take(lane)
                if following:
                    following[0].leads = following
            if following:
                following[0].wake.set()
        for caller, outcome in zip(batch, results, strict=True):
            caller.outcome = outcome
            if caller is not me:
                caller.wake.set()

    def _send(self, batch: list[_Caller[_Signal]]) -> list[Outcome]:
        self._lanes.sent(batch)
        if len(batch) > 1:
            return self._together([c.call for c in batch])
        try:
            return [(self._alone(batch[0].call), None)]
        except WalletPoolError as exc:
            return [(None, exc)]


class AsyncCoalescer(_Coalescer["asyncio.Future[Outcome]"]):
    """Coalescing for AsyncWalletPool (tasks): as SyncCoalescer, with `alone` and
    `together` awaited, and `give_back(call)` sending what undoes a cancelled caller's
    result."""

    def __init__(self, alone: Callable[[Call[Any]], Awaitable[Any]],
                 together: Callable[[list[Call[Any]]], Awaitable[list[Outcome]]],
                 give_back: Callable[[Call[Any]], Awaitable[Any]], max_batch: int,
                 on_batch: BatchSizes | None = None) -> None:
        self._alone = alone
        self._together = together
        self._give_back = give_back
        self._lanes: _Lanes[asyncio.Future[Outcome]] = _Lanes(max_batch, on_batch)
        self._tasks: set[asyncio.Task[None]] = set()
        self._woken = 0
        """Callers a batch's reply woke that have not run yet: their next calls come in
        this same turn of the loop."""

    async def run(self, call: Call[T]) -> T:
        lane = self._lanes.lane(call)
        if lane.busy:
            return await self._queued(lane, _Caller(  # type: ignore[no-any-return]
                call, asyncio.get_running_loop().create_future()))
        lane.busy = True
        if self._woken:  # the others a batch woke call in this turn: wait for it to end
            try:
                await asyncio.sleep(0)
            except asyncio.CancelledError:  # never sent; those that joined go without it
                self._next(lane)
                raise
        if lane.queue:  # it goes first in their batch, sent by a task of its own
            me: _Caller[asyncio.Future[Outcome]] = _Caller(
                call, asyncio.get_running_loop().create_future())
            lane.queue.appendleft(me)
            self._next(lane)
            return await self._queued(lane, me)  # type: ignore[no-any-return]
        try:
            if self._lanes.on_batch is not None:
                self._lanes.on_batch(call.script.name, 1)
            value: T = await self._alone(call)
        finally:
            self._next(lane)
        return value

    async def _queued(self, lane: _Lane[asyncio.Future[Outcome]],
                      me: _Caller[asyncio.Future[Outcome]]) -> Any:
        """A caller's outcome once its batch returns."""
        if not me.taken:
            lane.queue.append(me)
        try:
            return _unwrap(await me.wake)
        except asyncio.CancelledError:
            if not me.taken:  # never sent
                lane.queue.remove(me)
            raise  # taken: its batch gives back what it got (_flush)
        finally:
            if me.woken:
                self._woken -= 1

    def _next(self, lane: _Lane[asyncio.Future[Outcome]]) -> None:
        batch = self._lanes.take(lane)
        if batch:
            task = asyncio.get_running_loop().create_task(self._flush(lane, batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _flush(self, lane: _Lane[asyncio.Future[Outcome]],
                     batch: list[_Caller[asyncio.Future[Outcome]]]) -> None:
        results: list[Outcome]
        try:
            self._lanes.sent(batch)
            if len(batch) > 1:
                results = await self._together([c.call for c in batch])
            else:
                try:
                    results = [(await self._alone(batch[0].call), None)]
                except WalletPoolError as exc:
                    results = [(None, exc)]
        except BaseException as exc:  # the client closing under it: no caller is left hanging
            error = exc if isinstance(exc, WalletPoolError) else WalletPoolError(
                f"the batch was interrupted: {type(exc).__name__}")
            results = [(None, error)] * len(batch)
            raise
        finally:
            self._next(lane)
            abandoned = []
            for caller, outcome in zip(batch, results, strict=True):
                if caller.wake.cancelled():
                    abandoned.append((caller.call, outcome))
                elif not caller.wake.done():
                    caller.wake.set_result(outcome)
                    if len(batch) > 1:
                        caller.woken = True
                        self._woken += 1
        for call, outcome in abandoned:
            await self._abandon(call, outcome)

    async def _abandon(self, call: Call[Any], outcome: Outcome) -> None:
        """A cancelled caller's result goes back: an order that joined the waiters
        withdraws (giving back a wallet handed to it), a fresh lease is released."""
        back = call.cancel if call.cancel is not None else taking_back(call, outcome)
        if back is None:
            return
        try:
            await self._give_back(back)
        except WalletPoolError as exc:  # the lease then ends at its deadline
            log.warning("could not give back a cancelled caller's result: %s", exc)

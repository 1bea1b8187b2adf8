"""Orders that wait for a wallet: the calls (join, check, withdraw), the program an
`allocate(..., wait=S)` runs, and the bookkeeping of a client's hub, the one reader per
pool that learns of hand-offs for every order the client has waiting. No I/O: the
sync and asyncio clients run the program and drive the hub (walletpool/hub.py).

How a wait goes (docs/design.md, "Orders that wait"):
1. allocate.lua finds no free wallet and the call may wait: the owner joins the pool's
   waiters and the reply says 'queued', with the id of its stream entry.
2. The program pauses (a `Pause` step). The client's hub for the pool reads the pool's
   stream from that id (XREAD BLOCK on one connection, whatever the number of orders
   waiting) and, when a 'handed' or 'abandoned' change names one of its owners, or at
   least every RECHECK seconds, sends one wait_check.lua for all of them: it hands out
   what is due and returns each owner's lease or standing.
3. When the wait runs out, withdraw.lua takes the ticket back in the same step as it
   looks for a hand-off: the order either never got a wallet or gets the one handed
   to it. A cancelled call withdraws with give_back, releasing a wallet handed to it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from .. import validation
from ..errors import InvalidInput, PoolFenced, QueueFull, WaitTimeout
from ..models import Lease, Priority
from . import replies
from .calls import Call, Pause, Program, Reply, log, text
from .calls import fields as _fields
from .scripts import script

if TYPE_CHECKING:
    from .operations import Operations

T = TypeVar("T")
PRIORITIES = ("normal", "high")
RECHECK = 1.0
"""Seconds between a hub's checks of its orders when it hears nothing: a hand-off whose
stream entry it missed (a trimmed stream, a broken read) reaches the order within this."""
BLOCK_MS = 250
"""How long one XREAD of a hub blocks (well under any socket timeout)."""


@dataclass(frozen=True)
class Queued:
    """allocate.lua's 'queued' reply: the order joined at `joined_ms` and waits until
    `deadline_ms` (the pool's clock, which said `now_ms`); its hub reads the stream
    after `cursor`. A lease of the owner leased at or after `joined_ms` is the one
    handed to it."""

    deadline_ms: int
    joined_ms: int
    cursor: str
    now_ms: int

    @property
    def seconds_left(self) -> float:
        return max(0.0, (self.deadline_ms - self.now_ms) / 1000)


Standing = Lease | Literal["queued", "gone"]
"""Where a waiting order stands, as wait_check.lua reports it."""


def checked_wait(wait: object) -> int:
    """A wait in seconds as whole ms (0: do not wait)."""
    return validation.seconds("wait", wait, allow_zero=True)


def checked_priority(priority: object) -> Priority:
    if priority not in PRIORITIES:
        raise InvalidInput(f"priority must be 'normal' or 'high', not {priority!r}")
    return priority  # type: ignore[return-value]


# -- the calls --------------------------------------------------------------------------


def join(ops: Operations, pool: str, owner: str, ttl_arg: int, cid: str, uid: str,
         wait_ms: int, priority: Priority) -> Call[Lease | Queued]:
    """allocate.lua with a wait: the lease, or the order queued."""
    keys = ops.keys(pool)

    def decode(reply: Reply) -> Lease | Queued:
        status = text(reply[0])
        if status == "queued":
            queued = Queued(int(text(reply[1])), int(text(reply[2])), text(reply[3]),
                            int(text(reply[4])))
            log.debug("order waits", extra=_fields(pool=pool, owner=owner,
                                                   wait=queued.seconds_left))
            return queued
        if status == "full":
            free, leased, cooling, waiting, limit = (int(text(v)) for v in reply[1:6])
            log.warning("pool exhausted and its waiters full", extra=_fields(
                pool=pool, waiting=waiting, max_waiters=limit))
            raise QueueFull(
                f"pool {pool} has no free wallet and {waiting} orders waiting already (its "
                f"max_waiters is {limit}); add wallets, or configure a larger --max-waiters",
                pool=pool, free=free, leased=leased, cooling=cooling, waiting=waiting,
                max_waiters=limit)
        return ops.allocated(pool, owner, reply)

    def undo(result: Lease | Queued) -> Call[Any] | None:
        """A fresh lease is released; an order that joined the line withdraws (its caller
        gets NotReplicated and stops waiting: left in the line, it would be handed a
        wallet nobody takes), giving back a wallet handed to it meanwhile."""
        if isinstance(result, Queued):
            return withdraw(ops, pool, owner, give_back=True, joined_ms=result.joined_ms)
        return ops.release(result) if result.fresh else None

    return Call(script("allocate"), keys, (owner, ttl_arg, cid, uid, wait_ms, priority),
                decode, idempotent=True, durable=True, undo=undo)


def check(ops: Operations, pool: str, owners: Mapping[str, int]) -> Call[dict[str, Standing]]:
    """wait_check.lua for the orders a hub has waiting (owner -> when it joined, ms):
    each owner's lease (fresh when it was handed to the order) or standing."""
    keys = ops.keys(pool)
    args = tuple(item for owner, joined in owners.items() for item in (owner, joined))

    def decode(reply: Reply) -> dict[str, Standing]:
        if text(reply[0]) == "nopool":
            raise replies.pool_not_found(pool)
        found: dict[str, Standing] = {}
        for i, owner in enumerate(owners):
            base = 1 + i * 8
            status = text(reply[base])
            if status == "leased":
                lease = replies.lease(pool, owner, reply, base + 1)
                replies.log_change("handed", lease)
                found[owner] = lease
            else:
                found[owner] = "queued" if status == "queued" else "gone"
        return found

    def undo(found: dict[str, Standing]) -> Call[Any] | None:
        handed = [s for s in found.values() if isinstance(s, Lease) and s.fresh]
        return ops.release_many(handed) if handed else None

    return Call(script("wait_check"), keys, args, decode, idempotent=True, durable=True,
                undo=undo)


def withdraw(ops: Operations, pool: str, owner: str, give_back: bool, joined_ms: int
             ) -> Call[Lease | tuple[int, int, int]]:
    """withdraw.lua: the order stops waiting. Decodes to the lease handed to it (taken,
    without give_back), or the pool's free, leased and cooling counts."""
    keys = ops.keys(pool)

    def decode(reply: Reply) -> Lease | tuple[int, int, int]:
        status = text(reply[0])
        if status == "nopool":
            raise replies.pool_not_found(pool)
        if status == "leased":
            return replies.lease(pool, owner, reply, 1)
        if status == "returned":
            log.info("wallet handed to a cancelled order given back", extra=_fields(
                pool=pool, owner=owner, state=text(reply[1])))
            return (0, 0, 0)
        free, leased, cooling = (int(text(v)) for v in reply[1:4])
        return (free, leased, cooling)

    def undo(result: Lease | tuple[int, int, int]) -> Call[Any] | None:
        return ops.release(result) if isinstance(result, Lease) and result.fresh else None

    return Call(script("withdraw"), keys, (owner, "1" if give_back else "0", joined_ms),
                decode, idempotent=True, durable=True, undo=undo)


# -- the program --------------------------------------------------------------------------


def allocate_waiting(ops: Operations, pool: str, owner: str, ttl_arg: int, cid: str,
                     uid: str, wait: float, priority: Priority,
                     heal: Callable[[], Program[Any]] | None = None) -> Program[Lease]:
    """Allocate, waiting up to `wait` seconds (capped by the pool's max_wait) for a
    wallet when none is free. WaitTimeout when none was handed to the order in time.
    `heal` (a client with a database): what heals a fenced pool, before the call that
    met the fence is sent again."""

    def send(call: Call[T]) -> Program[T]:
        try:
            result: T = yield call
        except PoolFenced:
            if heal is None:
                raise
            yield from heal()
            result = yield call
        return result

    started = time.monotonic()
    until = started + wait
    # cancelled before its join's reply: it gives back anything leased to it since now,
    # on the pool's clock (none yet known: 0 would take back an older lease)
    cancel = withdraw(ops, pool, owner, give_back=True, joined_ms=2**52)
    while True:
        wait_ms = max(1, math.ceil((until - time.monotonic()) * 1000))
        got = yield from send(join(ops, pool, owner, ttl_arg, cid, uid, wait_ms,
                                   priority).with_cancel(cancel))
        if isinstance(got, Lease):
            return got
        # the pool's max_wait may be shorter than the wait asked for
        until = min(until, time.monotonic() + got.seconds_left)
        cancel = withdraw(ops, pool, owner, give_back=True, joined_ms=got.joined_ms)
        heard = yield Pause(pool, owner, got.cursor, until, cancel, got.joined_ms)
        if isinstance(heard, Lease):
            return replace(heard, waited=time.monotonic() - started)
        if heard == "gone" and time.monotonic() < until - 0.01:
            continue  # its ticket was lost (a restore, a flush): it joins again
        left = yield from send(withdraw(ops, pool, owner, give_back=False,
                                        joined_ms=got.joined_ms))
        if isinstance(left, Lease):  # handed to it just before the wait ran out
            return replace(left, waited=time.monotonic() - started)
        waited = time.monotonic() - started
        free, leased, cooling = left
        log.warning("wait for a wallet timed out", extra=_fields(
            pool=pool, owner=owner, waited=round(waited, 3)))
        raise WaitTimeout(
            f"pool {pool} handed no wallet to {owner} within {waited:.1f} s of waiting "
            f"({leased} leased, {cooling} cooling); add wallets or wait longer",
            pool=pool, free=free, leased=leased, cooling=cooling, waited=waited)


# -- a hub's bookkeeping ------------------------------------------------------------------


@dataclass(eq=False)
class Waiter:
    """One call waiting, as its hub sees it. The hub sets `result` (a Lease, 'gone', or
    the error that stopped the hub) and then wakes the call."""

    owner: str
    until: float
    joined_ms: int
    result: object = None


@dataclass
class HubState:
    """What a hub for one pool knows: the calls waiting by owner (a retry of the same
    order waits beside the first, on the same ticket), where it reads the stream from,
    and when it last checked."""

    pool: str
    stream: str
    waiting: dict[str, list[Waiter]] = field(default_factory=dict)
    cursor: str = "0-0"
    checked_at: float = 0.0
    fresh: bool = True
    """No read since the hub (re)started: its cursor comes from the first waiter."""

    def add(self, waiter: Waiter, cursor: str) -> None:
        self.waiting.setdefault(waiter.owner, []).append(waiter)
        if self.fresh or _id(cursor) < _id(self.cursor):
            self.cursor, self.fresh = cursor, False

    def remove(self, waiter: Waiter) -> None:
        calls = self.waiting.get(waiter.owner)
        if calls and waiter in calls:
            calls.remove(waiter)
            if not calls:
                del self.waiting[waiter.owner]

    def heard(self, entries: Sequence[tuple[Any, Mapping[Any, Any]]]) -> bool:
        """Move the cursor past `entries` (one stream's part of an XREAD reply); True when
        one of them hands a wallet to, or drops, an owner this hub has waiting."""
        hit = False
        for entry_id, fields in entries:
            self.cursor = text(entry_id)
            if hit:
                continue
            lines = fields.get(b"c", fields.get("c"))
            if lines is None:
                continue
            for line in text(lines).split("\n"):
                kind, _, rest = line.partition(" ")
                if kind in ("handed", "abandoned"):
                    owner = rest.split(" ", 3)[2]
                    if owner in self.waiting:
                        hit = True
                        break
        return hit

    def due(self, now: float) -> bool:
        return now - self.checked_at >= RECHECK

    def owners(self) -> dict[str, int]:
        """Each owner waiting, and when it joined (the earliest of its calls)."""
        return {owner: min(w.joined_ms for w in calls) for owner, calls in self.waiting.items()}

    def settle(self, found: Mapping[str, Standing], now: float) -> list[Waiter]:
        """Take the answer of a check; returns the calls it ends (their result set)."""
        self.checked_at = now
        done: list[Waiter] = []
        for owner, standing in found.items():
            if standing == "queued":
                continue
            for waiter in self.waiting.pop(owner, []):
                waiter.result = standing
                done.append(waiter)
        return done

    def fail(self, error: BaseException) -> list[Waiter]:
        """The hub stopped on `error`: every call waiting gets it."""
        done = [w for calls in self.waiting.values() for w in calls]
        for waiter in done:
            waiter.result = error
        self.waiting.clear()
        return done


def _id(stream_id: str) -> tuple[int, int]:
    ms, _, seq = stream_id.partition("-")
    return int(ms or 0), int(seq or 0)

"""The steps a client runs: a `Call` of one Lua script on Redis, a `Query` on the
database (the reserve lane), and a `Program`, a generator of steps that receives each
one's result, so that the sync and async clients run multi-step operations alike.

A `Plan` is what one public operation hands a client to run: a single Call (the fast
path) or a Program. A client runs a step and sends its result into the program, or,
when the step failed with a WalletPoolError, throws the error into it, so that a
program may catch it (the reserve lane catches BackendUnavailable)."""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

from ..errors import WalletPoolError
from ..logs import ContextLogger
from .scripts import Script

T = TypeVar("T")
U = TypeVar("U")
log = ContextLogger()

Reply = Any
"""A raw reply of redis-py: nested lists of bytes or str (as the client decodes) and ints."""


@dataclass(frozen=True)
class Call(Generic[T]):
    script: Script
    keys: tuple[str, ...]
    args: tuple[str | int, ...]
    decode: Callable[[Reply], T]
    idempotent: bool
    """Safe to send again after a connection broke mid-call (the reply may have been lost
    after the script ran): allocate is idempotent per owner, release is not."""
    resend: Call[T] | None = None
    """For a call that is not idempotent: what to send instead when its reply was lost
    (a broken connection), a call that tells from the state it finds whether the first
    one applied (a release: whether the token still holds the wallet)."""
    durable: bool = False
    """A write that a failover must not lose (it would let a wallet be held twice): with
    `replicas` set, it counts only once the replicas acknowledged it (engine/wire.py)."""
    undo: Callable[[T], Call[Any] | None] | None = None
    """For a durable call whose write the replicas did not acknowledge: the call that
    takes back what it handed out (a fresh lease is released), or None."""
    cancel: Call[Any] | None = None
    """What the client sends when the caller is cancelled (an asyncio task, Ctrl-C)
    while this call is in flight: an order joining the waiters withdraws."""

    def with_cancel(self, cancel: Call[Any]) -> Call[T]:
        return replace(self, cancel=cancel)

    def taking_back(self, result: T) -> Call[Any] | None:
        """What takes back this durable call's result when the replicas did not
        confirm it (see `undo`), or None."""
        return self.undo(result) if self.undo is not None else None

    def then(self, after: Callable[[T], U]) -> Call[U]:
        """The same call, its decoded result passed through `after` (not for a call
        with an undo, which takes the result as decoded)."""
        assert self.undo is None, "an undo takes the call's own result"
        decode = self.decode
        return replace(self, decode=lambda reply: after(decode(reply)))  # type: ignore[arg-type, return-value]


@dataclass(frozen=True)
class Query(Generic[T]):
    """A blocking call on the database; the asyncio client runs it in a worker thread."""

    run: Callable[[], T]


@dataclass(frozen=True)
class Pause:
    """A step of a waiting program: wait until the hub hands the order a lease, says it
    is gone, or `until` (time.monotonic) passes. The driver returns the Lease, 'gone' or
    'timeout'; when the caller is cancelled meanwhile it sends `cancel` first."""

    pool: str
    owner: str
    cursor: str
    until: float
    cancel: Call[Any]
    joined_ms: int
    """When the order joined the waiters, on the pool's clock."""


@dataclass(frozen=True)
class Sleep:
    """A step: wait `seconds` (the reserve lane's retries while an order waits)."""

    seconds: float


Step = Call[Any] | Query[Any] | Pause | Sleep
Program = Generator[Step, Any, T]
Plan = Call[T] | Program[T]


Outcome = tuple[Any, WalletPoolError | None]
"""How a step ended: (its result, None), or (None, the error it raised)."""


class Running(Generic[T]):
    """A program under way, for a client's driver: `step` is what it waits on (None once
    it has returned), `resume(outcome)` sends the step's result in or throws its error
    in. An error the program does not catch comes out of `resume`."""

    def __init__(self, program: Program[T]) -> None:
        self._program = program
        self._value: T | None = None
        self.step: Step | None = None
        self._advance(lambda: next(program))

    def resume(self, outcome: Outcome) -> None:
        result, error = outcome
        if error is None:
            self._advance(lambda: self._program.send(result))
        else:
            self._advance(lambda: self._program.throw(error))

    def value(self) -> T:
        assert self.step is None, "the program has not returned yet"
        return self._value  # type: ignore[return-value]

    def _advance(self, move: Callable[[], Step]) -> None:
        try:
            self.step = move()
        except StopIteration as done:
            self.step = None
            self._value = done.value


def as_program(plan: Plan[T]) -> Program[T]:
    """A plan as a program, so that another program can `yield from` it."""
    if not isinstance(plan, Call):
        return plan
    return _single(plan)


def _single(call: Call[T]) -> Program[T]:
    result: T = yield call
    return result


def ask(run: Callable[[], T]) -> Program[T]:
    """A program of one database query."""
    result: T = yield Query(run)
    return result


def text(value: Any) -> str:
    """A reply item as str, whether the client decodes responses or not."""
    return value.decode() if isinstance(value, bytes) else str(value)


def identity(reply: Reply) -> Reply:
    return reply


def fields(**values: object) -> dict[str, object]:
    """Log record extras without the empty ones."""
    return {k: v for k, v in values.items() if v is not None}

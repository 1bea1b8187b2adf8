"""Concurrent calls as one script call (natural batching, docs/design.md "Coalescing"):
which calls may go together, the batch call that carries them, and how its reply
becomes each caller's own outcome. No I/O: the clients' coalescers (walletpool/
coalesce.py) decide when a batch goes, and send it as any other call.

A batch holds calls of one kind (allocate, release or extend) on one pool, in arrival
order. Its script (allocate_batch.lua, ...) serves each exactly as the call's own script
would and replies with each one's own reply, so each caller decodes its reply with its
own call's decoder: the same Lease, the same LeaseLost with its own reason, the same
refusal of a bad argument, its own logs with its own correlation id."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..errors import WalletPoolError
from .calls import Call, Outcome, Program, Reply, log
from .scripts import script

if TYPE_CHECKING:
    from .wire import Durability

BATCH_SCRIPTS = {"allocate": "allocate_batch", "release": "release_batch",
                 "extend": "extend_batch"}
"""The calls that coalesce, by their script, and the script of a batch of them."""
ARGS_PER_CALL = {"allocate": 6, "release": 3, "extend": 4}
ALLOCATE_DEFAULTS: tuple[str | int, ...] = (0, "normal")
"""allocate.lua's optional arguments (wait_ms, priority), as a batch spells them out."""


def _args_of(call: Call[Any]) -> tuple[str | int, ...]:
    args = call.args
    if call.script.name == "allocate" and len(args) < 6:
        args = (*args, *ALLOCATE_DEFAULTS[len(args) - 4:])
    assert len(args) == ARGS_PER_CALL[call.script.name], "a call's arguments changed shape"
    return args


def batch_call(calls: list[Call[Any]]) -> Call[list[Outcome]]:
    """One call of the batch script carrying `calls` (of one kind, one pool), whose
    result is each call's outcome in order: its decoded value, or its own
    WalletPoolError. A reply for the whole batch (no such pool) is each call's reply.

    The batch is idempotent when every call is (allocate, extend); a batch of releases
    resends each one's `resend` (which tells from the state it finds whether the first
    applied), so a batch whose reply a broken connection lost is resolved call by call
    as the calls alone would be."""
    kind = calls[0].script.name
    args = tuple(a for call in calls for a in _args_of(call))
    keys = calls[0].keys
    name = BATCH_SCRIPTS[kind]
    idempotent = all(c.idempotent for c in calls)
    durable = any(c.durable for c in calls)

    def decoder(members: list[Call[Any]]) -> Any:
        return lambda reply: outcomes(members, reply)

    resend = None
    if not idempotent:
        again = [c.resend or c for c in calls]
        resend = Call(script(name), keys, args, decoder(again), idempotent=False,
                      durable=durable)
    return Call(script(name), keys, args, decoder(calls), idempotent=idempotent,
                durable=durable, resend=resend)


def outcomes(calls: list[Call[Any]], reply: Reply) -> list[Outcome]:
    """Each call's outcome from the batch script's reply."""
    whole = not reply or not isinstance(reply[0], (list, BaseException))
    own = [reply] * len(calls) if whole else reply
    return [_outcome(call, r) for call, r in zip(calls, own, strict=True)]


def _outcome(call: Call[Any], reply: Reply) -> Outcome:
    try:
        if isinstance(reply, BaseException):
            from .wire import translate  # wire imports this module

            raise translate(reply, "", call)
        return call.decode(reply), None
    except WalletPoolError as exc:
        return None, exc


def taking_back(call: Call[Any], outcome: Outcome) -> Call[Any] | None:
    """What takes back a result its caller will not have (the replicas did not confirm
    it, the caller was cancelled): a fresh lease's release, or None."""
    value, error = outcome
    if error is not None or call.undo is None:
        return None
    return call.taking_back(value)


def unconfirmed(durability: Durability, calls: list[Call[Any]], results: list[Outcome],
                acknowledged: int) -> Program[list[Outcome]]:
    """The replicas did not confirm the batch's wait: what the durable calls handed out
    is taken back (one release batch), and each of them becomes NotReplicated. A program
    (engine/calls.py), so that both clients run this one logic."""
    undo, at, withdrawals = [], [], []
    for i, (call, outcome) in enumerate(zip(calls, results, strict=True)):
        back = taking_back(call, outcome) if durability.applies(call) else None
        if back is not None and back.script.name == "release":
            undo.append(back)
            at.append(i)
        elif back is not None:  # an order that joined the line withdraws
            withdrawals.append((i, back))
    undone: set[int] = set()
    if undo:
        try:
            back_outcomes: list[Outcome] = yield batch_call(undo)
            undone = {i for i, (_, error) in zip(at, back_outcomes, strict=True)
                      if error is None}
        except WalletPoolError as exc:  # the leases then end at their deadline
            log.warning("could not take back unreplicated writes: %s", exc)
    for i, back in withdrawals:
        try:
            yield replace(back, durable=False)  # as alone: a taking back waits for nothing
            undone.add(i)
        except WalletPoolError as exc:  # its ticket then ends at its deadline
            log.warning("could not withdraw an unreplicated order: %s", exc)
    return refused(durability, calls, results, acknowledged, undone)


def refused(durability: Durability, calls: list[Call[Any]], results: list[Outcome],
            acknowledged: int, undone: set[int]) -> list[Outcome]:
    """Each durable call that succeeded becomes NotReplicated, as it would alone (`undone`:
    the positions whose result was taken back); the others keep their outcome (a caller
    refused PoolExhausted keeps that refusal)."""
    return [(None, durability.refusal(call, acknowledged, i in undone))
            if outcome[1] is None and durability.applies(call) else outcome
            for i, (call, outcome) in enumerate(zip(calls, results, strict=True))]

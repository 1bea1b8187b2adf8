"""The checker: what the histories and the database say happened, and the verdict
against the promises as docs/guide/faults.md states them.

A holding is an acknowledged lease: from the completion of the allocate that returned
it to the invocation of its owner's first release (or the end of the run). Two holdings
of one wallet by different owners that overlap are a wallet held twice; each is
classified by whether the database had committed the first lease (its allocation event
seen in the events table, or a lease of the reserve, which lives there) when the second
was handed out. A release refused with LeaseLost on its first try means Redis forgot an
acknowledged lease. Tokens are checked per wallet and lane (Redis, reserve): each
holding's token above the one before."""

from __future__ import annotations

import bisect
import itertools
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from .nemesis import PRIMARY_FAULTS, Fault

Record = dict[str, Any]


NO_WALLET = ("PoolExhausted", "WaitTimeout")
"""Answers that the pool had no wallet for the order: the service answered, so they
count neither for nor against availability."""


@dataclass
class Holding:
    pool: str
    address: str
    owner: str
    token: int
    reserve: bool
    start: float
    end: float


@dataclass
class Findings:
    operations: int = 0
    leases: int = 0
    from_reserve: int = 0
    doubles: list[tuple[Holding, Holding, bool]] = field(default_factory=list)
    """(first, second, whether the database had committed the first)."""
    lost: list[tuple[Record, bool]] = field(default_factory=list)
    """Releases refused on their first try (LeaseLost), with whether it was committed."""
    token_repeats: int = 0
    token_backwards: int = 0
    foreign_errors: list[Record] = field(default_factory=list)
    """Failures that were not a WalletPoolError."""
    errors_by_kind: dict[str, int] = field(default_factory=dict)
    available_during: tuple[int, int] = (0, 0)
    """(succeeded, tried) allocations invoked during a fault (NO_WALLET aside)."""
    available_outside: tuple[int, int] = (0, 0)
    failovers: list[tuple[str, float, float | None, float]] = field(default_factory=list)
    """Faults of the primary: (kind, Redis lane back after, Sentinel's switch after)."""
    recovery: dict[str, list[float]] = field(default_factory=dict)
    """Fault kind -> for each fault, the longest time Redis served no allocation while
    it lasted (or within SETTLE seconds after): the Redis lane's outage."""

    @property
    def committed_doubles(self) -> int:
        return sum(1 for *_, committed in self.doubles if committed)


def holdings(records: list[Record], end_of_run: float) -> list[Holding]:
    allocated: dict[str, Record] = {}
    released: dict[str, float] = {}
    for r in records:
        if r["op"] == "allocate" and r["ok"]:
            first = allocated.get(r["owner"])
            if first is None or r["t1"] < first["t1"]:
                allocated[r["owner"]] = r
        elif r["op"] == "release":
            released[r["owner"]] = min(released.get(r["owner"], r["t0"]), r["t0"])
    return [Holding(r["pool"], r["addr"], owner, int(r["token"]), bool(r["reserve"]),
                    r["t1"], released.get(owner, end_of_run))
            for owner, r in allocated.items()]


def check(records: list[Record], commits: dict[tuple[str, str, int], float],
          faults: list[Fault], end_of_run: float,
          primaries: list[tuple[float, str]] | None = None) -> Findings:
    """`primaries`: (when, port) of each primary Sentinel named through the run."""
    found = Findings(operations=len(records))
    held = holdings(records, end_of_run)
    found.leases = len(held)
    found.from_reserve = sum(h.reserve for h in held)

    def committed_by(h: Holding, when: float) -> bool:
        seen = commits.get((h.pool, h.owner, h.token))
        return h.reserve or (seen is not None and seen <= when)

    by_wallet: dict[tuple[str, str], list[Holding]] = defaultdict(list)
    for h in held:
        by_wallet[(h.pool, h.address)].append(h)
    for wallet in by_wallet.values():
        wallet.sort(key=lambda h: h.start)
        for i, first in enumerate(wallet):
            for second in wallet[i + 1:]:
                if second.start >= first.end:
                    break
                found.doubles.append((first, second, committed_by(first, second.start)))
        for lane in (True, False):
            tokens = [h.token for h in wallet if h.reserve is lane]
            for before, after in itertools.pairwise(tokens):
                found.token_repeats += after == before
                found.token_backwards += after < before

    tokens_of = {h.owner: h for h in held}
    for r in records:
        if r["ok"]:
            continue
        kind = r["err"]
        found.errors_by_kind[kind] = found.errors_by_kind.get(kind, 0) + 1
        if not r.get("wp"):
            found.foreign_errors.append(r)
        if r["op"] == "release" and kind == "LeaseLost" and r["try"] == 0:
            holding = tokens_of.get(r["owner"])
            found.lost.append((r, holding is not None and committed_by(holding, r["t0"])))

    windows = sorted((f.start, f.end) for f in faults)
    during = outside = (0, 0)
    for r in records:
        if r["op"] != "allocate" or r.get("err") in NO_WALLET:
            continue
        inside = any(start <= r["t0"] <= end for start, end in windows)
        ok = int(bool(r["ok"]))
        if inside:
            during = (during[0] + ok, during[1] + 1)
        else:
            outside = (outside[0] + ok, outside[1] + 1)
    found.available_during, found.available_outside = during, outside

    served = sorted(r["t1"] for r in records
                    if r["op"] == "allocate" and r["ok"] and not r.get("reserve"))
    for fault in faults:
        found.recovery.setdefault(fault.kind, []).append(
            longest_gap(served, fault.start, fault.end + SETTLE))
    found.failovers = failovers(records, faults, primaries or [])
    return found


TAKES_EFFECT = 0.05
"""Seconds a fault may take to act after it is recorded as begun (Sentinel is asked for
the primary first)."""


def failovers(records: list[Record], faults: list[Fault], primaries: list[tuple[float, str]]
              ) -> list[tuple[str, float, float | None, float]]:
    """For each fault of the primary: (kind, seconds until the first allocation invoked
    after it that Redis served, seconds until Sentinel named another primary or None
    when it did not before Redis served again, seconds until the fault ended: the
    paused primary resumed, the killed one was restarted)."""
    invoked = sorted((r["t0"], r["t1"]) for r in records
                     if r["op"] == "allocate" and r["ok"] and not r.get("reserve"))
    starts = [t0 for t0, _ in invoked]
    out = []
    for fault in faults:
        if fault.kind not in PRIMARY_FAULTS or not fault.note.startswith("port "):
            continue
        port = fault.note.split()[1].rstrip(",")
        i = bisect.bisect_right(starts, fault.start + TAKES_EFFECT)
        if i >= len(invoked):
            continue
        back = invoked[i][1] - fault.start
        switched = next((t - fault.start for t, named in primaries
                         if t > fault.start and named.isdigit() and named != port), None)
        out.append((fault.kind, back, switched if switched is not None and
                    switched <= back else None, fault.end - fault.start))
    return out


SETTLE = 2.0
"""Seconds after a fault's end within which an outage it caused still counts as its."""


def longest_gap(times: list[float], start: float, end: float) -> float:
    """The longest stretch without an allocation Redis served that overlaps [start,
    end], counted from `start` when it began before: how long the fault kept the Redis
    lane down (0: it never stopped)."""
    i = max(0, bisect.bisect_left(times, start) - 1)
    longest = 0.0
    while i + 1 < len(times) and times[i] <= end:
        longest = max(longest, times[i + 1] - max(times[i], start))
        i += 1
    return longest


@dataclass
class Promise:
    what: str
    holds: bool
    measured: str


def verdict(found: Findings, replicas: int, fsync: bool, syncer_exits: int,
            crashed: list[str], reconcile: dict[str, int], conserved: dict[str, str]
            ) -> list[Promise]:
    """The documented promises (docs/guide/faults.md), each as the run measured it."""
    window = len(found.doubles) - found.committed_doubles
    promises = [
        Promise("with a database, a lease the database has committed is never handed to "
                "another order", found.committed_doubles == 0,
                f"{found.committed_doubles} committed leases handed out again "
                f"({window} inside the window of uncommitted writes)"),
        Promise("a lease the database has committed is never lost",
                not any(committed for _, committed in found.lost),
                f"{sum(c for _, c in found.lost)} committed leases lost"),
        Promise("fencing tokens never repeat or go backwards for a wallet",
                found.token_repeats + found.token_backwards == 0,
                f"{found.token_repeats} repeated, {found.token_backwards} backwards"),
        Promise("every error is a WalletPoolError", not found.foreign_errors,
                f"{len(found.foreign_errors)} others"
                + (f" (e.g. {found.foreign_errors[0]['err']}: "
                   f"{found.foreign_errors[0].get('msg', '')[:120]})"
                   if found.foreign_errors else "")),
        Promise("a syncer exits only when told to", syncer_exits == 0,
                f"{syncer_exits} exits of its own"),
        Promise("no client process crashes or hangs", not crashed,
                ", ".join(crashed) or "none"),
        Promise("Redis and the database agree once the syncer caught up (reconcile)",
                not any(reconcile.values()),
                ", ".join(f"{p}: {n} differences" for p, n in reconcile.items())),
        Promise("every wallet is accounted for (conservation)",
                all(v == "ok" for v in conserved.values()),
                ", ".join(f"{p}: {v}" for p, v in conserved.items())),
    ]
    if replicas > 0:
        promises.insert(0, Promise(
            f"with replicas={replicas}, no wallet is ever held by two orders at once",
            not found.doubles, f"{len(found.doubles)} wallets held twice"))
        promises.insert(1, Promise(
            f"with replicas={replicas}{' and fsync' if fsync else ''}, no acknowledged lease "
            "is lost", not found.lost, f"{len(found.lost)} lost"))
    return promises


def availability(pair: tuple[int, int]) -> float:
    ok, tried = pair
    return ok / tried if tried else 1.0


def failover_lines(found: Findings) -> list[str]:
    """Per kind of fault of the primary: when Redis served again; how long after
    Sentinel named the new primary where it did so first; and how long after a primary
    was there again (client_recovery): the recovery the client itself adds."""
    kinds = sorted({kind for kind, *_ in found.failovers})
    lines = []
    for kind in kinds:
        mine = [f for f in found.failovers if f[0] == kind]
        backs = [back for _, back, _, _ in mine]
        after = [back - sw for _, back, sw, _ in mine if sw is not None]
        line = (f"{kind}: Redis served again after {statistics.median(backs):.2f} s "
                f"(median; max {max(backs):.2f} s; {len(backs)} faults)")
        if after:
            line += (f"; {len(after)} failed over: {statistics.median(after):.2f} s after "
                     f"Sentinel named the new primary (max {max(after):.2f} s)")
        added = client_recovery(mine)
        line += (f"; {statistics.median(added):.2f} s after a primary was there again "
                 f"(Sentinel's new one, or the old one back; max {max(added):.2f} s)")
        lines.append(line)
    return lines


def client_recovery(faults: list[tuple[str, float, float | None, float]]) -> list[float]:
    """Per fault of the primary: seconds from when a primary was there again until Redis
    served an allocation (0 when it served before: the client never noticed). A primary
    is there again when Sentinel names a new one, where it failed over first (an old
    primary that resumes meanwhile is being demoted: it refuses writes); otherwise
    when the fault ended."""
    return [max(0.0, back - (sw if sw is not None else ended))
            for _, back, sw, ended in faults]


def recovery_line(found: Findings) -> list[str]:
    return [f"{kind}: median {statistics.median(times):.2f} s, max {max(times):.2f} s "
            f"({len(times)} faults)" for kind, times in sorted(found.recovery.items())]

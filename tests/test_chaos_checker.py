"""The nemesis's checker (chaos/checker.py) on histories written by hand: it finds what it
is for (a wallet held twice, classified by what the database had committed; a lease
lost; tokens repeated or going backwards; an error that is not a WalletPoolError) and
nothing in a history without them. The nemesis itself runs in .ci/run."""

from __future__ import annotations

from typing import Any

import pytest

from chaos.checker import check, client_recovery, longest_gap, verdict
from chaos.nemesis import Fault


def allocate(owner: str, addr: str, token: int, t1: float, *, reserve: bool = False,
             pool: str = "P") -> dict[str, Any]:
    return {"w": "w", "op": "allocate", "pool": pool, "owner": owner, "t0": t1 - 0.001,
            "t1": t1, "ok": True, "try": 0, "addr": addr, "token": token, "reserve": reserve}


def release(owner: str, t0: float, *, err: str | None = None, attempt: int = 0,
            wp: bool = True) -> dict[str, Any]:
    record: dict[str, Any] = {"w": "w", "op": "release", "pool": "P", "owner": owner,
                              "t0": t0, "t1": t0 + 0.001, "ok": err is None, "try": attempt}
    if err is not None:
        record.update(err=err, wp=wp, msg="")
    return record


def test_a_clean_history_shows_nothing() -> None:
    history = [allocate("a", "w1", 10, 1.0), release("a", 2.0),
               allocate("b", "w1", 11, 2.5), release("b", 3.0)]
    found = check(history, {}, [], end_of_run=10.0)
    assert found.leases == 2
    assert (found.doubles, found.lost, found.foreign_errors) == ([], [], [])
    assert found.token_repeats == found.token_backwards == 0
    promises = verdict(found, 1, False, 0, [], {"P": 0}, {"P": "ok"})
    assert all(p.holds for p in promises)


def test_a_wallet_held_twice_is_found_and_classified_by_what_was_committed() -> None:
    history = [allocate("a", "w1", 10, 1.0), release("a", 5.0),
               allocate("b", "w1", 10, 3.0), release("b", 4.0),  # a still holds it
               allocate("c", "w2", 20, 1.0), release("c", 5.0),
               allocate("d", "w2", 21, 2.0), release("d", 6.0)]
    commits = {("P", "a", 10): 2.0,  # committed before b was handed w1
               ("P", "c", 20): 2.5}  # committed only after d was handed w2
    found = check(history, commits, [], end_of_run=10.0)
    assert [(f.owner, s.owner, committed) for f, s, committed in found.doubles] == [
        ("a", "b", True), ("c", "d", False)]
    assert found.token_repeats == 1  # b got a's token again
    assert found.committed_doubles == 1
    by_what = {p.what: p.holds for p in verdict(found, 0, False, 0, [], {}, {})}
    assert not by_what["with a database, a lease the database has committed is never "
                       "handed to another order"]
    by_what = {p.what: p.holds for p in verdict(found, 1, False, 0, [], {}, {})}
    assert not by_what["with replicas=1, no wallet is ever held by two orders at once"]


def test_a_lease_refused_on_its_first_release_is_lost_a_retry_is_not() -> None:
    history = [allocate("a", "w1", 10, 1.0), release("a", 2.0, err="LeaseLost"),
               allocate("b", "w2", 11, 1.0), release("b", 2.0, err="BackendUnavailable"),
               release("b", 2.1, err="LeaseLost", attempt=1)]
    found = check(history, {("P", "a", 10): 1.5}, [], end_of_run=10.0)
    assert [(r["owner"], committed) for r, committed in found.lost] == [("a", True)]


def test_tokens_going_backwards_and_foreign_errors_are_counted() -> None:
    history = [allocate("a", "w1", 12, 1.0), release("a", 2.0),
               allocate("b", "w1", 11, 3.0), release("b", 4.0),
               allocate("r", "w1", 2**52 + 1, 5.0, reserve=True),  # the reserve's own lane
               release("r", 6.0, err="OperationalError", wp=False)]
    found = check(history, {}, [], end_of_run=10.0)
    assert (found.token_repeats, found.token_backwards) == (0, 1)
    assert [r["err"] for r in found.foreign_errors] == ["OperationalError"]


def test_availability_splits_calls_by_the_fault_windows_and_leaves_out_exhaustion() -> None:
    failed = {"w": "w", "op": "allocate", "pool": "P", "owner": "x", "t0": 1.5, "t1": 1.6,
              "ok": False, "try": 0, "err": "BackendUnavailable", "wp": True}
    exhausted = {**failed, "t0": 5.0, "err": "PoolExhausted"}
    history = [allocate("a", "w1", 1, 1.2), failed, allocate("b", "w2", 2, 5.0), exhausted]
    found = check(history, {}, [Fault("pause primary", 1.0, 2.0)], end_of_run=10.0)
    assert found.available_during == (1, 2)
    assert found.available_outside == (1, 1)


def test_the_redis_lane_outage_is_the_longest_gap_overlapping_the_fault() -> None:
    served = [0.0, 0.1, 0.2, 1.5, 1.6, 5.0]
    assert longest_gap(served, 0.15, 0.3) == pytest.approx(1.3)
    assert longest_gap(served, 2.0, 2.5) == pytest.approx(3.0)  # counted from the start
    assert longest_gap(served, 5.5, 6.0) == 0.0


def test_recovery_counts_from_the_failover_or_the_faults_end_whichever_came_first() -> None:
    """Pauses of the primary. 7001 from 10.0 to 13.0 s: Sentinel names 7002 at 12.0 s,
    Redis serves an allocation invoked after the fault at 12.3 s: the client took
    0.3 s. 7002 from 20.0 to 21.0 s, no failover: served at 21.5 s, 0.5 s after the end.
    7002 again from 30.0 to 31.0 s, but Sentinel had begun a failover and names 7003 at
    32.0 s (the resumed 7002 refuses writes): served at 32.4 s, 0.4 s after the switch."""
    history = [allocate("a", "w1", 10, 12.3), allocate("b", "w2", 11, 21.5),
               allocate("c", "w3", 12, 32.4)]
    faults = [Fault("pause primary", 10.0, 13.0, "port 7001, 3.0 s"),
              Fault("pause primary", 20.0, 21.0, "port 7002, 1.0 s"),
              Fault("pause primary", 30.0, 31.0, "port 7002, 1.0 s")]
    found = check(history, {}, faults, end_of_run=40.0,
                  primaries=[(0.0, "7001"), (12.0, "7002"), (32.0, "7003")])
    assert [f[1:] for f in found.failovers] == [
        pytest.approx((2.3, 2.0, 3.0)), pytest.approx((1.5, None, 1.0)),
        pytest.approx((2.4, 2.0, 1.0))]
    assert client_recovery(found.failovers) == [
        pytest.approx(0.3), pytest.approx(0.5), pytest.approx(0.4)]

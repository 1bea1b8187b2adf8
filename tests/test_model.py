"""Model-based test: random sequences of every operation run against a real Redis and
the pure-Python reference in tests/model.py side by side.

After every step the results and errors agree, the whole pool as stored in Redis
equals the model's (free queue in order, states, leases, owners, deadlines, cooling,
fencing counter, uses, the orders waiting in their order and their tickets), and
invariants 1 to 6 of docs/design.md hold on the keys:
1 one state each, no wallet twice in the free queue; 2 one lease per wallet and per
owner, a repeated allocate returns the same lease; 3 FIFO (the free queue equals the
model's, in order); 4 tokens strictly increase; 5 conservation; 6 no leaked lease
(every lease in Redis is one the model holds). Time is the pool's frozen test clock.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
import redis
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from tests.invariants import check_invariants, pool_state
from tests.model import PoolModel
from walletpool import (
    KEEP,
    Lease,
    LeaseLost,
    PoolExhausted,
    PoolFull,
    QueueFull,
    WalletNotFound,
    WalletPool,
)
from walletpool.engine import waits
from walletpool.engine.calls import Outcome
from walletpool.testing import freeze_clock, shift_clock

POOL = "COIN"
ADDRESSES = [f"w{i}" for i in range(5)]
OWNERS = [f"o{i}" for i in range(4)]
WAITS = [0.5, 1, 3, 20]  # seconds an order may wait
START_MS = 1_800_000_000_000
TTLS = [None, 0.5, 1, 3, 10]  # 0.5 s: deadlines that fall between two settles


def ms(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds * 1000)


def comparable(exc: Exception) -> tuple[Any, ...]:
    """What must agree between Redis and the model when both refuse."""
    fields = ("pool", "free", "leased", "cooling", "address", "owner", "token", "reason",
              "in_service", "max_size", "would_add", "waiting", "max_waiters")
    return (type(exc).__name__, *(getattr(exc, f, None) for f in fields))


class PoolMachine(RuleBasedStateMachine):
    def __init__(self, pool: WalletPool, client: redis.Redis) -> None:
        super().__init__()
        self.pool, self.client = pool, client
        self.model: PoolModel
        self.offset_ms = 0
        self.max_token = 0
        self.joined: dict[str, int] = {}  # when each owner last joined the waiters

    leases = Bundle("leases")

    def both(self, on_redis: Any, on_model: Any) -> Any:
        """Run one operation on both sides; results or refusals must agree."""
        try:
            expected: Any = on_model()
        except (PoolExhausted, LeaseLost, PoolFull, WalletNotFound, QueueFull) as exc:
            with pytest.raises(type(exc)) as caught:
                on_redis()
            assert comparable(caught.value) == comparable(exc)
            return None
        got = on_redis()
        assert got == expected
        return got

    def fresh_tokens(self, leases: list[Lease]) -> None:
        """Invariant 4: every new lease's token is above every token issued before. A
        lease handed to a waiter was issued at the hand-off, before the call that finds
        it."""
        for lease in sorted(leases, key=lambda held: held.token):
            if lease.fresh and lease.token not in self.model.handed_tokens:
                assert lease.token > self.max_token
            self.max_token = max(self.max_token, lease.token)

    @initialize(cooldown=st.sampled_from([0, 2]), max_uses=st.sampled_from([None, 2]),
                max_size=st.sampled_from([6, 100]), lease_ttl=st.sampled_from([2, 5]))
    def setup(self, cooldown: int, max_uses: int | None, max_size: int, lease_ttl: int) -> None:
        self.client.flushall()
        self.pool.configure(POOL, lease_ttl=lease_ttl, cooldown=cooldown, max_size=max_size,
                            max_uses=max_uses)
        freeze_clock(self.pool, POOL, START_MS / 1000)
        self.model = PoolModel(POOL, START_MS, lease_ttl * 1000, cooldown * 1000, max_size,
                               max_uses or 0)

    @rule(addresses=st.lists(st.sampled_from(ADDRESSES), max_size=6))
    def add(self, addresses: list[str]) -> None:
        self.both(lambda: tuple(self.pool.add(POOL, addresses).__dict__.values()),
                  lambda: self.model.add(addresses))

    @rule(target=leases, owner=st.sampled_from(OWNERS), ttl=st.sampled_from(TTLS),
          cid=st.sampled_from([None, "c1"]))
    def allocate(self, owner: str, ttl: float | None, cid: str | None) -> Any:
        lease = self.both(lambda: self.pool.allocate(POOL, owner, ttl=ttl, correlation_id=cid),
                          lambda: self.model.allocate(owner, ms(ttl), cid))
        if lease is None:
            return multiple()
        self.fresh_tokens([lease])
        return lease

    @rule(target=leases, owners=st.lists(st.sampled_from(OWNERS), min_size=1, max_size=4),
          ttl=st.sampled_from(TTLS), partial=st.booleans())
    def allocate_many(self, owners: list[str], ttl: float | None, partial: bool) -> Any:
        got = self.both(lambda: self.pool.allocate_many(POOL, owners, ttl=ttl, partial=partial),
                        lambda: self.model.allocate_many(owners, ms(ttl), partial))
        if not got:
            return multiple()
        self.fresh_tokens(got)
        return multiple(*got)

    # -- orders that wait, through the calls the waiting program sends (engine/waits.py)

    @rule(target=leases, owner=st.sampled_from(OWNERS), wait=st.sampled_from(WAITS),
          high=st.booleans(), ttl=st.sampled_from(TTLS))
    def wait(self, owner: str, wait: float, high: bool, ttl: float | None) -> Any:
        """allocate with a wait: a lease, or the order joins the waiters."""
        call = waits.join(self.pool._ops, POOL, owner, ms(ttl) or 0, "", "", ms(wait) or 0,
                          "high" if high else "normal")

        def on_redis() -> Any:
            got = self.pool._do(call)
            return got if isinstance(got, Lease) else (got.deadline_ms, got.joined_ms,
                                                        got.now_ms)

        got = self.both(on_redis, lambda: self.model.allocate(owner, ms(ttl), None, None,
                                                              ms(wait) or 0, high))
        if isinstance(got, Lease):
            self.fresh_tokens([got])
            return got
        if got is not None:
            self.joined[owner] = got[1]
        return multiple()

    @rule(target=leases, owners_=st.lists(st.sampled_from(OWNERS), min_size=1, max_size=4,
                                          unique=True))
    def wait_check(self, owners_: list[str]) -> Any:
        """A hub's check: hand-offs due, each owner's lease or standing."""
        owners = {o: self.joined.get(o, START_MS) for o in owners_}
        found = self.both(
            lambda: list(self.pool._do(waits.check(self.pool._ops, POOL, owners)).values()),
            lambda: self.model.wait_check(owners))
        # (fresh here means leased since the owner joined: no token order to check)
        return multiple(*(s for s in found if isinstance(s, Lease)))

    @rule(target=leases, owner=st.sampled_from(OWNERS), give_back=st.booleans())
    def withdraw(self, owner: str, give_back: bool) -> Any:
        """A wait that ran out (give_back False) or was cancelled (True)."""
        joined = self.joined.get(owner, START_MS)
        got = self.both(
            lambda: self.pool._do(waits.withdraw(self.pool._ops, POOL, owner, give_back,
                                                 joined)),
            lambda: self.model.withdraw(owner, give_back, joined))
        return got if isinstance(got, Lease) else multiple()

    @rule(max_waiters=st.sampled_from([None, 0, 1, 2, 100]),
          max_wait=st.sampled_from([None, 0, 1, 300]))
    def configure_waiting(self, max_waiters: int | None, max_wait: float | None) -> None:
        self.pool.configure(POOL, max_waiters=max_waiters, max_wait=max_wait)
        if max_waiters is not None:
            self.model.max_waiters = max_waiters
        if max_wait is not None:
            self.model.max_wait = int(max_wait * 1000)

    @rule(lease=leases)
    def release(self, lease: Lease) -> None:
        self.both(lambda: self.pool.release(lease), lambda: self.model.release(lease))

    @rule(lease=leases, change=st.sampled_from(["token", "owner"]))
    def release_a_forged_lease(self, lease: Lease, change: str) -> None:
        forged = (replace(lease, token=lease.token + 1) if change == "token"
                  else replace(lease, owner=lease.owner + "x"))
        self.both(lambda: self.pool.release(forged), lambda: self.model.release(forged))

    @rule(leases=st.lists(leases, min_size=1, max_size=4))
    def release_many(self, leases: list[Lease]) -> None:
        self.both(lambda: self.pool.release_many(leases),
                  lambda: [not o.startswith("lost:") for o in self.model.release_many(leases)])

    @rule(lease=leases, ttl=st.sampled_from(TTLS))
    def extend(self, lease: Lease, ttl: float | None) -> None:
        self.both(lambda: self.pool.extend(lease, ttl=ttl),
                  lambda: self.model.extend(lease, ms(ttl)))

    # -- concurrent calls a client coalesced: one batch script, each caller's outcome as
    # -- its call alone would have had, in arrival order (walletpool/coalesce.py)

    def each(self, outcome: Outcome, on_model: Any) -> Any:
        """As `both`, for one caller of a batch: its own outcome against the model's."""
        value, error = outcome
        try:
            expected: Any = on_model()
        except (PoolExhausted, LeaseLost, PoolFull, WalletNotFound, QueueFull) as exc:
            assert error is not None and comparable(error) == comparable(exc), (error, exc)
            return None
        assert error is None, error
        assert value == expected
        return value

    @rule(target=leases, callers=st.lists(st.tuples(
        st.sampled_from(OWNERS), st.sampled_from(TTLS), st.sampled_from([0, 0, *WAITS]),
        st.booleans()), min_size=1, max_size=5))
    def allocate_together(self, callers: list[tuple[str, float | None, float, bool]]) -> Any:
        """Owners may repeat (a retry beside the first call), some may wait."""
        ops = self.pool._ops
        calls = [ops.allocate(POOL, owner, ttl) if not wait else
                 waits.join(ops, POOL, owner, ms(ttl) or 0, "", "", ms(wait) or 0,
                            "high" if high else "normal")
                 for owner, ttl, wait, high in callers]
        got = []
        for (owner, ttl, wait, high), (value, error) in zip(
                callers, self.pool._send_batch(calls), strict=True):
            if value is not None and not isinstance(value, Lease):
                value = (value.deadline_ms, value.joined_ms, value.now_ms)
            outcome = self.each((value, error), lambda o=owner, t=ttl, w=wait, h=high:
                                self.model.allocate(o, ms(t), None, None, ms(w) or 0, h))
            if isinstance(outcome, Lease):
                self.fresh_tokens([outcome])
                got.append(outcome)
            elif outcome is not None:
                self.joined[owner] = outcome[1]
        return multiple(*got)

    @rule(leases=st.lists(leases, min_size=1, max_size=5))
    def release_together(self, leases: list[Lease]) -> None:
        """A lease may repeat (released twice at once)."""
        calls = [self.pool._ops.release(lease) for lease in leases]
        for lease, outcome in zip(leases, self.pool._send_batch(calls), strict=True):
            self.each(outcome, lambda held=lease: self.model.release(held))

    @rule(leases=st.lists(leases, min_size=1, max_size=5), ttl=st.sampled_from(TTLS))
    def extend_together(self, leases: list[Lease], ttl: float | None) -> None:
        calls = [self.pool._ops.extend(lease, ttl) for lease in leases]
        for lease, outcome in zip(leases, self.pool._send_batch(calls), strict=True):
            self.each(outcome, lambda held=lease: self.model.extend(held, ms(ttl)))

    @rule(owner=st.sampled_from(OWNERS))
    def get_lease(self, owner: str) -> None:
        self.both(lambda: self.pool.get_lease(POOL, owner), lambda: self.model.get_lease(owner))

    @rule()
    def reap(self) -> None:
        self.both(lambda: self.pool.reap(POOL), self.model.reap)

    @rule(address=st.sampled_from(ADDRESSES))
    def retire(self, address: str) -> None:
        self.both(lambda: self.pool.retire(POOL, address), lambda: self.model.retire(address))

    @rule(cooldown=st.sampled_from([None, 0, 2, 4]),
          max_uses=st.sampled_from([KEEP, None, 2, 3]))
    def configure(self, cooldown: int | None, max_uses: Any) -> None:
        self.pool.configure(POOL, cooldown=cooldown, max_uses=max_uses)
        if cooldown is not None:
            self.model.cooldown = cooldown * 1000
        if max_uses is not KEEP:
            self.model.max_uses = max_uses or 0

    @rule(seconds=st.sampled_from([0.5, 1, 2, 3, 7]))
    def time_passes(self, seconds: float) -> None:
        self.offset_ms += int(seconds * 1000)
        shift_clock(self.pool, POOL, self.offset_ms / 1000)
        self.model.now = START_MS + self.offset_ms

    @rule(which=st.sampled_from(["lease", "cooling", "wait"]),
          delta_ms=st.sampled_from([-1, 0, 1]))
    def time_reaches_a_deadline(self, which: str, delta_ms: int) -> None:
        """Move the clock to just before, at or after the next deadline: where an
        off-by-one in expiry, cooldown or an order's wait (a time-out at the edge of a
        hand-off) would show."""
        m = self.model
        due = ([h.expires for h in m.leases.values()] if which == "lease"
               else [t + m.cooldown for t in m.cooling.values()] if which == "cooling"
               else [t.deadline for t in m.tickets.values()])
        later = [t + delta_ms for t in due if t + delta_ms > m.now]
        if later:
            self.offset_ms = min(later) - START_MS
            shift_clock(self.pool, POOL, self.offset_ms / 1000)
            m.now = START_MS + self.offset_ms

    @rule(count=st.integers(min_value=1, max_value=10))
    def peek(self, count: int) -> None:
        assert self.pool.peek(POOL, count) == self.model.free[:count]

    @rule()
    def stats(self) -> None:
        s = self.pool.stats(POOL)
        assert (s.free, s.leased, s.cooling, s.retired, s.total) == self.model.counts()
        m = self.model
        assert s.expired_unreaped == sum(1 for h in m.leases.values() if h.expires <= m.now)
        assert s.cooled_ready == sum(1 for t in m.cooling.values() if t <= m.now - m.cooldown)
        assert s.last_token == m.seq
        assert s.waiting == sum(1 for o in m.waiters if m.tickets[o].deadline > m.now)

    @invariant()
    def redis_holds_exactly_the_model(self) -> None:
        if not hasattr(self, "model"):
            return
        st_ = check_invariants(self.client, "wp", POOL)
        m = self.model
        assert st_["free"] == m.free
        assert st_["state"] == m.state
        assert st_["owner"] == m.owners
        assert st_["seq"] == m.seq
        assert st_["cooling"] == {a: float(t) for a, t in m.cooling.items()}
        leases = st_["lease"]
        assert isinstance(leases, dict)
        assert {a: (v["o"], int(v["t"]), int(v["e"]), int(v["l"]), v["c"] or None)
                for a, v in leases.items()} == {
            a: (h.owner, h.token, h.expires, h.leased, h.cid) for a, h in m.leases.items()}
        uses = {a: int(n) for a, n in self.client.hgetall(f"wp:{{{POOL}}}:uses").items()}
        assert uses == {a: n for a, n in m.uses.items() if n}
        settle_at = self.client.hget(f"wp:{{{POOL}}}:conf", "settle_at_ms")
        assert int(settle_at or 0) == m.settle_at
        waiting: Any = self.client.zrange(f"wp:{{{POOL}}}:waiters", 0, -1, withscores=True)
        assert [owner for owner, _ in waiting] == m.queue()
        assert {o: int(score) for o, score in waiting} == m.waiters
        assert self.client.hgetall(f"wp:{{{POOL}}}:tickets") == {
            o: t.stored() for o, t in m.tickets.items()}


def test_the_pool_behaves_as_its_model(redis_client: redis.Redis, pool: WalletPool) -> None:
    run_state_machine_as_test(lambda: PoolMachine(pool, redis_client))  # type: ignore[arg-type]


def test_the_model_check_reads_what_redis_holds(btc: WalletPool,
                                                redis_client: redis.Redis) -> None:
    """The comparison above reads real keys: a planted corruption must show."""
    redis_client.rpush("wp:{COIN}:free", "a0")
    with pytest.raises(AssertionError, match="repeats"):
        check_invariants(redis_client, "wp", "COIN")
    assert json.dumps(pool_state(redis_client, "wp", "COIN")["free"]).count("a0") == 2

"""A pure-Python reference of a pool, for the model-based tests.

It follows the scripts' documented behaviour step by step, including the order in
which a batch returns wallets, ties broken as Redis sorted sets break them (by score,
then by member), and the once-a-second settle schedule. Time is the frozen test clock
(ms). Errors are the same exception classes the client raises, with the same fields.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from typing import cast

from walletpool import Lease, LeaseLost, PoolExhausted, PoolFull, QueueFull, WalletNotFound
from walletpool.errors import LostReason

SETTLE_LIMIT = 100  # walletpool/lua/includes/settle.lua
SETTLE_EVERY_MS = 1000
REAP_CHUNK = 1000  # walletpool/engine/operations.py


TOKENS_PER_MS = 1000
"""Each new token is at least the pool's time in ms times this (invariant 4 across
failover)."""
NORMAL = 2**52  # walletpool/lua/includes/waiters.lua: normal orders score from here


@dataclass(frozen=True)
class Ticket:
    """An order waiting (includes/waiters.lua's 'w' ticket)."""

    deadline: int
    ttl: int
    joined: int
    cid: str | None
    uid: str | None

    def stored(self) -> str:
        return f"{self.deadline} {self.ttl} {self.joined} {self.cid or ''} {self.uid or ''}"


@dataclass(frozen=True)
class Held:
    owner: str
    token: int
    expires: int
    leased: int
    cid: str | None
    uid: str | None


class PoolModel:
    def __init__(self, pool: str, now: int, lease_ttl: int, cooldown: int, max_size: int,
                 max_uses: int) -> None:
        self.pool = pool
        self.now = now
        self.lease_ttl, self.cooldown, self.max_size, self.max_uses = (
            lease_ttl, cooldown, max_size, max_uses)
        self.settle_at = 0
        self.free: list[str] = []
        self.state: dict[str, str] = {}
        self.leases: dict[str, Held] = {}
        self.owners: dict[str, str] = {}
        self.cooling: dict[str, int] = {}
        self.uses: Counter[str] = Counter()
        self.seq = 0
        self.waiters: dict[str, int] = {}  # owner -> score (priority, then arrival)
        self.tickets: dict[str, Ticket] = {}
        self.wait_seq = 0
        self.max_waiters, self.max_wait = 100, 300_000
        self.handed_tokens: set[int] = set()  # tokens of every lease handed to a waiter

    # -- the helpers of walletpool/lua/includes/ ---------------------------------------

    def _return_wallets(self, addresses: list[str], ended_at: list[int]) -> list[str]:
        states = []
        for address, ended in zip(addresses, ended_at, strict=True):
            if self.max_uses > 0 and self.uses[address] >= self.max_uses:
                state = "retired"
            elif self.cooldown > 0:
                state = "cooling"
                self.cooling[address] = ended
            else:
                state = "free"
                self.free.append(address)
            self.state[address] = state
            states.append(state)
        return states

    def _drop(self, addresses: list[str]) -> list[Held]:
        dropped = [self.leases.pop(a) for a in addresses]
        for held in dropped:
            del self.owners[held.owner]
        return dropped

    def _expire(self, addresses: list[str]) -> None:
        dropped = self._drop(addresses)
        self._return_wallets(addresses, [h.expires for h in dropped])

    def _reap_expired(self, limit: int) -> int:
        due = sorted((h.expires, a) for a, h in self.leases.items() if h.expires <= self.now)
        self._expire([a for _, a in due[:limit]])
        return len(due[:limit])

    def _promote(self, limit: int) -> int:
        ready = sorted((t, a) for a, t in self.cooling.items() if t <= self.now - self.cooldown)
        for _, address in ready[:limit]:
            del self.cooling[address]
            self.free.append(address)
            self.state[address] = "free"
        return len(ready[:limit])

    def _settle(self, force: bool) -> None:
        if not force and self.now < self.settle_at:
            return
        self._reap_expired(SETTLE_LIMIT)
        self._promote(SETTLE_LIMIT)
        self._hand_off()
        self.settle_at = self.now + SETTLE_EVERY_MS

    def _live(self, owner: str) -> str | None:
        address = self.owners.get(owner)
        if address is None:
            return None
        if self.leases[address].expires <= self.now:
            self._expire([address])
            return None
        return address

    def _lease_heads(self, owners: list[str], ttl: int, cid: str | None, uid: str | None
                     ) -> list[str]:
        popped, self.free = self.free[: len(owners)], self.free[len(owners) :]
        if popped:  # tokens never lag the clock (includes/tokens.lua)
            self.seq = max(self.seq, self.now * TOKENS_PER_MS)
        for i, address in enumerate(popped):
            self.seq += 1
            self.leases[address] = Held(owners[i], self.seq, self.now + ttl, self.now, cid, uid)
            self.owners[owners[i]] = address
            self.state[address] = "leased"
            if self.max_uses > 0:  # use counts are kept only while a limit is set
                self.uses[address] += 1
        return popped

    def _lease(self, address: str, fresh: bool) -> Lease:
        h = self.leases[address]
        return Lease(pool=self.pool, address=address, owner=h.owner, token=h.token,
                     expires_at=h.expires / 1000, leased_at=h.leased / 1000,
                     correlation_id=h.cid, user_id=h.uid, fresh=fresh)

    def _exhausted(self, wanted: int) -> PoolExhausted:
        return PoolExhausted("", pool=self.pool, free=len(self.free), leased=len(self.leases),
                             cooling=len(self.cooling))

    def _lost(self, lease: Lease, reason: LostReason) -> LeaseLost:
        return LeaseLost("", pool=lease.pool, address=lease.address, owner=lease.owner,
                         token=lease.token, reason=reason)

    # -- orders that wait (includes/waiters.lua) --------------------------------------

    def queue(self) -> list[str]:
        """The waiting owners in the order they are served."""
        return sorted(self.waiters, key=lambda o: (self.waiters[o], o))

    def _drop_waiter(self, owner: str) -> None:
        del self.waiters[owner]
        del self.tickets[owner]

    def _hand_off(self) -> set[str]:
        """The owners served."""
        served: set[str] = set()
        while self.waiters:
            first = self.queue()[0]
            ticket = self.tickets.get(first)
            if ticket is None:
                del self.waiters[first]
                continue
            if ticket.deadline <= self.now:
                self._drop_waiter(first)
                continue
            if first not in self.owners:
                popped = self._lease_heads([first], ticket.ttl, ticket.cid, ticket.uid)
                if not popped:
                    break
                served.add(first)
                self.handed_tokens.add(self.leases[popped[0]].token)
            self._drop_waiter(first)
        return served

    def _live_waiters(self, drop: bool) -> int:
        count = 0
        for owner in self.queue():
            ticket = self.tickets.get(owner)
            if ticket is not None and ticket.deadline > self.now:
                count += 1
            elif drop and ticket is not None:
                self._drop_waiter(owner)
            elif drop:
                del self.waiters[owner]
        return count

    def _join(self, owner: str, wait: int, high: bool, ttl: int, cid: str | None,
              uid: str | None) -> tuple[str, int, int]:
        ticket = self.tickets.get(owner)
        if ticket is not None and ticket.deadline > self.now:
            return "queued", ticket.deadline, ticket.joined
        if self.max_wait == 0:
            return "off", 0, 0
        if len(self.waiters) >= self.max_waiters:
            count = self._live_waiters(drop=True)
            if count >= self.max_waiters:
                return "full", count, 0
        deadline = self.now + min(wait, self.max_wait)
        self.wait_seq += 1
        self.waiters[owner] = (0 if high else NORMAL) + self.wait_seq
        self.tickets[owner] = Ticket(deadline, ttl, self.now, cid, uid)
        return "queued", deadline, self.now

    def wait_check(self, owners: dict[str, int]) -> list[Lease | str]:
        self._settle(bool(self.waiters))  # forced while orders wait: it ends by handing off
        found: list[Lease | str] = []
        for owner, joined in owners.items():
            address = self._live(owner)
            if address is not None:
                found.append(self._lease(address, self.leases[address].leased >= joined))
                continue
            ticket = self.tickets.get(owner)
            if ticket is not None and ticket.deadline <= self.now:
                self._drop_waiter(owner)
                ticket = None
            found.append("queued" if ticket is not None else "gone")
        return found

    def withdraw(self, owner: str, give_back: bool, joined: int
                 ) -> Lease | tuple[int, int, int]:
        if owner in self.tickets:
            self._drop_waiter(owner)
            return len(self.free), len(self.leases), len(self.cooling)
        address = self._live(owner)
        if address is None:
            return len(self.free), len(self.leases), len(self.cooling)
        handed = self.leases[address].leased >= joined
        if give_back and handed:
            self.release_many([self._lease(address, fresh=False)])
            return (0, 0, 0)
        return self._lease(address, fresh=handed)

    # -- the operations ---------------------------------------------------------------

    def add(self, addresses: list[str]) -> tuple[int, int]:
        fresh: list[str] = []
        for address in addresses:
            if address not in self.state and address not in fresh:
                fresh.append(address)
        in_service = len(self.free) + len(self.leases) + len(self.cooling)
        if in_service + len(fresh) > self.max_size:
            raise PoolFull("", pool=self.pool, in_service=in_service, max_size=self.max_size,
                           would_add=len(fresh))
        for address in fresh:
            self.free.append(address)
            self.state[address] = "free"
        self._hand_off()
        return len(fresh), len(addresses) - len(fresh)

    def allocate(self, owner: str, ttl: int | None, cid: str | None = None,
                 uid: str | None = None, wait: int = 0, high: bool = False
                 ) -> Lease | tuple[int, int, int]:
        """A Lease, or (deadline, joined, now) when the order waits (allocate.lua's order)."""
        self._settle(False)
        ttl = ttl or self.lease_ttl
        address = self._live(owner)
        if address is not None:
            return self._lease(address, fresh=False)
        popped: list[str] = []
        if owner in self._hand_off():
            address = self._live(owner)
        else:
            popped = self._lease_heads([owner], ttl, cid, uid)
            if not popped:
                self._settle(True)
                address = self._live(owner)
                if address is None:
                    popped = self._lease_heads([owner], ttl, cid, uid)
        if address is None and not popped:
            if wait == 0:
                raise self._exhausted(1)
            joined, value, since = self._join(owner, wait, high, ttl, cid, uid)
            if joined == "queued":
                return value, since, self.now
            exhausted = self._exhausted(1)
            if joined == "off":
                raise exhausted
            raise QueueFull("", pool=self.pool, free=exhausted.free, leased=exhausted.leased,
                            cooling=exhausted.cooling, waiting=value,
                            max_waiters=self.max_waiters)
        return self._lease(address or popped[0], fresh=True)

    def allocate_many(self, owners: list[str], ttl: int | None, partial: bool) -> list[Lease]:
        self._settle(False)
        self._hand_off()
        order: list[str] = []
        held: dict[str, tuple[str, bool]] = {}
        needy: list[str] = []
        for owner in owners:
            if owner in order:
                continue
            order.append(owner)
            address = self._live(owner)
            if address is not None:
                held[owner] = (address, False)
            else:
                needy.append(owner)
        if len(needy) > len(self.free):
            self._settle(True)
            # its hand-off may have served an owner of this call that was waiting
            still = []
            for owner in needy:
                address = self._live(owner)
                if address is not None:
                    held[owner] = (address, True)
                else:
                    still.append(owner)
            needy = still
            if not partial and len(needy) > len(self.free):
                raise self._exhausted(len(needy))
        popped = self._lease_heads(needy, ttl or self.lease_ttl, None, None)
        for owner, address in zip(needy, popped, strict=False):
            held[owner] = (address, True)
        return [self._lease(held[o][0], held[o][1]) for o in order if o in held]

    def release_many(self, leases: list[Lease]) -> list[str]:
        outcomes: list[str] = [""] * len(leases)
        expired: list[str] = []
        live: list[tuple[int, str]] = []
        seen: set[str] = set()
        for i, lease in enumerate(leases):
            held = self.leases.get(lease.address)
            if lease.address in seen or held is None:
                outcomes[i] = "lost:none"
            elif held.token != lease.token or held.owner != lease.owner:
                outcomes[i] = "lost:stale"
            elif held.expires <= self.now:
                outcomes[i] = "lost:expired"
                expired.append(lease.address)
                seen.add(lease.address)
            else:
                live.append((i, lease.address))
                seen.add(lease.address)
        self._expire(expired)
        self._drop([a for _, a in live])
        states = self._return_wallets([a for _, a in live], [self.now] * len(live))
        for (i, _), state in zip(live, states, strict=True):
            outcomes[i] = state
        self._hand_off()
        return outcomes

    def release(self, lease: Lease) -> str:
        outcome = self.release_many([lease])[0]
        if outcome.startswith("lost:"):
            raise self._lost(lease, cast(LostReason, outcome[5:]))
        return outcome

    def extend(self, lease: Lease, ttl: int | None) -> Lease:
        held = self.leases.get(lease.address)
        if held is None:
            raise self._lost(lease, "none")
        if held.token != lease.token or held.owner != lease.owner:
            raise self._lost(lease, "stale")
        if held.expires <= self.now:
            self._expire([lease.address])
            raise self._lost(lease, "expired")
        self.leases[lease.address] = replace(held, expires=self.now + (ttl or self.lease_ttl))
        return replace(lease, expires_at=(self.now + (ttl or self.lease_ttl)) / 1000, fresh=False)

    def get_lease(self, owner: str) -> Lease | None:
        address = self.owners.get(owner)
        if address is None or self.leases[address].expires <= self.now:
            return None
        return self._lease(address, fresh=False)

    def reap(self) -> int:
        total = 0
        while True:
            expired = self._reap_expired(REAP_CHUNK)
            cooled = self._promote(REAP_CHUNK)
            self._hand_off()
            total += expired
            if expired < REAP_CHUNK and cooled < REAP_CHUNK:
                return total

    def retire(self, address: str) -> bool:
        state = self.state.get(address)
        if state is None:
            raise WalletNotFound("unknown", pool=self.pool, address=address)
        if state == "retired":
            return False
        if state == "free":
            self.free.remove(address)
        elif state == "cooling":
            del self.cooling[address]
        elif state == "leased":
            self._drop([address])
        self.state[address] = "retired"
        return True

    def counts(self) -> tuple[int, int, int, int, int]:
        retired = sum(1 for s in self.state.values() if s == "retired")
        return len(self.free), len(self.leases), len(self.cooling), retired, len(self.state)

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

from walletpool import Lease, LeaseLost, PoolExhausted, PoolFull, WalletNotFound
from walletpool.errors import LostReason

SETTLE_LIMIT = 100  # walletpool/lua/includes/settle.lua
SETTLE_EVERY_MS = 1000
REAP_CHUNK = 1000  # walletpool/engine/operations.py


TOKENS_PER_MS = 1000
"""Each new token is at least the pool's time in ms times this (invariant 4 across
failover)."""


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
        return len(fresh), len(addresses) - len(fresh)

    def allocate(self, owner: str, ttl: int | None, cid: str | None = None,
                 uid: str | None = None) -> Lease:
        self._settle(False)
        address = self._live(owner)
        if address is not None:
            return self._lease(address, fresh=False)
        ttl = ttl or self.lease_ttl
        popped = self._lease_heads([owner], ttl, cid, uid)
        if not popped:
            self._settle(True)
            popped = self._lease_heads([owner], ttl, cid, uid)
        if not popped:
            raise self._exhausted(1)
        return self._lease(popped[0], fresh=True)

    def allocate_many(self, owners: list[str], ttl: int | None, partial: bool) -> list[Lease]:
        self._settle(False)
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

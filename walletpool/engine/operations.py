"""Every operation's Redis call: the script, keys and arguments, and the decoding of its
reply into results or errors (engine/replies.py). No I/O: a client sends what this
builds, and walletpool/plans.py decides when the reserve lane serves instead.

Single-step operations are a `Call`; operations of several steps (a large `add`, `reap`
until done) are a `Program` (engine/calls.py), so both clients run the same logic.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, cast

from .. import chains, validation
from ..chains import wallets
from ..errors import InvalidInput, LeaseLost, WalletNotFound
from ..keys import pool_keys, v1_keys
from ..models import (
    AddResult,
    ImportReport,
    Lease,
    LowWater,
    PoolStats,
    Rejected,
    ReleasedTo,
    utc,
)
from ..settings import Settings
from . import intake, replies
from .calls import Call, Program, Reply, identity, log, text
from .calls import fields as _fields
from .scripts import script

__all__ = ["KEEP", "Keep", "Operations"]

REAP_CHUNK = 1_000
UPGRADE_CHUNK = 10_000
RESYNC_PAGE = 1_000
# Currencies whose pools start with a low-water mark (the part before '-': USDT-TRC20
# counts as USDT); others start at 0, no alert.
DEFAULT_MIN_FREE = {"BTC": 3, "ETH": 2, "USDT": 5, "LTC": 2}


class Keep:
    """Marker for 'leave this setting as it is' where None has a meaning of its own."""

    def __repr__(self) -> str:
        return "KEEP"


KEEP = Keep()


class Operations:
    """Builds the calls of one client (one key prefix, one set of defaults)."""

    def __init__(self, settings: Settings,
                 on_low_water: Callable[[LowWater], object] | None = None) -> None:
        self.settings = settings
        self.on_low_water = on_low_water
        """Called after an allocation that left fewer than min_free wallets free."""
        self.spawn: Callable[[Any], None] | None = None
        """Runs an awaitable the hook returned (set by the asyncio client)."""
        self._keys: dict[str, tuple[str, ...]] = {}

    def defaults(self, pool: str, network: str | None = None) -> tuple[str | int, ...]:
        """What a script needs to create `pool` if it does not exist yet."""
        min_free = DEFAULT_MIN_FREE.get(pool.split("-", 1)[0], 0)
        return (self.settings.lease_ttl_ms, self.settings.max_size,
                network or chains.default_network(pool), min_free, self.settings.max_waiters,
                self.settings.max_wait_ms)

    def keys(self, pool: str) -> tuple[str, ...]:
        keys = self._keys.get(pool) if isinstance(pool, str) else None
        if keys is None:
            keys = self._keys[pool] = pool_keys(self.settings.prefix, validation.pool_name(pool))
        return keys

    # -- allocate ---------------------------------------------------------------------------

    def allocate(self, pool: str, owner: str, ttl: float | None = None,
                 correlation_id: str | None = None, user_id: str | None = None) -> Call[Lease]:
        keys = self.keys(pool)
        owner = validation.identifier("owner", owner)
        args = (owner, _ttl_arg(ttl),
                validation.optional_identifier("correlation_id", correlation_id),
                validation.optional_identifier("user_id", user_id))

        def decode(reply: Reply) -> Lease:
            return self.allocated(pool, owner, reply)

        return Call(script("allocate"), keys, args, decode, idempotent=True, durable=True,
                    undo=lambda lease: self.release(lease) if lease.fresh else None)

    def allocate_many(self, pool: str, owners: Sequence[str], ttl: float | None = None,
                      correlation_id: str | None = None, user_id: str | None = None,
                      partial: bool = False) -> Call[list[Lease]]:
        keys = self.keys(pool)
        checked = validation.owners(owners)
        args = (_ttl_arg(ttl), validation.optional_identifier("correlation_id", correlation_id),
                validation.optional_identifier("user_id", user_id), 1 if partial else 0, *checked)

        def decode(reply: Reply) -> list[Lease]:
            status = text(reply[0])
            if status != "ok":
                raise replies.refusal(pool, status, reply, wanted=len(set(checked)))
            leases = []
            for i in range(int(reply[1])):
                base = 2 + i * 8
                lease = replies.lease(pool, text(reply[base]), reply, base + 1)
                replies.log_change("allocated", lease)
                leases.append(lease)
            self.low_water(pool, reply[-2], reply[-1])
            return leases

        def undo(leases: list[Lease]) -> Call[Any] | None:
            fresh = [lease for lease in leases if lease.fresh]
            return self.release_many(fresh) if fresh else None

        return Call(script("allocate_many"), keys, args, decode, idempotent=True, durable=True,
                    undo=undo)

    def allocated(self, pool: str, owner: str, reply: Reply) -> Lease:
        """The lease of allocate.lua's 'ok' reply (a refusal raised), logged, with the
        low-water alert it may carry."""
        status = text(reply[0])
        if status != "ok":
            raise replies.refusal(pool, status, reply)
        lease = replies.lease(pool, owner, reply, 1)
        replies.log_change("allocated", lease)
        self.low_water(pool, reply[8], reply[9])
        return lease

    def low_water(self, pool: str, free: Any, min_free: Any) -> None:
        free = int(free)
        if free < 0:  # the script checks only when the pool has a min_free and it fell below
            return
        alert = LowWater(pool, free, int(min_free))
        log.warning("pool below its low-water mark", extra=_fields(
            pool=pool, free=alert.free, min_free=alert.min_free))
        if self.on_low_water is None:
            return
        try:
            outcome = self.on_low_water(alert)
            if inspect.isawaitable(outcome):
                if self.spawn is None:
                    raise TypeError("the low-water hook returned an awaitable; "
                                    "only AsyncWalletPool can run those")
                self.spawn(outcome)
        except Exception:  # the allocation stands: a broken refill hook must not undo it
            log.exception("low-water hook failed", extra=_fields(pool=pool))

    # -- release / extend -------------------------------------------------------------------

    def release(self, lease: Lease) -> Call[ReleasedTo]:
        """Decodes to the wallet's new state: 'free', 'cooling' or 'retired' (worn out)."""
        keys, args = self._lease_args(lease)

        def decode(reply: Reply) -> ReleasedTo:
            if text(reply[0]) != "ok":
                raise replies.lease_lost(lease, text(reply[1]), reply[2])
            state = cast(ReleasedTo, text(reply[1]))
            replies.log_change("released", lease, state=state)
            return state

        sent_at = time.time()

        def resolve(reply: Reply) -> ReleasedTo:
            """The release sent again after the first one's reply was lost. A live lease
            ends early only by a release (or an operator's retire), so a refusal with
            the lease's deadline still ahead means the first release applied; the reply
            says where it left the wallet."""
            lost = text(reply[0]) != "ok"
            if lost and text(reply[1]) in ("none", "stale") and sent_at < lease.expires_at - 1:
                now = text(reply[3])
                state = cast(ReleasedTo, now if now in ("free", "cooling", "retired") else "free")
                replies.log_change("released", lease, state=state)
                return state
            return decode(reply)

        return Call(script("release"), keys, args, decode, idempotent=False,
                    resend=Call(script("release"), keys, args, resolve, idempotent=False))

    def release_many(self, leases: Sequence[Lease]) -> Call[list[bool]]:
        if isinstance(leases, Lease) or not 1 <= len(leases) <= validation.MAX_BATCH:
            raise InvalidInput(f"release_many takes a list of 1 to {validation.MAX_BATCH} leases")
        pools = {lease.pool if isinstance(lease, Lease) else None for lease in leases}
        if len(pools) != 1:
            raise InvalidInput("release_many releases leases of one pool at a time")
        args: list[str | int] = []
        keys: tuple[str, ...] = ()
        for lease in leases:
            keys, lease_args = self._lease_args(lease)
            args.extend(lease_args)

        def decode(reply: Reply) -> list[bool]:
            outcomes = [text(r) for r in reply[1:]]
            for lease, outcome in zip(leases, outcomes, strict=False):
                if outcome.startswith("lost:"):
                    replies.log_lost(lease, outcome[5:])
                else:
                    replies.log_change("released", lease, state=outcome)
            return [not o.startswith("lost:") for o in outcomes]

        sent_at = time.time()

        def resolve(reply: Reply) -> list[bool]:
            """Sent again after the first one's reply was lost: as for release, a lease
            refused with its deadline still ahead was released by the first one."""
            outcomes = [text(r) for r in reply[1:]]
            done = [
                not o.startswith("lost:") or (o in ("lost:none", "lost:stale")
                                              and sent_at < lease.expires_at - 1)
                for lease, o in zip(leases, outcomes, strict=False)]
            for lease, outcome, released in zip(leases, outcomes, done, strict=False):
                if not released:
                    replies.log_lost(lease, outcome[5:])
                elif not outcome.startswith("lost:"):
                    replies.log_change("released", lease, state=outcome)
                else:  # released by the first call; where the wallet is now is not said
                    replies.log_change("released", lease)
            return done

        return Call(script("release_many"), keys, tuple(args), decode, idempotent=False,
                    resend=Call(script("release_many"), keys, tuple(args), resolve,
                                idempotent=False))

    def extend(self, lease: Lease, ttl: float | None = None) -> Call[Lease]:
        keys, args = self._lease_args(lease)

        def decode(reply: Reply) -> Lease:
            if text(reply[0]) != "ok":
                raise replies.lease_lost(lease, text(reply[1]), reply[2])
            extended = replace(lease, expires_at=replies.ms(reply[1]), fresh=False)
            replies.log_change("extended", extended)
            return extended

        return Call(script("extend"), keys, (*args, _ttl_arg(ttl)), decode, idempotent=True,
                    durable=True)

    def get_lease(self, pool: str, owner: str) -> Call[Lease | None]:
        keys = self.keys(pool)
        owner = validation.identifier("owner", owner)

        def decode(reply: Reply) -> Lease | None:
            if text(reply[0]) != "ok":
                return None
            return replies.lease(pool, owner, [*reply, 0], 1)

        return Call(script("get_lease"), keys, (owner,), decode, idempotent=True)

    def held_lease(self, pool: str, owner: str) -> Call[Lease | LeaseLost]:
        """The owner's live lease, or the LeaseLost that says why there is none (for the
        command line, which has the owner's name, not the Lease)."""
        keys = self.keys(pool)
        owner = validation.identifier("owner", owner)

        def decode(reply: Reply) -> Lease | LeaseLost:
            status = text(reply[0])
            if status == "ok":
                return replies.lease(pool, owner, [*reply, 0], 1)
            if status == "expired":
                wallet, token, expires = text(reply[1]), int(text(reply[2])), reply[3]
                return LeaseLost.of(pool=pool, address=wallet, owner=owner, token=token,
                                    reason="expired", expired_at=utc(replies.ms(expires)))
            return LeaseLost.of(
                pool=pool, address="", owner=owner, token=0, reason="none",
                why="the owner holds no live lease (it was released, or it expired and was "
                    "reclaimed: the wallet may already serve another order)")

        return Call(script("get_lease"), keys, (owner,), decode, idempotent=True)

    def _lease_args(self, lease: object) -> tuple[tuple[str, ...], tuple[str | int, ...]]:
        if not isinstance(lease, Lease):
            raise InvalidInput(f"expected a Lease from allocate, not {type(lease).__name__}")
        keys = self.keys(lease.pool)
        validation.address(lease.pool, lease.wallet)
        validation.identifier("owner", lease.owner)
        validation.count("token", lease.token, low=1, high=2**53)
        return keys, (lease.wallet, lease.owner, lease.token)

    # -- pool upkeep ------------------------------------------------------------------------

    def add(self, pool: str, addresses: Sequence[object],
            progress: Callable[[int], None] | None = None) -> Program[AddResult]:
        """`progress`, if given, is called with the number of wallets sent so far."""
        result = yield from intake.add(self, pool, addresses, progress)
        log.debug("wallets added", extra=_fields(pool=pool, added=result.added,
                                                 duplicates=result.duplicates))
        return result

    def import_wallets(self, pool: str, rows: Sequence[intake.Row],
                       rejected: Sequence[Rejected] = (), dry_run: bool = False,
                       progress: intake.ImportProgress | None = None) -> Program[ImportReport]:
        self.keys(pool)
        report = yield from intake.import_wallets(self, pool, rows, rejected, dry_run, progress)
        log.info("wallets imported", extra=_fields(
            pool=pool, added=report.added, duplicates=report.duplicates,
            rejected=len(report.rejected), dry_run=report.dry_run or None))
        return report

    def reap(self, pool: str) -> Program[int]:
        keys = self.keys(pool)
        expired = 0
        while True:
            reply = yield Call(script("reap"), keys, (REAP_CHUNK,), identity, idempotent=True)
            if text(reply[0]) == "nopool":
                raise replies.pool_not_found(pool)
            expired += int(reply[1])
            if int(reply[1]) < REAP_CHUNK and int(reply[2]) < REAP_CHUNK:
                break
        if expired:
            log.info("expired leases reclaimed", extra=_fields(pool=pool, expired=expired))
        return expired

    def retire(self, pool: str, address: str, tag: str | None = None,
               network: chains.Network | None = None) -> Call[bool]:
        """Retire a wallet, given as `network` canonicalises it (Plans.retire reads the
        pool's network first); without `network` (in a pipeline) in its stored form, as
        Lease.address and peek give it."""
        keys = self.keys(pool)
        if network is None:
            address = validation.address(pool, wallets.join(address, tag))
        else:
            address = intake.canonical_wallet(pool, network, address, tag)

        def decode(reply: Reply) -> bool:
            previous = text(reply[1])
            if previous == "":
                raise WalletNotFound(
                    f"pool {pool} has no wallet {address}: nothing retired. Check the address "
                    "(`walletpool peek` and `stats` show the pool)", pool=pool, address=address)
            if previous == "retired":
                return False
            if previous == "reserve":
                raise InvalidInput(
                    f"wallet {address} of pool {pool} is in the database's reserve: give it "
                    "back first (configure a smaller reserve and run rebalance), then retire it")
            log.info("wallet retired", extra=_fields(pool=pool, address=address, previous=previous))
            return True

        def resolve(reply: Reply) -> bool:
            """Sent again after the first retire's reply was lost: retired now means
            the first one did it."""
            return True if text(reply[1]) == "retired" else decode(reply)

        return Call(script("retire"), keys, (address,), decode, idempotent=False, durable=True,
                    resend=Call(script("retire"), keys, (address,), resolve, idempotent=False,
                                durable=True))

    @staticmethod
    def settings_pairs(lease_ttl: float | None = None, cooldown: float | None = None,
                       max_size: int | None = None, max_uses: int | Keep | None = KEEP,
                       min_free: int | None = None, network: str | None = None,
                       reserve: int | None = None, max_waiters: int | None = None,
                       max_wait: float | None = None, stream_cap: int | None = None
                       ) -> list[str | int]:
        """The settings given, checked, as the field/value pairs the pool stores."""
        pairs: list[str | int] = []
        if lease_ttl is not None:
            pairs += ["lease_ttl_ms", validation.seconds("lease_ttl", lease_ttl)]
        if cooldown is not None:
            pairs += ["cooldown_ms", validation.seconds("cooldown", cooldown, allow_zero=True)]
        if max_size is not None:
            pairs += ["max_size", validation.count("max_size", max_size, low=1, high=10**9)]
        if not isinstance(max_uses, Keep):
            uses = 0 if max_uses is None else validation.count("max_uses", max_uses, low=1,
                                                                 high=10**9)
            pairs += ["max_uses", uses]
        if min_free is not None:
            pairs += ["min_free", validation.count("min_free", min_free, low=0, high=10**9)]
        if network is not None:
            try:
                pairs += ["network", chains.network(network).name]
            except (LookupError, TypeError) as exc:
                raise InvalidInput(str(exc)) from None
        if reserve is not None:
            pairs += ["reserve", validation.count("reserve", reserve, low=0, high=10**9)]
        if max_waiters is not None:
            pairs += ["max_waiters", validation.count("max_waiters", max_waiters, low=0,
                                                      high=validation.MAX_WAITERS)]
        if max_wait is not None:
            pairs += ["max_wait_ms", validation.seconds("max_wait", max_wait, allow_zero=True)]
        if stream_cap is not None:
            pairs += ["stream_cap", validation.count("stream_cap", stream_cap,
                                                    low=validation.MIN_STREAM_CAP, high=10**9)]
        return pairs

    def shift_clock(self, pool: str, offset: float) -> Call[bool]:
        """Tests only: run the pool's clock `offset` seconds ahead of Redis's."""
        ms = validation.seconds("offset", offset, allow_zero=True, maximum=10**9)
        return self.configure_pairs(pool, ["clock_offset_ms", ms])

    def freeze_clock(self, pool: str, at: float) -> Call[bool]:
        """Tests only: stop the pool's clock at epoch seconds `at` (0: Redis TIME again)."""
        ms = validation.seconds("at", at, allow_zero=True, maximum=10**11)
        return self.configure_pairs(pool, ["clock_ms", ms, "clock_offset_ms", 0])

    def configure_pairs(self, pool: str, pairs: list[str | int]) -> Call[bool]:
        """Create `pool` or change its settings, given as checked pairs (settings_pairs);
        decodes to True when the call created the pool."""
        def decode(reply: Reply) -> bool:
            settings = " ".join(map(str, pairs))
            log.info("pool configured", extra=_fields(pool=pool, settings=settings))
            return int(reply[1]) == 1

        return Call(script("configure"), self.keys(pool), (*self.defaults(pool), *pairs), decode,
                    idempotent=True)

    # -- layout -------------------------------------------------------------------------------

    def upgrade(self, pool: str, progress: Callable[[int], None] | None = None
                ) -> Program[bool]:
        """Convert `pool` from layout 1 to layout 2, UPGRADE_CHUNK wallets a step; True when it
        was converted, False when it was in this layout already. `progress` gets the
        count converted so far after each step."""
        keys = (*self.keys(pool), *v1_keys(self.settings.prefix, pool))
        converted = 0
        while True:
            reply = yield Call(script("upgrade"), keys, (UPGRADE_CHUNK,), identity,
                               idempotent=True)
            status = text(reply[0])
            if status == "nopool":
                raise replies.pool_not_found(pool)
            if status == "current":
                return False
            converted += int(reply[1])
            if progress is not None:
                progress(converted)
            if status == "done":
                log.info("pool upgraded", extra=_fields(pool=pool, wallets=converted))
                return True

    # -- a syncer attaching late (walletpool.syncer) --------------------------------------

    def resync(self, pool: str) -> Program[int]:
        """Record every wallet of `pool` as it stands in its stream (resync.lua), when the
        stream was capped before a syncer attached; returns the wallets recorded (0: the
        history was whole). A page repeated after a lost reply records its wallets twice,
        which the database takes as once: each record is absolute."""
        cursor, recorded = "0", 0
        while True:
            reply = yield Call(script("resync"), self.keys(pool), (cursor, RESYNC_PAGE),
                               identity, idempotent=True)
            status = text(reply[0])
            if status == "nopool":
                raise replies.pool_not_found(pool)
            if status == "whole":
                return recorded
            cursor, recorded = text(reply[1]), recorded + int(reply[2])
            if cursor == "0":
                log.info("pool resynced: its stream had been capped, so every wallet was "
                         "recorded as it stands", extra=_fields(pool=pool, wallets=recorded))
                return recorded

    # -- the database's reserve (walletpool.reserve.rebalance) ------------------------------

    def reserve_take(self, pool: str, count: int, keep: int) -> Call[list[tuple[str, str]]]:
        """Move up to `count` wallets from the head of the free queue into the reserve,
        leaving at least `keep` free; decodes to (wallet, stream id of its event) pairs."""
        def decode(reply: Reply) -> list[tuple[str, str]]:
            if text(reply[0]) == "nopool":
                raise replies.pool_not_found(pool)
            return [(text(reply[i]), text(reply[i + 1])) for i in range(1, len(reply), 2)]

        def undo(moved: list[tuple[str, str]]) -> Call[Any] | None:
            # unacknowledged, the move could be lost to a failover while the database
            # hands the wallets out: give them back before the database takes them
            return self.reserve_return(pool, [w for w, _ in moved]) if moved else None

        return Call(script("reserve_take"), self.keys(pool), (count, keep), decode,
                    idempotent=False, durable=True, undo=undo)

    def lookup(self, pool: str, wallets_: Sequence[str]) -> Call[list[str]]:
        """The state of each wallet ('' for one the pool does not know). Read-only."""
        return Call(script("lookup"), self.keys(pool), tuple(wallets_),
                    lambda reply: [text(s) for s in reply], idempotent=True)

    def newest_event(self, pool: str) -> Call[str]:
        """The id of the newest entry ever added to the pool's stream. Read-only."""
        return Call(script("newest_event"), self.keys(pool), (), text, idempotent=True)

    def reserve_return(self, pool: str, wallets_: Sequence[str]) -> Call[list[str | None]]:
        """Give wallets of the reserve back to the free tail; decodes to each one's stream
        id, or None for one that was not in the reserve."""
        return Call(script("reserve_return"), self.keys(pool), tuple(wallets_),
                    lambda reply: [text(r) or None for r in reply[1:]], idempotent=True)

    # -- healing (store/heal.py) ----------------------------------------------------------

    def heal_begin(self, pool: str, arm: bool) -> Call[tuple[str, str]]:
        """Check now whether the pool runs on the process the database vouched for (arming
        it first when `arm` and it is not armed yet); decodes to ('ok', run id),
        ('unarmed', '') or ('fenced', heal_from: the stream id healing starts above)."""
        def decode(reply: Reply) -> tuple[str, str]:
            status = text(reply[0])
            if status == "nopool":
                raise replies.pool_not_found(pool)
            return status, text(reply[1]) if len(reply) > 1 else ""

        return Call(script("heal_begin"), self.keys(pool), (1 if arm else 0,), decode,
                    idempotent=True)

    def heal(self, pool: str, heal_from: str, wallets_: Sequence[Sequence[str | int]], *,
             final: bool, entry_floor: str = "", token_floor: int = 0) -> Call[int | None]:
        """Put one chunk of the database's wallet states back into a fenced pool
        (10 fields a wallet, lua/heal.lua); `final` lifts the fence. Decodes to the
        wallets changed, or None when the pool is no longer fenced under `heal_from`."""
        def decode(reply: Reply) -> int | None:
            status = text(reply[0])
            if status == "nopool":
                raise replies.pool_not_found(pool)
            return int(reply[1]) if status == "ok" else None

        args = (heal_from, 1 if final else 0, entry_floor, token_floor,
                *(field for wallet in wallets_ for field in wallet))
        return Call(script("heal"), self.keys(pool), args, decode, idempotent=True)

    def repair(self, pool: str, wallets_: Sequence[Sequence[str | int]], *,
               strays: Sequence[str] = (), owners: Sequence[str] = (),
               token_floor: int = 0) -> Call[int]:
        """Mend what reconcile found (store/repair.py, lua/repair.lua): each wallet set to
        the state given, strays taken out, owner index entries dropped, the counter moved
        up to `token_floor`. Decodes to the changes made."""
        def decode(reply: Reply) -> int:
            if text(reply[0]) == "nopool":
                raise replies.pool_not_found(pool)
            return int(reply[1])

        args = (token_floor, len(strays), *strays, len(owners), *owners,
                *(field for wallet in wallets_ for field in wallet))
        return Call(script("repair"), self.keys(pool), args, decode, idempotent=True)

    # -- reading ----------------------------------------------------------------------------

    def stats(self, pool: str) -> Call[PoolStats]:
        def decode(reply: Reply) -> PoolStats:
            stats = replies.stats(pool, reply)
            if stats is None:
                raise replies.pool_not_found(pool)
            return stats

        return Call(script("stats"), self.keys(pool), (), decode, idempotent=True)

    def stats_or_none(self, pool: str) -> Call[PoolStats | None]:
        return Call(script("stats"), self.keys(pool), (), lambda r: replies.stats(pool, r),
                    idempotent=True)

    def peek(self, pool: str, count: int = 10) -> Call[list[str]]:
        count = validation.count("count", count, low=1, high=validation.MAX_PEEK)
        def decode(reply: Reply) -> list[str]:
            if text(reply[0]) == "nopool":
                raise replies.pool_not_found(pool)
            return [text(a) for a in reply[1:]]

        return Call(script("peek"), self.keys(pool), (count,), decode, idempotent=True)


def ttl_ms(ttl: float | None) -> int | None:
    """A lease ttl in seconds as checked ms; None: the pool's lease_ttl."""
    return None if ttl is None else validation.seconds("ttl", ttl)


def _ttl_arg(ttl: float | None) -> int:
    """0 on the wire means 'the pool's lease_ttl'."""
    return ttl_ms(ttl) or 0

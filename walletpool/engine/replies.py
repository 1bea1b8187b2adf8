"""Replies of the scripts as walletpool results and errors: leases, pool figures,
refusals. Shared by every operation that gets one back."""

from __future__ import annotations

import logging
from typing import cast, get_args

from .. import chains
from ..chains import wallets
from ..errors import LeaseLost, LostReason, PoolExhausted, PoolNotFound
from ..models import Lease, PoolStats, utc
from .calls import Reply, fields, log, text


def ms(value: Reply) -> float:
    """Epoch ms on the wire (an integer, as bytes or str) as epoch seconds."""
    return int(value) / 1000.0


def _optional(value: Reply) -> str | None:
    return text(value) if value else None


def lease(pool: str, owner: str, reply: Reply, at: int) -> Lease:
    """The lease in reply[at:at + 7]: wallet, token, deadline, start, ids, fresh. (int()
    reads an integer from bytes and str alike: the hot path decodes no more than the
    texts.)"""
    wallet, token, expires, leased, cid, uid, fresh = reply[at : at + 7]
    address, tag = wallets.split(text(wallet))
    return Lease(pool=pool, address=address, owner=owner, token=int(token),
                 expires_at=ms(expires), leased_at=ms(leased), correlation_id=_optional(cid),
                 user_id=_optional(uid), fresh=int(fresh) == 1, tag=tag)


def stats(pool: str, reply: Reply) -> PoolStats | None:
    n = [int(text(v)) for v in reply[:14]]
    exists, free, leased, cooling, known, last_token, events, expired, ready = n[:9]
    lease_ttl_ms, cooldown_ms, max_size, max_uses, now_ms = n[9:14]
    if not exists and not known:
        return None
    min_free, low_water, exhaustions, reserve, target = (int(text(v)) for v in reply[15:20])
    waiting, oldest_ms, max_waiters, max_wait_ms = (int(text(v)) for v in reply[20:24])
    return PoolStats(
        pool=pool, free=free, leased=leased, cooling=cooling,
        retired=known - free - leased - cooling - reserve, total=known, last_token=last_token,
        events=events, expired_unreaped=expired, cooled_ready=ready,
        lease_ttl=lease_ttl_ms / 1000, cooldown=cooldown_ms / 1000, max_size=max_size,
        max_uses=max_uses or None, server_time=now_ms / 1000,
        network=text(reply[14]) or chains.default_network(pool), min_free=min_free,
        low_water_alerts=low_water, exhaustions=exhaustions, reserve=reserve,
        reserve_target=None if target < 0 else target, waiting=waiting,
        oldest_wait=oldest_ms / 1000, max_waiters=max_waiters, max_wait=max_wait_ms / 1000,
        fenced=int(text(reply[24])) == 1)


def pool_not_found(pool: str) -> PoolNotFound:
    return PoolNotFound(f"pool {pool} does not exist: configure it or add wallets first")


def refusal(pool: str, status: str, reply: Reply, wanted: int = 1) -> Exception:
    if status == "nopool":
        return pool_not_found(pool)
    free, leased, cooling = (int(v) for v in reply[1:4])
    shortfall = f"needs {wanted} free wallets, has {free}" if wanted > 1 else "has no free wallet"
    log.warning("pool exhausted", extra=fields(pool=pool, free=free, leased=leased,
                                                cooling=cooling, wanted=wanted))
    return PoolExhausted(
        f"pool {pool} {shortfall} ({leased} leased, {cooling} cooling); add wallets or wait",
        pool=pool, free=free, leased=leased, cooling=cooling)


def lease_lost(held: Lease, reason: str, expires_ms: Reply) -> LeaseLost:
    """The LeaseLost of a script's {'lost', reason, expires_at_ms} reply."""
    if reason not in get_args(LostReason):
        raise AssertionError(f"a script gave an unknown reason for a lost lease: {reason!r}")
    log_lost(held, reason)
    return LeaseLost.of(pool=held.pool, address=held.wallet, owner=held.owner,
                        token=held.token, reason=cast(LostReason, reason),
                        expired_at=utc(ms(expires_ms)) if text(expires_ms) else None)


def log_change(kind: str, held: Lease, state: str | None = None) -> None:
    if log.isEnabledFor(logging.DEBUG):
        log.debug(f"lease {kind}", extra=fields(
            pool=held.pool, address=held.wallet, owner=held.owner, token=held.token,
            correlation_id=held.correlation_id, user_id=held.user_id, state=state))


def log_lost(held: Lease, reason: str) -> None:
    log.warning("lease lost", extra=fields(
        pool=held.pool, address=held.wallet, owner=held.owner, token=held.token,
        correlation_id=held.correlation_id, user_id=held.user_id, reason=reason))

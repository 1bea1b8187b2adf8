"""Serving orders: allocate, release, extend."""

from __future__ import annotations

from dataclasses import asdict

import click

from .. import errors
from ..client import WalletPool
from ..models import Lease, Priority
from .shared import (
    connected,
    emit,
    lease_text,
    main,
    pool_of,
    shown_address,
)


@main.command()
@connected
@click.argument("pool_name", metavar="POOL")
@click.argument("owner")
@click.option("--ttl", type=float, help="Lease TTL in seconds [default: the pool's].")
@click.option("--correlation-id")
@click.option("--user-id")
@click.option("--wait", type=float, default=None, metavar="S",
              help="When no wallet is free, wait up to S seconds for one, in line "
                   "[default: WALLETPOOL_WAIT, 0: no waiting].")
@click.option("--priority", type=click.Choice(["normal", "high"]), default="normal",
              show_default=True, help="With --wait: high orders are served first.")
@click.option("--json", "as_json", is_flag=True, help="Print the lease as JSON.")
@click.pass_context
def allocate(ctx: click.Context, pool_name: str, owner: str, ttl: float | None,
             correlation_id: str | None, user_id: str | None, wait: float | None,
             priority: Priority, as_json: bool) -> None:
    """Lease the next free wallet of POOL to OWNER (the same one again if OWNER holds one).
    With --wait, an order that finds none free waits its turn (exit 1 when none came)."""
    pool = pool_of(ctx)
    lease = pool.allocate(pool_name, owner, ttl=ttl, correlation_id=correlation_id,
                          user_id=user_id, wait=wait, priority=priority)
    network = pool.stats(pool_name).network
    shown = {**asdict(lease), "shown_address": shown_address(lease.address, network)}
    emit(shown, as_json, lease_text(lease, network))


def _held(pool: WalletPool, pool_name: str, owner: str, token: int | None) -> Lease:
    """The lease OWNER holds (from either lane), or the LeaseLost that says why there is
    none: when it expired, if Redis still has its record."""
    pool.stats(pool_name)  # PoolNotFound for a typo, not "no live lease"
    lease = pool.get_lease(pool_name, owner)
    if lease is None:
        why = pool._do(pool._ops.held_lease(pool_name, owner))
        raise why if isinstance(why, errors.LeaseLost) else errors.LeaseLost.of(
            pool=pool_name, address=why.address, owner=owner, token=why.token,
            reason="stale", why="its lease changed while it was being read; try again")
    if token is not None and token != lease.token:
        raise errors.LeaseLost.of(
            pool=pool_name, address=lease.address, owner=owner, token=token, reason="stale",
            why=f"the owner holds {lease.address} under token {lease.token}, not {token}")
    return lease


@main.command()
@connected
@click.argument("pool_name", metavar="POOL")
@click.argument("owner")
@click.option("--token", type=int, help="Release only if the lease still has this token.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def release(ctx: click.Context, pool_name: str, owner: str, token: int | None,
            as_json: bool) -> None:
    """Release the wallet OWNER holds in POOL."""
    pool = pool_of(ctx)
    lease = _held(pool, pool_name, owner, token)
    state = pool.release(lease)
    network = pool.stats(pool_name).network
    shown = shown_address(lease.address, network)
    emit({**asdict(lease), "shown_address": shown, "now": state}, as_json,
          f"released {shown} (now {state})")


@main.command()
@connected
@click.argument("pool_name", metavar="POOL")
@click.argument("owner")
@click.option("--ttl", type=float, help="New TTL from now, seconds [default: the pool's].")
@click.option("--token", type=int, help="Extend only if the lease still has this token.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def extend(ctx: click.Context, pool_name: str, owner: str, ttl: float | None,
           token: int | None, as_json: bool) -> None:
    """Set the deadline of the lease OWNER holds in POOL to TTL seconds from now (the
    pool's lease_ttl by default): later or, with a shorter TTL, sooner."""
    pool = pool_of(ctx)
    lease = pool.extend(_held(pool, pool_name, owner, token), ttl=ttl)
    network = pool.stats(pool_name).network
    emit({**asdict(lease), "shown_address": shown_address(lease.address, network)},
          as_json, lease_text(lease, network, allocated=False))

"""The store: db upgrade, sync, rebalance, heal, restore, reconcile."""

from __future__ import annotations

import sys
from dataclasses import asdict
from typing import TYPE_CHECKING

import click

from .. import validation
from .shared import (
    EXIT_REFUSED,
    Stopping,
    connected,
    database_option,
    emit,
    engine_of,
    main,
    pool_of,
)

if TYPE_CHECKING:  # SQLAlchemy loads only for the commands that use the database
    from ..reserve.rebalance import Rebalanced


@main.group()
def db() -> None:
    """The database schema."""


@db.command("upgrade")
@database_option
@click.pass_context
def db_upgrade(ctx: click.Context, database_url: str | None) -> None:
    """Create the schema or bring it to this version of walletpool."""
    from ..store.migrations import LATEST
    from ..store.migrations import upgrade as run_upgrade

    engine = engine_of(ctx, database_url, create=True)
    applied = run_upgrade(engine)
    click.echo(f"schema at version {LATEST}" + (f" (applied {applied})" if applied else
                                                  " (nothing to do)"))


@main.command()
@connected
@database_option
@click.option("--batch-size", default=1000, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--block", default=1.0, show_default=True, type=click.FloatRange(0.01, 60),
              help="Seconds to wait when no pool has new events.")
@click.option("--consumer", help="This syncer's name in the consumer group [default: host-pid].")
@click.option("--claim-idle", default=30.0, show_default=True, type=click.FloatRange(0.1),
              help="Seconds after which a stalled syncer's entries are taken over.")
@click.option("--once", is_flag=True,
              help="Sync what is there, rebalance the reserves once, then exit.")
@click.option("--rebalance-every", default=30.0, show_default=True, type=click.FloatRange(0),
              help="Seconds between rebalances of every pool's reserve (0: never).")
@click.pass_context
def sync(ctx: click.Context, database_url: str | None, batch_size: int, block: float,
         consumer: str | None, claim_idle: float, once: bool, rebalance_every: float) -> None:
    """Copy every pool's events to the database until stopped (SIGTERM: finish the
    batch in hand, acknowledge it, exit 0; Ctrl-C: the same, exit 130)."""
    from ..store.migrations import check
    from ..syncer import Syncer

    pool = pool_of(ctx)
    engine = engine_of(ctx, database_url)
    syncer = Syncer(pool.redis, engine, prefix=pool.settings.prefix,
                    consumer=consumer, batch_size=batch_size, block=block,
                    claim_idle=claim_idle, rebalance_every=rebalance_every or None,
                    settings=pool.settings)
    stopping = Stopping(syncer.stop)
    rebalanced: list[Rebalanced] = []
    if once:
        check(engine)  # a missing schema is reported, not retried
        while not syncer.stopping and syncer.run_once():
            pass
        # then what a running syncer does at its start: a sync --once from cron
        # keeps the reserves at their size too (--rebalance-every 0: it does not)
        if rebalance_every and not syncer.stopping:
            rebalanced = [d for d in syncer.rebalance()
                          if d.size or d.taken or d.returned or d.released or d.repaired]
        total = syncer.committed
    else:
        total = syncer.run()
    stopped = " (stopped: the batch in hand stays in the stream)" if syncer.abandoned else ""
    click.echo(f"committed {total} events{stopped}")
    for d in rebalanced:
        click.echo(_rebalanced_text(d))
    stopping.exit()


@main.command()
@connected
@click.argument("pool_names", nargs=-1, metavar="[POOL]...")
@database_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def rebalance(ctx: click.Context, pool_names: tuple[str, ...], database_url: str | None,
              as_json: bool) -> None:
    """Bring each pool's reserve in the database to its size (all pools when none is
    named): take wallets from Redis's free queue or give the surplus back, and apply
    the releases queued while Redis was down."""
    from ..store.migrations import check

    pool = pool_of(ctx)
    engine = engine_of(ctx, database_url)
    check(engine)
    from ..reserve.rebalance import rebalance as run

    done = [pool._do(run(pool._ops, engine, name)) for name in (pool_names or pool.pools())]
    if as_json:
        emit([asdict(d) for d in done], True, "")
        return
    for d in done:
        click.echo(_rebalanced_text(d))


def _rebalanced_text(d: Rebalanced) -> str:
    return (f"{d.pool}: reserve {d.free_in_reserve} free of size {d.size} (took {d.taken}, "
            f"gave back {d.returned}; queued releases applied {d.released}, refused "
            f"{d.refused}; repaired {d.repaired})")


@main.command()
@connected
@click.argument("pool_names", nargs=-1, metavar="[POOL]...")
@database_option
@click.option("--arm", is_flag=True,
              help="Also arm pools no syncer armed yet (the syncer arms every pool it syncs).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def heal(ctx: click.Context, pool_names: tuple[str, ...], database_url: str | None, arm: bool,
         as_json: bool) -> None:
    """Heal each fenced pool from the database (all pools when none is named): put back
    what its Redis lost in a failover or restart, then lift the fence. The syncer does
    this by itself within its loop."""
    from ..store.heal import heal as run
    from ..store.migrations import check

    pool = pool_of(ctx)
    engine = engine_of(ctx, database_url)
    check(engine)
    done = [pool._do(run(pool._ops, engine, name, arm=arm))
            for name in (pool_names or pool.pools())]
    if as_json:
        emit([asdict(d) for d in done], True, "")
        return
    for d in done:
        if d.fenced:
            click.echo(f"{d.pool}: healed {d.wallets} wallet(s) from {d.rows} database row(s) "
                       f"above {d.heal_from}")
        else:
            click.echo(f"{d.pool}: not fenced, nothing to heal")


@main.command()
@connected
@database_option
@click.option("--pool", "pool_names", multiple=True, metavar="POOL",
              help="Pool to restore (repeat; default: every pool in the database).")
@click.option("--force", is_flag=True, help="Replace a pool that still exists in Redis.")
@click.pass_context
def restore(ctx: click.Context, database_url: str | None, pool_names: tuple[str, ...],
            force: bool) -> None:
    """Rebuild pools in Redis from the database after Redis lost them."""
    from ..store.restore import restore as run_restore
    from ..store.restore import stored_pools

    pool = pool_of(ctx)
    engine = engine_of(ctx, database_url)
    for name in pool_names or stored_pools(engine):
        done = run_restore(pool.redis, engine, pool.settings.prefix,
                           validation.pool_name(name), force=force)
        click.echo(f"{name}: restored {done.free} free, {done.leased} leased, "
                   f"{done.cooling} cooling, {done.retired} retired; next token "
                   f"{done.next_token}")


@main.command()
@connected
@database_option
@click.argument("pool_names", nargs=-1, metavar="[POOL]...")
@click.option("--repair", is_flag=True,
              help="Mend what can be mended safely, each repair recorded as an event.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def reconcile(ctx: click.Context, database_url: str | None, pool_names: tuple[str, ...],
              repair: bool, as_json: bool) -> None:
    """Check each pool's Redis structures against each other, and Redis against the
    database wallet by wallet (every pool either side has when none is named); exit 1
    on any finding. --repair mends Redis's structures and re-checks them (exit 0 once
    none is left)."""
    from ..store.migrations import check
    from ..store.repair import reconcile_structures
    from ..store.restore import reconcile as run_reconcile
    from ..store.restore import stored_pools

    pool = pool_of(ctx)
    engine = engine_of(ctx, database_url)
    differences, damage, left = [], [], []
    check(engine)
    names = pool_names or sorted(set(pool.pools()) | set(stored_pools(engine)))
    for name in names:
        validation.pool_name(name)
        differences += run_reconcile(pool.redis, engine, pool.settings.prefix, name)
        if name in pool.pools():
            damage += pool._do(reconcile_structures(
                pool._ops, pool.redis, engine, pool.settings.prefix, name, repair=repair))
            if repair:
                left += pool._do(reconcile_structures(
                    pool._ops, pool.redis, engine, pool.settings.prefix, name))
    if as_json:
        emit({"differences": [asdict(d) for d in differences],
               "damage": [{k: v for k, v in asdict(d).items() if k != "target"}
                          for d in damage],
               "repaired": len(damage) if repair else 0,
               "left": [str(d) for d in left]}, True, "")
    else:
        for difference in differences:
            click.echo(str(difference))
        for found in damage:
            click.echo(str(found))
        click.echo(f"{len(differences)} difference(s) with the database, {len(damage)} "
                   "problem(s) in Redis's own structures")
        if repair:
            click.echo(f"repaired {len(damage) - len(left)}; "
                       + (f"{len(left)} left: " + "; ".join(map(str, left)) if left else
                          "none left (the syncer brings the repairs to the database)"))
    failed = left if repair else [*differences, *damage]
    sys.exit(EXIT_REFUSED if failed else 0)

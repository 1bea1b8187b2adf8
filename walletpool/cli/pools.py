"""Managing pools: configure, import, retire, peek, pools, stats, reap, upgrade."""

from __future__ import annotations

import sys
import time
from dataclasses import asdict
from typing import Any, TextIO

import click

from .. import errors, validation
from ..client import WalletPool
from ..engine.operations import KEEP, Keep
from ..importer import read_lines
from ..keys import LAYOUT, v1_keys
from ..models import ImportReport, PoolStats, utc
from .shared import (
    EXIT_BAD_INPUT,
    EXIT_REFUSED,
    connected,
    emit,
    main,
    pool_of,
    shown_address,
)


@main.command()
@connected
@click.option("--wide", is_flag=True, help="Every column (settings and counters too).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def pools(ctx: click.Context, wide: bool, as_json: bool) -> None:
    """List the pools with their counts."""
    pool = pool_of(ctx)
    stats = [pool.stats(name) for name in pool.pools()]
    if as_json:
        emit([asdict(s) for s in stats], True, "")
    elif not stats:
        click.echo("no pools")
    else:
        _print_table(stats, wide=wide)


@main.command(name="import")
@connected
@click.argument("pool_name", metavar="POOL")
@click.argument("source", metavar="FILE", type=click.File("r", encoding="utf-8-sig"))
@click.option("--dry-run", is_flag=True, help="Check and count, write nothing.")
@click.option("--strict", is_flag=True, help="Write nothing when any line is rejected.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def import_(ctx: click.Context, pool_name: str, source: TextIO, dry_run: bool, strict: bool,
            as_json: bool) -> None:
    """Add the wallets in FILE ('-' for stdin) to POOL: one address a line, or CSV
    `address,tag` for a tag pool. Blank lines, '#' comments and an `address` header are
    skipped.

    Every line is checked for the pool's network before anything is written; the good
    ones are added and the summary lists each rejected line with its reason. Exit code
    0 when no line was rejected, 2 otherwise.
    """
    pool = pool_of(ctx)
    validation.pool_name(pool_name)
    lines = read_lines(source, getattr(source, "name", "the input"))
    with _Progress(len(lines) >= 10_000) as progress:
        report = pool.import_wallets(pool_name, lines, dry_run=dry_run or strict,
                                     progress=progress)
        if strict and not dry_run and not report.rejected:
            report = pool.import_wallets(pool_name, lines, progress=progress)
    if as_json:
        shown = asdict(report)
        if strict and not dry_run and report.rejected:  # --strict refused it: nothing added
            shown.update(dry_run=False, added=0, would_add=report.added, strict=True)
        emit(shown, True, "")
    else:
        _print_import(report, strict and not dry_run)
    sys.exit(EXIT_BAD_INPUT if report.rejected else 0)


class _Progress:
    """A progress bar on stderr per import stage, for large files only."""

    def __init__(self, shown: bool) -> None:
        self.shown = shown
        self.bar: Any = None
        self.stage = ""
        self.done = 0

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.shown:
            return
        if stage != self.stage:
            self.__exit__()
            self.bar = click.progressbar(length=total, label=f"{stage:9}", file=sys.stderr,
                                         show_pos=True).__enter__()
            self.stage, self.done = stage, 0
        self.bar.update(done - self.done)
        self.done = done


def _print_import(report: ImportReport, refused_all: bool) -> None:
    verb = "would add" if report.dry_run else "added"
    if refused_all and report.rejected:
        verb = "added 0 (--strict), would add"
    click.echo(f"{report.pool} ({report.network}): read {report.read}, {verb} {report.added}, "
               f"duplicates {report.duplicates}, rejected {len(report.rejected)}")
    for bad in report.rejected[:50]:
        click.echo(f"  line {bad.line}: {bad.text}: {bad.reason}")
    if len(report.rejected) > 50:
        click.echo(f"  ... {len(report.rejected) - 50} more (see --json)")


@main.command()
@connected
@click.argument("pool_names", nargs=-1, metavar="[POOL]...")
@click.option("--wide", is_flag=True, help="Every column (settings and counters too).")
@click.option("--watch", is_flag=True, help="Redraw every --interval seconds until Ctrl-C.")
@click.option("--interval", type=click.FloatRange(0.1), default=2.0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def stats(ctx: click.Context, pool_names: tuple[str, ...], wide: bool, watch: bool,
          interval: float, as_json: bool) -> None:
    """Counts and settings of the given pools (all pools when none is named), in 80
    columns; --wide for every column, --watch for a live view."""

    from ..syncer import lag

    pool = pool_of(ctx)
    while True:
        stats = [pool.stats(name) for name in (pool_names or pool.pools())]
        lags = {s.pool: lag(pool.redis, pool.settings.prefix, s.pool) for s in stats}
        if as_json:
            emit([{**asdict(s), "unsynced": lags[s.pool].unsynced,
                    "unsynced_age": lags[s.pool].oldest_age} for s in stats], True, "")
        elif not stats:
            click.echo(f"no pools under prefix {pool.settings.prefix!r}: create one with "
                       "`walletpool configure POOL` or `walletpool import POOL FILE`")
        else:
            if watch:
                click.clear()
                click.echo(f"walletpool stats every {interval:g} s (Ctrl-C ends)  "
                           f"{utc(time.time())}")
            _print_table(stats, lags, wide=wide)
        if not watch:
            return
        time.sleep(interval)  # Ctrl-C ends it, with 130 as any command


NARROW = ["pool", "network", "free", "leased", "cooling", "retired", "reserve", "waiting",
          "exhaustions"]
"""The columns of `stats` and `pools` that fit 80 columns for pool names up to 11
characters (USDT-TRC20), with `unsynced` and `lag`; `reserve` shows only while a pool
has one (the database's), and `mode` joins them while a pool is served by it."""
WIDE = ["pool", "network", "free", "min_free", "leased", "cooling", "retired", "total",
        "expired_unreaped", "last_token", "events", "lease_ttl", "cooldown", "max_size",
        "max_uses", "low_water_alerts", "exhaustions", "reserve", "waiting", "oldest_wait",
        "max_waiters", "max_wait", "mode", "fenced"]


def _print_table(stats: list[PoolStats], lags: dict[str, Any] | None = None,
                 wide: bool = False) -> None:
    columns = list(WIDE if wide else NARROW)
    if not wide and not any(s.reserve or s.reserve_target for s in stats):
        columns.remove("reserve")
    if not wide and any(s.mode != "redis" for s in stats):
        columns.append("mode")
    if not wide and any(s.fenced for s in stats):
        columns.append("fenced")
    heads = {"exhaustions": "exhausted"} if not wide else {}
    rows = [[_cell(s, c, wide) for c in columns] for s in stats]
    if lags is not None:
        columns += ["unsynced", "unsynced_age" if wide else "lag"]
        for row, s in zip(rows, stats, strict=True):
            row += [str(lags[s.pool].unsynced), f"{lags[s.pool].oldest_age:.1f}s"]
    names = [heads.get(c, c) for c in columns]
    widths = [max([len(c), *(len(r[i]) for r in rows)]) for i, c in enumerate(names)]
    click.echo(" ".join(c.ljust(w) for c, w in zip(names, widths, strict=False)).rstrip())
    for row in rows:
        click.echo(" ".join(v.ljust(w) for v, w in zip(row, widths, strict=False)).rstrip())
    for s in stats:
        if s.fenced:
            click.echo(errors.PoolFenced.advice(s.pool))


def _cell(stats: PoolStats, column: str, wide: bool) -> str:
    value = getattr(stats, column)
    if column == "waiting" and not wide and stats.waiting:  # with the oldest wait
        return f"{stats.waiting}/{stats.oldest_wait:.0f}s"
    if column in ("oldest_wait", "max_wait"):
        return f"{value:g}s"
    if column == "fenced":
        return "FENCED" if value else "no"
    return "-" if value is None else str(value)


@main.command()
@connected
@click.argument("pool_name", metavar="POOL")
@click.option("-n", "--count", type=int, default=10, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def peek(ctx: click.Context, pool_name: str, count: int, as_json: bool) -> None:
    """The next free addresses of POOL, head first."""
    pool = pool_of(ctx)
    addresses = pool.peek(pool_name, count)
    network = pool.stats(pool_name).network
    shown = [shown_address(a, network) for a in addresses]  # the form people copy
    emit(shown, as_json, "\n".join(shown))


@main.command()
@connected
@click.argument("pool_names", nargs=-1, metavar="[POOL]...")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def reap(ctx: click.Context, pool_names: tuple[str, ...], as_json: bool) -> None:
    """Reclaim expired leases and return cooled wallets (all pools when none is named)."""
    pool = pool_of(ctx)
    reaped: dict[str, int] = {}
    for name in pool_names or pool.pools():
        reaped[name] = pool.reap(name)
        if not as_json:
            click.echo(f"{name}: {reaped[name]} expired lease(s) reclaimed")
    if as_json:
        emit(reaped, True, "")


@main.command()
@connected
@click.argument("pool_names", nargs=-1, metavar="[POOL]...")
@click.option("--dry-run", is_flag=True, help="Say which pools need it; write nothing.")
@click.pass_context
def upgrade(ctx: click.Context, pool_names: tuple[str, ...], dry_run: bool) -> None:
    """Convert pools in layout 1 (as walletpool 0.1.0 wrote them) to layout 2 (all pools
    when none is named). Idempotent; run it again after an interruption."""
    pool = pool_of(ctx)
    for name in pool_names or pool.pools():
        total = _v1_entries(pool, name)
        if dry_run:
            click.echo(f"{name}: " + (
                f"in layout 1: would be upgraded to layout {LAYOUT} ({total} entries)"
                if total is not None else f"already in layout {LAYOUT}: nothing to do"))
            continue
        with _Progress((total or 0) >= 10_000) as progress:
            def step(converted: int, of: int = total or 0) -> None:
                progress("upgrading", converted, of)
            done = pool.upgrade(name, step)
        click.echo(f"{name}: " + (f"upgraded ({total} entries converted)" if done
                                  else "already in the current layout"))


def _v1_entries(pool: WalletPool, name: str) -> int | None:
    """How many entries (wallet states and leases) of layout 1 `upgrade` would
    convert in one pool; None when it is in the current layout. Read only."""
    try:
        pool.stats(name)
    except errors.LayoutOutdated:
        state, lease, _ = v1_keys(pool.settings.prefix, name)
        return int(pool.redis.hlen(state)) + int(pool.redis.hlen(lease))
    return None


@main.command()
@connected
@click.argument("pool_name", metavar="POOL")
@click.argument("addresses", nargs=-1, required=True, metavar="ADDRESS...")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def retire(ctx: click.Context, pool_name: str, addresses: tuple[str, ...],
           as_json: bool) -> None:
    """Take wallets out of service for good (a leased one loses its lease). An address
    may be in any form the pool's network accepts; one the pool does not have is
    reported, and the command then exits 1."""
    pool = pool_of(ctx)
    outcome: dict[str, str] = {}
    for address in addresses:
        try:
            outcome[address] = "retired" if pool.retire(pool_name, address) else \
                "already retired"
        except errors.WalletNotFound as exc:
            outcome[address] = "not in the pool"
            if not as_json:  # as _fail words every error, the class first
                click.echo(f"error: {type(exc).__name__}: {exc}", err=True)
        if not as_json:
            click.echo(f"{address}: {outcome[address]}")
    if as_json:
        emit(outcome, True, "")
    if "not in the pool" in outcome.values():
        sys.exit(EXIT_REFUSED)


def _max_uses(value: str | None) -> int | Keep | None:
    if value is None:
        return KEEP
    if value.lower() in ("none", "unlimited"):
        return None
    if value.strip() == "0":  # it once meant "no limit": say so rather than guess
        raise click.BadParameter("0 leases is no limit a pool can keep: give 1 or more, or "
                                 "'none' for no limit")
    try:
        return int(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a whole number or 'none'") from None


@main.command()
@connected
@click.argument("pool_name", metavar="POOL")
@click.option("--lease-ttl", type=float, help="Default lease TTL, seconds.")
@click.option("--cooldown", type=float, help="Seconds a released wallet rests before reuse.")
@click.option("--max-size", type=int, help="Most wallets the pool may hold in service.")
@click.option("--max-uses", help="Retire a wallet after this many leases ('none': no limit).")
@click.option("--min-free", type=int, help="Low-water mark: alert when fewer wallets are free.")
@click.option("--network", help="How addresses are checked (btc, eth, tron, ...); only while "
                                "the pool holds no wallet.")
@click.option("--reserve", type=int, help="Wallets the database holds back for a Redis "
                                          "outage [default: min_free]; `rebalance` moves them.")
@click.option("--max-waiters", type=int, metavar="N",
              help="Orders that may wait for a wallet at once (0: none) [new pools: 100].")
@click.option("--max-wait", type=float, metavar="S",
              help="The longest an order waits, seconds (0: none waits) [new pools: 300].")
@click.option("--stream-cap", type=int, metavar="N",
              help="Most events the pool's stream keeps while no syncer has attached to it "
                   "[default: 1000].")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def configure(ctx: click.Context, pool_name: str, lease_ttl: float | None,
              cooldown: float | None, max_size: int | None, max_uses: str | None,
              min_free: int | None, network: str | None, reserve: int | None,
              max_waiters: int | None, max_wait: float | None, stream_cap: int | None,
              as_json: bool) -> None:
    """Create POOL or change its settings; options not given keep their value."""
    pool = pool_of(ctx)
    uses = _max_uses(max_uses)
    created = pool.configure(pool_name, lease_ttl=lease_ttl, cooldown=cooldown,
                             max_size=max_size, max_uses=uses, min_free=min_free,
                             network=network, reserve=reserve, max_waiters=max_waiters,
                             max_wait=max_wait, stream_cap=stream_cap)
    stats = pool.stats(pool_name)
    if as_json:
        emit({"pool": pool_name, "created": created, **asdict(stats)}, True, "")
        return
    click.echo(f"{pool_name} {'created' if created else 'updated'}: network={stats.network} "
               f"lease_ttl={stats.lease_ttl:g}s cooldown={stats.cooldown:g}s "
               f"max_size={stats.max_size} max_uses={stats.max_uses or 'none'} "
               f"min_free={stats.min_free} reserve={_reserve_text(pool, stats)} "
               f"max_waiters={stats.max_waiters} max_wait={stats.max_wait:g}s")


def _reserve_text(pool: WalletPool, stats: PoolStats) -> str:
    """The reserve as --json gives it (null: not set), and what that means here."""
    if stats.reserve_target is not None:
        return str(stats.reserve_target)
    if pool.settings.database_url is None:
        return "none (no database)"
    return f"{stats.min_free} (min_free: not set)"


# -- the database: schema, write-behind, restore ----------------------------------------

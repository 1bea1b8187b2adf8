"""The `walletpool` command: operate pools from a shell.

Exit codes: 0 ok, 1 refused by the pool (exhausted, lease lost, full), 2 bad input,
3 Redis or the database unavailable, 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

import click

from . import __version__, errors, validation
from .chains import network as chain_network
from .client import WalletPool
from .engine import wire
from .engine.operations import KEEP, Keep
from .importer import read_lines
from .keys import LAYOUT, v1_keys
from .logs import configure_logging
from .models import ImportReport, Lease, PoolStats, utc

if TYPE_CHECKING:  # SQLAlchemy loads only for the commands that use the database
    import sqlalchemy as sa

    from .reserve.rebalance import Rebalanced

EXIT_REFUSED, EXIT_BAD_INPUT, EXIT_UNAVAILABLE, EXIT_INTERRUPTED = 1, 2, 3, 130


def _exit_code(exc: errors.WalletPoolError) -> int:
    if isinstance(exc, errors.InvalidInput):
        return EXIT_BAD_INPUT
    if isinstance(exc, errors.BackendUnavailable):
        return EXIT_UNAVAILABLE
    return EXIT_REFUSED


@contextmanager
def _reported() -> Iterator[None]:
    """Turn walletpool errors into one line on stderr and the documented exit code; so
    too a Redis or a database that cannot be reached (from the steps that talk to them
    directly: restore, sync, reconcile), never a traceback."""
    try:
        yield
    except errors.WalletPoolError as exc:
        _fail(exc)
    except Exception as exc:
        translated = _store_error(exc)
        if translated is None:
            raise
        _fail(translated)


def _fail(exc: errors.WalletPoolError, ctx: click.Context | None = None) -> NoReturn:
    _end(type(exc).__name__, str(exc), _exit_code(exc), ctx)


def _end(error: str, message: str, code: int, ctx: click.Context | None = None) -> NoReturn:
    ctx = ctx or click.get_current_context(silent=True)
    if ctx is not None and ctx.params.get("as_json"):  # a script reads JSON, errors too
        click.echo(json.dumps({"error": error, "message": message, "exit_code": code}),
                   err=True)
    else:
        click.echo(f"error: {error}: {message}", err=True)
    sys.exit(code)


class _Command(click.Command):
    """A command that ends as the README's table says, whatever stops it: a walletpool
    error (or a raw Redis or database one) as one line and its exit code, Ctrl-C as 130
    (after what the command does on it, e.g. a waiting allocation withdraws)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            _end("Interrupted", "interrupted (Ctrl-C)", EXIT_INTERRUPTED, ctx)
        except errors.WalletPoolError as exc:
            _fail(exc, ctx)
        except Exception as exc:
            translated = _store_error(exc, ctx)
            if translated is None:
                raise
            _fail(translated, ctx)


class _Group(click.Group):
    command_class = _Command
    group_class = type  # a group's groups (db) are of this class too


def _store_error(exc: Exception, ctx: click.Context | None = None
                 ) -> errors.WalletPoolError | None:
    """A raw redis-py or SQLAlchemy error as the walletpool error it means, or None."""
    from redis import exceptions as rx

    from .validation import mask_url

    ctx = ctx or click.get_current_context(silent=True)
    if isinstance(exc, rx.RedisError):
        pool = ctx.obj.get("pool") if ctx is not None and ctx.obj else None
        return wire.translate(exc, mask_url(pool.settings.redis_url) if pool else "Redis")
    sa_exc = sys.modules.get("sqlalchemy.exc")  # loaded only by the database's commands
    if sa_exc is None or not isinstance(exc, sa_exc.DBAPIError):
        return None
    reason = (str(exc.orig).strip().splitlines() or [type(exc.orig).__name__])[0]
    engine = ctx.obj.get("engine") if ctx is not None and ctx.obj else None
    where = f" at {engine.url.render_as_string(hide_password=True)}" if engine else ""
    from .store.migrations import missing_schema

    if missing_schema(reason):
        return errors.WalletPoolError(f"the database{where} has no walletpool schema "
                                      f"({reason}): run `walletpool db upgrade`")
    if isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError)):
        return errors.BackendUnavailable(f"the database{where} is unavailable: {reason}")
    return None


def _json_only(ctx: click.Context) -> None:
    """Under a command's --json, stderr holds JSON alone: its log records too."""
    if ctx.params.get("as_json"):  # configured again, it replaces its own handler
        configure_logging(ctx.obj.get("log_level", "WARNING"), json_lines=True,
                          errors_shown=True)


def _pool(ctx: click.Context) -> WalletPool:
    _json_only(ctx)
    pool: WalletPool | None = ctx.obj.get("pool")
    if pool is None:
        with _reported():
            connection = dict(ctx.obj.get("connection", {}))
            pool = WalletPool.from_url(connection.pop("redis_url", None), **connection)
        ctx.obj["pool"] = pool
        ctx.call_on_close(pool.close)
    return pool


def _engine(ctx: click.Context, database_url: str | None, create: bool = False) -> sa.Engine:
    """The database of this command, disposed when the command ends."""
    from .store.engine import create_engine

    _json_only(ctx)
    engine = create_engine(database_url, create=create)
    ctx.call_on_close(engine.dispose)
    ctx.find_root().ensure_object(dict)["engine"] = engine  # named in its errors
    return engine


def _emit(value: object, as_json: bool, text: str) -> None:
    click.echo(json.dumps(value, indent=2, default=str) if as_json else text)


def _lease_text(lease: Lease, network: str | None = None, allocated: bool = True) -> str:
    """A lease on one line; an allocation that found the owner's live lease says so."""
    shown = _shown_address(lease.address, network)
    tag = f" tag={lease.tag}" if lease.tag is not None else ""
    held = " (already held)" if allocated and not lease.fresh else ""
    return (f"{shown}{tag}  owner={lease.owner} token={lease.token} "
            f"expires={utc(lease.expires_at)}{held}")


def _shown_address(address: str, network: str | None) -> str:
    """The form people copy (EIP-55 for Ethereum) of a stored address."""
    try:
        return chain_network(network).show(address) if network else address
    except LookupError:
        return address


def _remember(key: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    """Keep a connection option for _pool and _engine; given after the command too, that
    one wins (click parses the command's options after the group's)."""
    def remember(ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
        connection = ctx.ensure_object(dict).setdefault("connection", {})
        if value is not None:
            connection[key] = value
        return connection.get(key)
    return remember


CONNECTION: list[tuple[str, str, dict[str, Any]]] = [
    ("--redis-url", "redis_url", {
        "envvar": "REDIS_URL", "help": "Redis to use [default: redis://127.0.0.1:6379/0]."}),
    ("--prefix", "prefix", {"envvar": "WALLETPOOL_PREFIX", "help": "Key prefix [default: wp]."}),
    ("--replicas", "replicas", {
        "type": int, "help": "Replicas that must acknowledge each allocation, extension and "
                             "retirement [env WALLETPOOL_REPLICAS; default: 0]."}),
    ("--replica-timeout", "replica_timeout", {
        "type": float, "help": "Seconds to wait for them before NotReplicated "
                               "[env WALLETPOOL_REPLICA_TIMEOUT; default: 1]."}),
    ("--fsync/--no-fsync", "fsync", {
        "help": "Also wait for the AOF fsync (WAITAOF: Redis 7.2+, Valkey) "
                "[env WALLETPOOL_FSYNC]."}),
]
"""The options that say where Redis is and how a write counts: the group takes them
(`walletpool --redis-url URL stats`), and so does every command that talks to Redis
(`walletpool stats --redis-url URL`), hidden there to keep each command's help short."""

DATABASE_HELP = ("SQLAlchemy URL of the durable record [env WALLETPOOL_DATABASE_URL; "
                 "default: sqlite:///walletpool.db].")


def connected(command: Callable[..., Any]) -> Callable[..., Any]:
    """The connection options, after the command's name too (--database-url hidden where
    the command has no use of its own for it: the reserve's client takes it)."""
    own = {p.name for p in getattr(command, "__click_params__", [])}
    database = [] if "database_url" in own else [
        ("--database-url", "database_url", {"help": DATABASE_HELP})]
    for flag, key, settings in reversed([*CONNECTION, *database]):
        command = click.option(flag, key, default=None, expose_value=False, hidden=True,
                               callback=_remember(key),
                               **{k: v for k, v in settings.items() if k != "envvar"})(command)
    return command


def _group_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for flag, key, settings in reversed([*CONNECTION, ("--database-url", "database_url", {
            "envvar": "WALLETPOOL_DATABASE_URL",
            "help": "SQLAlchemy URL of the durable record [default: sqlite:///walletpool.db]."
            })]):
        command = click.option(flag, key, default=None, expose_value=False,
                               show_envvar="envvar" in settings, callback=_remember(key),
                               **settings)(command)
    return command


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="walletpool")
@_group_options
@click.option("--log-level", default="WARNING", show_default=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False))
@click.option("--json-logs", is_flag=True, help="Log records as JSON lines on stderr.")
@click.pass_context
def main(ctx: click.Context, log_level: str, json_logs: bool) -> None:
    """Fair, atomic pools of deposit wallets on Redis.

    The connection options (--redis-url, --prefix, --replicas, --replica-timeout,
    --fsync, --database-url) go before the command or after it."""
    configure_logging(log_level.upper(), json_lines=json_logs, errors_shown=True)
    ctx.ensure_object(dict).update(log_level=log_level.upper())


@main.command()
@connected
@click.option("--wide", is_flag=True, help="Every column (settings and counters too).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def pools(ctx: click.Context, wide: bool, as_json: bool) -> None:
    """List the pools with their counts."""
    pool = _pool(ctx)
    with _reported():
        stats = [pool.stats(name) for name in pool.pools()]
    if as_json:
        _emit([asdict(s) for s in stats], True, "")
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
    pool = _pool(ctx)
    with _reported():
        validation.pool_name(pool_name)
        lines = read_lines(source, getattr(source, "name", "the input"))
    with _reported(), _Progress(len(lines) >= 10_000) as progress:
        report = pool.import_wallets(pool_name, lines, dry_run=dry_run or strict,
                                     progress=progress)
        if strict and not dry_run and not report.rejected:
            report = pool.import_wallets(pool_name, lines, progress=progress)
    if as_json:
        shown = asdict(report)
        if strict and not dry_run and report.rejected:  # --strict refused it: nothing added
            shown.update(dry_run=False, added=0, would_add=report.added, strict=True)
        _emit(shown, True, "")
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
             priority: str, as_json: bool) -> None:
    """Lease the next free wallet of POOL to OWNER (the same one again if OWNER holds one).
    With --wait, an order that finds none free waits its turn (exit 1 when none came)."""
    pool = _pool(ctx)
    with _reported():
        lease = pool.allocate(pool_name, owner, ttl=ttl, correlation_id=correlation_id,
                              user_id=user_id, wait=wait, priority=priority)
        network = pool.stats(pool_name).network
    shown = {**asdict(lease), "shown_address": _shown_address(lease.address, network)}
    _emit(shown, as_json, _lease_text(lease, network))


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
    pool = _pool(ctx)
    with _reported():
        lease = _held(pool, pool_name, owner, token)
        state = pool.release(lease)
        network = pool.stats(pool_name).network
    shown = _shown_address(lease.address, network)
    _emit({**asdict(lease), "shown_address": shown, "now": state}, as_json,
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
    pool = _pool(ctx)
    with _reported():
        lease = pool.extend(_held(pool, pool_name, owner, token), ttl=ttl)
        network = pool.stats(pool_name).network
    _emit({**asdict(lease), "shown_address": _shown_address(lease.address, network)},
          as_json, _lease_text(lease, network, allocated=False))


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
    import time

    from .syncer import lag

    pool = _pool(ctx)
    while True:
        with _reported():
            stats = [pool.stats(name) for name in (pool_names or pool.pools())]
            lags = {s.pool: lag(pool.redis, pool.settings.prefix, s.pool) for s in stats}
        if as_json:
            _emit([{**asdict(s), "unsynced": lags[s.pool].unsynced,
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
    pool = _pool(ctx)
    with _reported():
        addresses = pool.peek(pool_name, count)
        network = pool.stats(pool_name).network
    shown = [_shown_address(a, network) for a in addresses]  # the form people copy
    _emit(shown, as_json, "\n".join(shown))


@main.command()
@connected
@click.argument("pool_names", nargs=-1, metavar="[POOL]...")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def reap(ctx: click.Context, pool_names: tuple[str, ...], as_json: bool) -> None:
    """Reclaim expired leases and return cooled wallets (all pools when none is named)."""
    pool = _pool(ctx)
    reaped: dict[str, int] = {}
    with _reported():
        for name in pool_names or pool.pools():
            reaped[name] = pool.reap(name)
            if not as_json:
                click.echo(f"{name}: {reaped[name]} expired lease(s) reclaimed")
    if as_json:
        _emit(reaped, True, "")


@main.command()
@connected
@click.argument("pool_names", nargs=-1, metavar="[POOL]...")
@click.option("--dry-run", is_flag=True, help="Say which pools need it; write nothing.")
@click.pass_context
def upgrade(ctx: click.Context, pool_names: tuple[str, ...], dry_run: bool) -> None:
    """Convert pools in layout 1 (as walletpool 0.1.0 wrote them) to layout 2 (all pools
    when none is named). Idempotent; run it again after an interruption."""
    pool = _pool(ctx)
    with _reported():
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
    pool = _pool(ctx)
    outcome: dict[str, str] = {}
    with _reported():
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
        _emit(outcome, True, "")
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
    pool = _pool(ctx)
    uses = _max_uses(max_uses)
    with _reported():
        created = pool.configure(pool_name, lease_ttl=lease_ttl, cooldown=cooldown,
                                 max_size=max_size, max_uses=uses, min_free=min_free,
                                 network=network, reserve=reserve, max_waiters=max_waiters,
                                 max_wait=max_wait, stream_cap=stream_cap)
        stats = pool.stats(pool_name)
    if as_json:
        _emit({"pool": pool_name, "created": created, **asdict(stats)}, True, "")
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

database_option = click.option(
    "--database-url", default=None, callback=_remember("database_url"), help=DATABASE_HELP)


@main.group()
def db() -> None:
    """The database schema."""


@db.command("upgrade")
@database_option
@click.pass_context
def db_upgrade(ctx: click.Context, database_url: str | None) -> None:
    """Create the schema or bring it to this version of walletpool."""
    from .store.migrations import LATEST
    from .store.migrations import upgrade as run_upgrade

    engine = _engine(ctx, database_url, create=True)
    with _reported():
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
    import signal

    from .store.migrations import check
    from .syncer import Syncer

    pool = _pool(ctx)
    engine = _engine(ctx, database_url)
    syncer = Syncer(pool.redis, engine, prefix=pool.settings.prefix,
                    consumer=consumer, batch_size=batch_size, block=block,
                    claim_idle=claim_idle, rebalance_every=rebalance_every or None,
                    settings=pool.settings)
    stopped_by: list[int] = []

    def stop(signum: int, _frame: object) -> None:
        stopped_by.append(signum)
        syncer.stop()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stop)
    rebalanced: list[Rebalanced] = []
    with _reported():
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
    if signal.SIGINT in stopped_by:  # Ctrl-C: 130 as any command; SIGTERM is a clean stop
        sys.exit(EXIT_INTERRUPTED)


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
    from .store.migrations import check

    pool = _pool(ctx)
    engine = _engine(ctx, database_url)
    with _reported():
        check(engine)
        from .reserve.rebalance import rebalance as run

        done = [pool._do(run(pool._ops, engine, name)) for name in (pool_names or pool.pools())]
    if as_json:
        _emit([asdict(d) for d in done], True, "")
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
    from .store.heal import heal as run
    from .store.migrations import check

    pool = _pool(ctx)
    engine = _engine(ctx, database_url)
    with _reported():
        check(engine)
        done = [pool._do(run(pool._ops, engine, name, arm=arm))
                for name in (pool_names or pool.pools())]
    if as_json:
        _emit([asdict(d) for d in done], True, "")
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
    from .store.restore import restore as run_restore
    from .store.restore import stored_pools

    pool = _pool(ctx)
    engine = _engine(ctx, database_url)
    with _reported():
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
    from .store.migrations import check
    from .store.repair import reconcile_structures
    from .store.restore import reconcile as run_reconcile
    from .store.restore import stored_pools

    pool = _pool(ctx)
    engine = _engine(ctx, database_url)
    differences, damage, left = [], [], []
    with _reported():
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
        _emit({"differences": [asdict(d) for d in differences],
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


@main.command()
@connected
@click.option("--port", type=click.IntRange(1, 65535), default=9465, show_default=True)
@click.option("--bind", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0: every interface).")
@click.option("--interval", type=click.FloatRange(0.1), default=5.0, show_default=True,
              help="Seconds between reads of Redis, however often Prometheus scrapes.")
@click.pass_context
def metrics(ctx: click.Context, port: int, bind: str, interval: float) -> None:
    """Serve Prometheus metrics of every pool at http://BIND:PORT/metrics until stopped
    (SIGTERM, SIGINT). Needs the metrics extra: pip install walletpool[metrics]."""
    import signal
    import threading

    try:
        from .metrics import serve
    except ImportError:
        click.echo("error: walletpool metrics needs prometheus_client: "
                   "pip install 'walletpool[metrics]'", err=True)
        sys.exit(EXIT_BAD_INPUT)
    pool = _pool(ctx)
    stop = threading.Event()
    stopped_by: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        stopped_by.append(signum)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    try:
        server, _ = serve(pool, port, bind, interval)
    except OSError as exc:
        click.echo(f"error: cannot listen on {bind}:{port}: {exc.strerror}", err=True)
        sys.exit(EXIT_REFUSED)
    click.echo(f"serving http://{bind}:{port}/metrics (Redis read every {interval:g} s)")
    stop.wait()
    server.shutdown()
    server.server_close()
    if signal.SIGINT in stopped_by:  # Ctrl-C: 130 as any command; SIGTERM is a clean stop
        sys.exit(EXIT_INTERRUPTED)


@main.command("acl")
@connected
@click.option("--syncer", is_flag=True, help="The syncer's user (it also reads the streams).")
@click.option("--user", default=None,
              help="The user's name [default: walletpool, or walletpool-syncer].")
@click.pass_context
def acl(ctx: click.Context, syncer: bool, user: str | None) -> None:
    """Print the ACL SETUSER line of a least-privilege user for this Redis: only the
    commands walletpool runs (its version decides FCALL and WAITAOF), only keys under
    the prefix. Put the password where it says PASSWORD."""
    from .acl import features, rules

    pool = _pool(ctx)
    with _reported():
        try:
            info = pool.redis.info("server")
        except Exception as exc:
            raise wire.translate(exc, pool._where) from exc
    name = user or ("walletpool-syncer" if syncer else "walletpool")
    allowed = rules(pool.settings.prefix, syncer=syncer, **features(info))
    click.echo(f"ACL SETUSER {name} on >PASSWORD {allowed}")


@main.command()
@connected
@click.option("--database-url", default=None, callback=_remember("database_url"),
              help="Also check this database (reachable, schema current) "
                   "[env WALLETPOOL_DATABASE_URL].")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def doctor(ctx: click.Context, database_url: str | None, as_json: bool) -> None:
    """Check Redis (version, AOF, eviction policy), each pool (its fence, its stream:
    capped or synced, the sync lag) and the database; exit 1 on any warning."""
    from .doctor import check_database, check_redis

    pool = _pool(ctx)
    with _reported():
        try:
            findings = check_redis(pool.redis, pool.settings.prefix,
                                   pool.settings.replicas, pool.settings.fsync,
                                   database=bool(database_url))
        except Exception as exc:
            raise wire.translate(exc, pool._where) from exc
    if database_url:
        findings += check_database(database_url)
    if as_json:
        _emit([asdict(f) for f in findings], True, "")
    else:
        for finding in findings:
            click.echo(str(finding))
    sys.exit(0 if all(f.level == "ok" for f in findings) else EXIT_REFUSED)


@main.command()
def quickstart() -> None:
    """Start a throwaway Redis, walk through the main operations, stop it again."""
    from .dev.quickstart import run

    sys.exit(run(click.echo))


@main.command()
@click.option("--seconds", type=click.FloatRange(1, 3600), default=15, show_default=True,
              help="How long the orders run.")
@click.option("--workers", type=click.IntRange(1, 256), default=48, show_default=True,
              help="Concurrent order flows.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("walletpool-demo"), show_default=True,
              help="Where the demo keeps Redis's AOF and the SQLite database.")
def demo(seconds: float, workers: int, data_dir: Path) -> None:
    """Run the main job end to end: pools of valid addresses, concurrent orders, the
    syncer and a reaper, then invariants, reconcile and a report (exit 0 = all sound).

    Starts its own Redis unless REDIS_URL is set, and uses SQLite unless
    WALLETPOOL_DATABASE_URL is set.
    """
    from .dev.demo import Options, run

    interactive = sys.stderr.isatty()

    def status(line: str) -> None:  # one refreshing line on a terminal, a log line elsewhere
        if interactive:
            click.echo("\r" + line.ljust(100), nl=False, err=True)
        elif line:
            click.echo(line, err=True)

    sys.exit(run(click.echo, status, Options(seconds=seconds, workers=workers,
                                             data_dir=data_dir)))


@main.command()
@click.option("--port", type=click.IntRange(1, 65535), default=6379, show_default=True)
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("walletpool-data"), show_default=True)
def up(port: int, data_dir: Path) -> None:
    """Start a local Redis (AOF on, data in DATA_DIR) that keeps running, to try the
    library from a Python shell; `walletpool down` stops it."""
    from .dev.redis_server import running, running_on, server_name
    from .dev.redis_server import up as start

    already = running(data_dir)
    here: tuple[Path, int, int | None] | None = (data_dir, *already) if already else None
    if here is None and (elsewhere := running_on(port)) is not None:  # up from another folder
        here = (*elsewhere, port)
    if here is not None:  # nothing to do: say where it is, as a first `up` would
        folder, pid, at = here
        url = f"redis://127.0.0.1:{at}/0" if at is not None else "(port not noted)"
        click.echo(f"a redis-server (pid {pid}) already runs at {url} (data in {folder})"
                   + (f"\nexport REDIS_URL={url}" if at is not None else ""))
        return
    try:
        server = start(data_dir, port)
    except (RuntimeError, FileNotFoundError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_REFUSED)
    click.echo(f"{server_name(server.binary)} is up at {server.url} "
               f"(data in {data_dir})\nexport REDIS_URL={server.url}")


@main.command()
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The folder `up` used [default: the server `up` started last].")
def down(data_dir: Path | None) -> None:
    """Stop the Redis `walletpool up` started (from any directory)."""
    from .dev.redis_server import down as stop

    stopped = stop(data_dir)
    if stopped is None:
        where = f"from {data_dir.resolve()}" if data_dir else "that `walletpool up` started"
        click.echo(f"no redis-server runs {where}")
        return
    folder, pid = stopped
    click.echo(f"stopped redis-server (pid {pid}, data in {folder})")


if __name__ == "__main__":  # pragma: no cover
    main()

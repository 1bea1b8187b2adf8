"""What every command shares: the group and its connection options, the command class that
ends each command as the documented exit codes say, the client and database of a command, and
the output helpers.

Exit codes: 0 ok, 1 refused by the pool (exhausted, lease lost, full), 2 bad input,
3 Redis or the database unavailable, 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

import click

from .. import __version__, errors
from ..chains import network as chain_network
from ..client import WalletPool
from ..engine import wire
from ..logs import configure_logging
from ..models import Lease, utc

if TYPE_CHECKING:  # SQLAlchemy loads only for the commands that use the database
    import sqlalchemy as sa


EXIT_REFUSED, EXIT_BAD_INPUT, EXIT_UNAVAILABLE, EXIT_INTERRUPTED = 1, 2, 3, 130


def _exit_code(exc: errors.WalletPoolError) -> int:
    if isinstance(exc, errors.InvalidInput):
        return EXIT_BAD_INPUT
    if isinstance(exc, errors.BackendUnavailable):
        return EXIT_UNAVAILABLE
    return EXIT_REFUSED


def fail(exc: errors.WalletPoolError, ctx: click.Context | None = None) -> NoReturn:
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
    """A command that ends as the documented exit codes say whatever stops it: a walletpool
    error (or a raw Redis or database one) as one line and its exit code, Ctrl-C as 130
    (after what the command does on it, e.g. a waiting allocation withdraws)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            _end("Interrupted", "interrupted (Ctrl-C)", EXIT_INTERRUPTED, ctx)
        except errors.WalletPoolError as exc:
            fail(exc, ctx)
        except Exception as exc:
            translated = _store_error(exc, ctx)
            if translated is None:
                raise
            fail(translated, ctx)


class _Group(click.Group):
    command_class = _Command
    group_class = type  # a group's groups (db) are of this class too


def _store_error(exc: Exception, ctx: click.Context) -> errors.WalletPoolError | None:
    """A raw redis-py or SQLAlchemy error (from the steps that talk to Redis or the
    database directly: restore, sync, reconcile) as the walletpool error it means, or
    None."""
    from redis import exceptions as rx

    obj = ctx.obj or {}
    if isinstance(exc, rx.RedisError):
        pool = obj.get("pool")
        return wire.translate(exc, pool._where if pool else "Redis")
    sa_exc = sys.modules.get("sqlalchemy.exc")  # loaded only by the database's commands
    if sa_exc is None or not isinstance(exc, sa_exc.DBAPIError):
        return None
    reason = (str(exc.orig).strip().splitlines() or [type(exc.orig).__name__])[0]
    engine = obj.get("engine")
    where = f" at {engine.url.render_as_string(hide_password=True)}" if engine else ""
    from ..store.migrations import missing_schema

    if missing_schema(reason):
        return errors.WalletPoolError(f"the database{where} has no walletpool schema "
                                      f"({reason}): run `walletpool db upgrade`")
    if isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError)):
        return errors.BackendUnavailable(f"the database{where} is unavailable: {reason}")
    return None


def json_only(ctx: click.Context) -> None:
    """Under a command's --json, stderr holds JSON alone: its log records too."""
    if ctx.params.get("as_json"):  # configured again, it replaces its own handler
        configure_logging(ctx.obj.get("log_level", "WARNING"), json_lines=True,
                          errors_shown=True)


def pool_of(ctx: click.Context) -> WalletPool:
    json_only(ctx)
    pool: WalletPool | None = ctx.obj.get("pool")
    if pool is None:
        connection = dict(ctx.obj.get("connection", {}))
        pool = WalletPool.from_url(connection.pop("redis_url", None), **connection)
        ctx.obj["pool"] = pool
        ctx.call_on_close(pool.close)
    return pool


def engine_of(ctx: click.Context, database_url: str | None, create: bool = False) -> sa.Engine:
    """The database of this command, disposed when the command ends."""
    from ..store.engine import create_engine

    json_only(ctx)
    engine = create_engine(database_url, create=create)
    ctx.call_on_close(engine.dispose)
    ctx.find_root().ensure_object(dict)["engine"] = engine  # named in its errors
    return engine


def emit(value: object, as_json: bool, text: str) -> None:
    click.echo(json.dumps(value, indent=2, default=str) if as_json else text)


def lease_text(lease: Lease, network: str | None = None, allocated: bool = True) -> str:
    """A lease on one line; an allocation that found the owner's live lease says so."""
    shown = shown_address(lease.address, network)
    tag = f" tag={lease.tag}" if lease.tag is not None else ""
    held = " (already held)" if allocated and not lease.fresh else ""
    return (f"{shown}{tag}  owner={lease.owner} token={lease.token} "
            f"expires={utc(lease.expires_at)}{held}")


def shown_address(address: str, network: str | None) -> str:
    """The form people copy (EIP-55 for Ethereum) of a stored address."""
    try:
        return chain_network(network).show(address) if network else address
    except LookupError:
        return address


def remember(key: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    """Keep a connection option for pool_of and engine_of; given after the command too,
    that one wins (click parses the command's options after the group's)."""
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

DATABASE: tuple[str, str, dict[str, Any]] = ("--database-url", "database_url", {
    "envvar": "WALLETPOOL_DATABASE_URL",
    "help": "SQLAlchemy URL of the durable record [default: sqlite:///walletpool.db]."})
DATABASE_HELP = ("SQLAlchemy URL of the durable record [env WALLETPOOL_DATABASE_URL; "
                 "default: sqlite:///walletpool.db].")
"""The help of a command's own --database-url (the environment is read by the group's)."""


def connected(command: Callable[..., Any]) -> Callable[..., Any]:
    """The connection options, after the command's name too (--database-url hidden where
    the command has no use of its own for it: the reserve's client takes it)."""
    own = {p.name for p in getattr(command, "__click_params__", [])}
    database = [] if "database_url" in own else [DATABASE]
    for flag, key, settings in reversed([*CONNECTION, *database]):
        command = click.option(flag, key, default=None, expose_value=False, hidden=True,
                               callback=remember(key),
                               **{k: v for k, v in settings.items() if k != "envvar"})(command)
    return command


def _group_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for flag, key, settings in reversed([*CONNECTION, DATABASE]):
        command = click.option(flag, key, default=None, expose_value=False,
                               show_envvar="envvar" in settings, callback=remember(key),
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


database_option = click.option(
    "--database-url", default=None, callback=remember("database_url"), help=DATABASE_HELP)


class Stopping:
    """A long-running command's stop (sync, metrics): SIGTERM or SIGINT calls `stop`,
    which ends the command cleanly; `exit()` afterwards ends it with 130 when it was
    Ctrl-C, as every command, and lets SIGTERM (a service manager's stop) end with 0."""

    def __init__(self, stop: Callable[[], object]) -> None:
        self.signals: list[int] = []

        def on_signal(signum: int, _frame: object) -> None:
            self.signals.append(signum)
            stop()

        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, on_signal)

    def exit(self) -> None:
        if signal.SIGINT in self.signals:
            sys.exit(EXIT_INTERRUPTED)

"""Running the servers: up, down, doctor, acl, metrics, quickstart, demo."""

from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path

import click

from .shared import (
    EXIT_BAD_INPUT,
    EXIT_REFUSED,
    Stopping,
    connected,
    emit,
    main,
    pool_of,
    remember,
)


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
    import threading

    try:
        from ..metrics import serve
    except ImportError:
        click.echo("error: walletpool metrics needs prometheus_client: "
                   "pip install 'walletpool[metrics]'", err=True)
        sys.exit(EXIT_BAD_INPUT)
    pool = pool_of(ctx)
    stop = threading.Event()
    stopping = Stopping(stop.set)
    try:
        server, _ = serve(pool, port, bind, interval)
    except OSError as exc:
        click.echo(f"error: cannot listen on {bind}:{port}: {exc.strerror}", err=True)
        sys.exit(EXIT_REFUSED)
    click.echo(f"serving http://{bind}:{port}/metrics (Redis read every {interval:g} s)")
    stop.wait()
    server.shutdown()
    server.server_close()
    stopping.exit()


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
    from ..acl import features, rules

    pool = pool_of(ctx)
    info = pool.redis.info("server")  # a raw Redis error ends as any command's (shared)
    name = user or ("walletpool-syncer" if syncer else "walletpool")
    allowed = rules(pool.settings.prefix, syncer=syncer, **features(info))
    click.echo(f"ACL SETUSER {name} on >PASSWORD {allowed}")


@main.command()
@connected
@click.option("--database-url", default=None, callback=remember("database_url"),
              help="Also check this database (reachable, schema current) "
                   "[env WALLETPOOL_DATABASE_URL].")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def doctor(ctx: click.Context, database_url: str | None, as_json: bool) -> None:
    """Check Redis (version, AOF, eviction policy), each pool (its fence, its stream:
    capped or synced, the sync lag) and the database; exit 1 on any warning."""
    from ..doctor import check_database, check_redis

    pool = pool_of(ctx)
    findings = check_redis(pool.redis, pool.settings.prefix, pool.settings.replicas,
                           pool.settings.fsync, database=bool(database_url))
    if database_url:
        findings += check_database(database_url)
    if as_json:
        emit([asdict(f) for f in findings], True, "")
    else:
        for finding in findings:
            click.echo(str(finding))
    sys.exit(0 if all(f.level == "ok" for f in findings) else EXIT_REFUSED)


@main.command()
def quickstart() -> None:
    """Start a throwaway Redis, walk through the main operations, stop it again."""
    from ..dev.quickstart import run

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
    from ..dev.demo import Options, run

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
    from ..dev.redis_server import running, running_on, server_name
    from ..dev.redis_server import up as start

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
    from ..dev.redis_server import down as stop

    stopped = stop(data_dir)
    if stopped is None:
        where = f"from {data_dir.resolve()}" if data_dir else "that `walletpool up` started"
        click.echo(f"no redis-server runs {where}")
        return
    folder, pid = stopped
    click.echo(f"stopped redis-server (pid {pid}, data in {folder})")

"""Redis clients built from settings: a `redis://`, `rediss://` or `unix://` URL, or a
`redis+sentinel://` one, where Sentinel names the primary of a service and the client
follows it across failovers. For the sync and asyncio clients alike (`redis_module` is
`redis` or `redis.asyncio`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote

import hiredis

from .errors import InvalidInput
from .settings import Settings, connection_options
from .validation import mask_url

SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")

hiredis_pack: Any = getattr(hiredis, "pack_command", None)
"""hiredis's packing of a whole command (hiredis 2.1 and later), or None."""
_PACKING: dict[Any, Any] = {}


@dataclass(frozen=True)
class SentinelAddress:
    """`redis+sentinel://[[user]:password@]host:port[,host:port...]/SERVICE[/DB]`; the
    user and password are the Redis servers' (and the sentinels' too, unless the query
    gives `sentinel_username` / `sentinel_password`)."""

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int
    username: str | None
    password: str | None
    sentinel_username: str | None
    sentinel_password: str | None
    tls: bool

    @classmethod
    def parse(cls, url: str) -> SentinelAddress:
        scheme, _, rest = url.partition("://")
        userinfo, _, rest = rest.rpartition("@") if "@" in rest.split("/", 1)[0] else ("", "", rest)
        rest, _, query = rest.partition("?")
        hosts, _, path = rest.partition("/")
        parts = [p for p in path.split("/") if p]
        if not hosts or not parts or len(parts) > 2:
            raise InvalidInput("a Sentinel URL is redis+sentinel://[[user]:password@]host:port"
                               "[,host:port...]/SERVICE[/DB]")
        sentinels = tuple(_host_port(h) for h in hosts.split(","))
        db = parts[1] if len(parts) == 2 else "0"
        if not db.isdigit():
            raise InvalidInput(f"the database of a Sentinel URL is a number, not {db!r}")
        user, _, password = userinfo.partition(":")
        options = dict(parse_qsl(query))
        unknown = set(options) - {"sentinel_username", "sentinel_password"}
        if unknown:
            raise InvalidInput(f"unknown option of a Sentinel URL: {', '.join(sorted(unknown))}")
        return cls(sentinels=sentinels, service=unquote(parts[0]), db=int(db),
                   username=unquote(user) or None, password=unquote(password) or None,
                   sentinel_username=options.get("sentinel_username"),
                   sentinel_password=options.get("sentinel_password"),
                   tls=scheme == "rediss+sentinel")


def _host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise InvalidInput(f"a sentinel is host:port, not {text!r}")
    return host.strip("[]"), int(port)


def _maint(options: dict[str, object]) -> dict[str, object]:
    key = "maint_notifications_config"
    return {key: options[key]} if key in options else {}


class _OneCallPacker:
    """Packs a command with one hiredis call, and what hiredis refuses (TypeError: None,
    a bool, ...) or a command name with a space (which redis-py splits) with redis-py's
    own packer, which gives redis-py's own errors."""

    __slots__ = ("_by_redis_py",)

    def __init__(self, by_redis_py: Any) -> None:
        self._by_redis_py = by_redis_py

    def pack(self, *args: Any) -> list[bytes]:
        if type(args[0]) is str and " " not in args[0]:
            try:
                return [hiredis_pack(args)]
            except TypeError:
                pass
        return self._by_redis_py.pack(*args)  # type: ignore[no-any-return]


def packing_in_one_call(connection_class: Any) -> Any:
    """`connection_class`, packing each command with one hiredis call. redis-py 8 encodes
    every argument in Python first, which costs a batch of coalesced calls (hundreds of
    arguments) more than the rest of its packing; hiredis encodes str, bytes, int and
    float byte for byte as redis-py does. Both redis-py clients send every command
    through the connection's packer (`_command_packer`; the sync `send_command` does not
    go by `pack_command`), so that is what is replaced, on each new connection."""
    if hiredis_pack is None:
        return connection_class
    packing = _PACKING.get(connection_class)
    if packing is None:
        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            connection_class.__init__(self, *args, **kwargs)
            if getattr(self, "_command_packer", None) is not None:
                self._command_packer = _OneCallPacker(self._command_packer)

        packing = _PACKING[connection_class] = type(
            connection_class.__name__, (connection_class,),
            {"__init__": __init__, "__module__": __name__})
    return packing


def _packing(client: Any) -> Any:
    """The client, its connections (made lazily, none yet) packing in one call."""
    connections = client.connection_pool
    connections.connection_class = packing_in_one_call(connections.connection_class)
    return client


def is_sentinel(url: str) -> bool:
    return url.split("://", 1)[0].lower() in SENTINEL_SCHEMES


def client_for(redis_module: Any, settings: Settings) -> tuple[Any, list[Any]]:
    """A client of `redis_module` that owns its connections (close() closes them), and
    the clients of the sentinels, for the caller to close after it."""
    options = connection_options(settings,
                                 asyncio=redis_module.__name__ == "redis.asyncio")
    if not is_sentinel(settings.redis_url):
        try:
            connections = redis_module.BlockingConnectionPool.from_url(
                settings.connection_url, **options)
        except ValueError as exc:  # redis-py's word on a URL it cannot read
            raise InvalidInput(
                f"bad Redis URL {mask_url(settings.redis_url)!r}: {str(exc).rstrip('.')}; "
                "e.g. redis://127.0.0.1:6379/0, rediss://..., unix:///path/redis.sock or "
                "redis+sentinel://host:26379/SERVICE") from None
        return _packing(redis_module.Redis.from_pool(connections)), []
    address = SentinelAddress.parse(settings.redis_url)
    sentinel_module = redis_module.sentinel
    auth = {"username": address.username, "password": address.password}
    sentinel_auth = {"username": address.sentinel_username or address.username,
                     "password": address.sentinel_password or address.password}
    timeouts = {k: options[k] for k in ("socket_timeout", "socket_connect_timeout")}
    tls: dict[str, object] = {}
    if address.tls:
        tls = {"ssl": True, **{k: v for k, v in options.items() if k.startswith("ssl_")}}
    # no retries of redis-py's own, for the sentinels either: walletpool decides (wire.py)
    sentinel = sentinel_module.Sentinel(
        list(address.sentinels),
        sentinel_kwargs={**timeouts, **sentinel_auth, **tls, "retry": options["retry"]},
        **timeouts, **tls)
    db = settings.redis_db if settings.redis_db is not None else address.db
    client = sentinel.master_for(address.service, db=db,
                                 max_connections=options["max_connections"],
                                 retry=options["retry"], **auth, **_maint(options))
    return _packing(client), list(sentinel.sentinels)

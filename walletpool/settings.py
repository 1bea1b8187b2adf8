"""Settings: explicit arguments first, then the environment, then defaults.

Environment names (all documented in docs/operations/settings.md):
  REDIS_URL                  Redis to use (default redis://127.0.0.1:6379/0)
  WALLET_QUEUE_REDIS_DB      database number, overriding the one in REDIS_URL
  WALLET_QUEUE_TTL           default lease TTL of new pools, seconds (default 900)
  WALLET_MAX_QUEUE_LENGTH    default max wallets of new pools (default 1000000)
  WALLETPOOL_PREFIX          key prefix (default wp)
  WALLETPOOL_SOCKET_TIMEOUT  seconds to wait for Redis before BackendUnavailable (default 5)
  WALLETPOOL_MAX_CONNECTIONS connections per client; callers beyond wait for one (default 64)
  WALLETPOOL_DATABASE_URL    the store (SQLAlchemy URL); a client given one falls back to
                             the database's reserve while Redis is unreachable
  ENABLE_REDIS_WALLET_QUEUES false: allocate from the database alone, never from Redis
                             (default true)
  WALLETPOOL_BREAKER_FAILURES  Redis failures in a row before calls stop trying it (3)
  WALLETPOOL_BREAKER_PROBE   seconds before a stopped client tries Redis again (2)
  WALLETPOOL_REPLICAS        replicas that must acknowledge each allocation and extension
                             before it counts (default 0: none)
  WALLETPOOL_REPLICA_TIMEOUT seconds to wait for them before NotReplicated (default 1)
  WALLETPOOL_FSYNC           true: also wait for the AOF fsync on the primary and on each
                             replica counted (WAITAOF: Redis 7.2+, Valkey; default false)
  WALLETPOOL_WAIT            seconds an allocation waits for a wallet when none is free
                             (default 0: it does not wait, PoolExhausted at once)
  WALLETPOOL_MAX_WAITERS     orders that may wait at once in a new pool (default 100)
  WALLETPOOL_MAX_WAIT        the longest an order waits in a new pool, seconds (default 300)
  WALLETPOOL_TLS_CA          for rediss:// URLs: the CA file that signed the server's
                             certificate (default: the system's CAs)
  WALLETPOOL_TLS_CERT        for rediss:// URLs: a client certificate (with _TLS_KEY)
  WALLETPOOL_TLS_KEY         its private key
  WALLETPOOL_COALESCE        true: concurrent calls of one kind on one pool go as one batch;
                             false: each goes alone (default: AsyncWalletPool coalesces,
                             WalletPool sends each call alone, the faster for threads)
  WALLETPOOL_MAX_BATCH       the most calls one batch carries (default 100)
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import TypedDict
from urllib.parse import urlsplit, urlunsplit

from . import validation
from .errors import InvalidInput
from .validation import mask_url

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
PREFIX_RE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


class SettingsKeywords(TypedDict, total=False):
    """The Settings a client's `from_url(**settings)` takes as keywords (its URL and prefix
    are parameters of their own). Typed, so that mypy and editors catch a misspelt one
    (`max_conections=`), not the first run."""

    redis_db: int | None
    lease_ttl: float
    max_size: int
    socket_timeout: float
    max_connections: int
    database_url: str | None
    redis_queues: bool
    breaker_failures: int
    breaker_probe: float
    replicas: int | None
    replica_timeout: float | None
    fsync: bool | None
    wait: float
    max_waiters: int
    max_wait: float
    tls_ca: str | None
    tls_cert: str | None
    tls_key: str | None
    coalesce: bool | None
    max_batch: int


@dataclass(frozen=True)
class Settings:
    redis_url: str = DEFAULT_REDIS_URL
    redis_db: int | None = None
    lease_ttl: float = 900.0
    max_size: int = 1_000_000
    prefix: str = "wp"
    socket_timeout: float = 5.0
    max_connections: int = 64
    database_url: str | None = None
    redis_queues: bool = True
    breaker_failures: int = 3
    breaker_probe: float = 2.0
    replicas: int = 0
    replica_timeout: float = 1.0
    fsync: bool = False
    wait: float = 0.0
    max_waiters: int = 100
    max_wait: float = 300.0
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    coalesce: bool | None = None
    """None: the client's default (AsyncWalletPool coalesces, WalletPool does not)."""
    max_batch: int = 100

    def __post_init__(self) -> None:
        if PREFIX_RE.fullmatch(self.prefix) is None:
            raise InvalidInput(
                f"invalid key prefix {self.prefix!r}: use 1-64 of A-Z a-z 0-9 _ . : -")
        validation.seconds("lease_ttl", self.lease_ttl)
        validation.count("max_size", self.max_size, low=1, high=10**9)
        validation.seconds("socket_timeout", self.socket_timeout, maximum=3600)
        validation.count("max_connections", self.max_connections, low=1, high=100_000)
        validation.count("breaker_failures", self.breaker_failures, low=1, high=10_000)
        validation.seconds("breaker_probe", self.breaker_probe, maximum=3600)
        validation.count("replicas", self.replicas, low=0, high=100)
        validation.seconds("replica_timeout", self.replica_timeout, maximum=3600)
        validation.seconds("wait", self.wait, allow_zero=True)
        validation.count("max_waiters", self.max_waiters, low=0, high=validation.MAX_WAITERS)
        validation.seconds("max_wait", self.max_wait, allow_zero=True)
        if (self.tls_cert is None) != (self.tls_key is None):
            raise InvalidInput("a client certificate needs its key: set both tls_cert and "
                               "tls_key (WALLETPOOL_TLS_CERT, WALLETPOOL_TLS_KEY)")
        validation.count("max_batch", self.max_batch, low=1, high=1000)
        if self.coalesce is not None and not isinstance(self.coalesce, bool):
            raise InvalidInput(f"coalesce must be true or false, not {self.coalesce!r}")
        if not isinstance(self.fsync, bool):
            raise InvalidInput(f"fsync must be true or false, not {self.fsync!r}")
        if self.database_url:  # refused here, not at the first fallback to it
            from .store.engine import parse

            parse(self.database_url)
        if not self.redis_queues and not self.database_url:
            raise InvalidInput("ENABLE_REDIS_WALLET_QUEUES=false needs a database: set "
                               "WALLETPOOL_DATABASE_URL (or pass database_url)")
        if self.redis_db is not None:
            validation.count("redis_db", self.redis_db, low=0, high=10_000)

    def __repr__(self) -> str:
        """Every field, the URLs with their passwords masked: settings end up in logs."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        for name in ("redis_url", "database_url"):
            if values[name]:
                values[name] = mask_url(values[name])
        return f"Settings({', '.join(f'{k}={v!r}' for k, v in values.items())})"

    __str__ = __repr__

    @property
    def connection_url(self) -> str:
        """`redis_url` with `redis_db`, when set, in place of the URL's own database
        (redis-py would let the URL's win over a `db` option)."""
        if self.redis_db is None or "+sentinel://" in self.redis_url:  # see walletpool.connect
            return self.redis_url
        parts = urlsplit(self.redis_url)
        if parts.scheme == "unix":
            query = [q for q in parts.query.split("&") if q and not q.startswith("db=")]
            return f"{self.redis_url.split('?', 1)[0]}?{'&'.join([*query, f'db={self.redis_db}'])}"
        return urlunsplit(parts._replace(path=f"/{self.redis_db}"))

    @property
    def lease_ttl_ms(self) -> int:
        return round(self.lease_ttl * 1000)

    @property
    def max_wait_ms(self) -> int:
        return round(self.max_wait * 1000)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Build settings from `env` (default: os.environ); non-None overrides win."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for name, (field_name, parse) in _FROM_ENV.items():
            if name in env:
                values[field_name] = parse(env, name)
        if env.get("WALLETPOOL_DATABASE_URL"):
            values["database_url"] = env["WALLETPOOL_DATABASE_URL"]
        for name in ("tls_ca", "tls_cert", "tls_key"):
            if env.get(f"WALLETPOOL_{name.upper()}"):
                values[name] = env[f"WALLETPOOL_{name.upper()}"]
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]


def connection_options(settings: Settings, *, asyncio: bool = False) -> dict[str, object]:
    """Options for redis-py's BlockingConnectionPool.from_url, sync or async: callers wait
    up to socket_timeout for a free connection, and redis-py retries nothing, so that
    walletpool alone decides which calls are safe to send twice. The retry object is of
    the client's own kind (redis-py 8.2+ warns when a sync one reaches an asyncio client)."""
    from redis.backoff import NoBackoff

    if asyncio:
        from redis.asyncio.retry import Retry as AsyncRetry

        retry: object = AsyncRetry(NoBackoff(), 0)
    else:
        from redis.retry import Retry

        retry = Retry(NoBackoff(), 0)
    options: dict[str, object] = {
        "socket_timeout": settings.socket_timeout,
        "socket_connect_timeout": settings.socket_timeout,
        "max_connections": settings.max_connections,
        "timeout": settings.socket_timeout,
        "retry": retry,
    }
    if settings.redis_url.lower().startswith("rediss"):  # rediss:// and rediss+sentinel://
        tls = {"ssl_ca_certs": settings.tls_ca, "ssl_certfile": settings.tls_cert,
               "ssl_keyfile": settings.tls_key}
        options.update({k: v for k, v in tls.items() if v is not None})
    try:  # redis-py 6.4+: with maintenance notifications left on "auto", its pools hand
        # out a connection the server closed while idle, unchecked (asyncio above all)
        from redis.maint_notifications import MaintNotificationsConfig
    except ImportError:
        return options
    options["maint_notifications_config"] = MaintNotificationsConfig(enabled=False)
    return options


def _number(env: Mapping[str, str], name: str, kind: type[int] | type[float]) -> int | float:
    try:
        return kind(env[name])
    except ValueError:
        raise InvalidInput(f"environment variable {name}={env[name]!r} is not a number") from None


def _text(env: Mapping[str, str], name: str) -> str:
    return env[name]


def _int(env: Mapping[str, str], name: str) -> int | float:
    return _number(env, name, int)


def _float(env: Mapping[str, str], name: str) -> int | float:
    return _number(env, name, float)


def _flag(env: Mapping[str, str], name: str) -> bool:
    value = env[name].strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise InvalidInput(f"environment variable {name}={env[name]!r} is not true or false")


_FROM_ENV: dict[str, tuple[str, Callable[[Mapping[str, str], str], object]]] = {
    "REDIS_URL": ("redis_url", _text),
    "WALLET_QUEUE_REDIS_DB": ("redis_db", _int),
    "WALLET_QUEUE_TTL": ("lease_ttl", _float),
    "WALLET_MAX_QUEUE_LENGTH": ("max_size", _int),
    "WALLETPOOL_PREFIX": ("prefix", _text),
    "WALLETPOOL_SOCKET_TIMEOUT": ("socket_timeout", _float),
    "WALLETPOOL_MAX_CONNECTIONS": ("max_connections", _int),
    "ENABLE_REDIS_WALLET_QUEUES": ("redis_queues", _flag),
    "WALLETPOOL_BREAKER_FAILURES": ("breaker_failures", _int),
    "WALLETPOOL_BREAKER_PROBE": ("breaker_probe", _float),
    "WALLETPOOL_REPLICAS": ("replicas", _int),
    "WALLETPOOL_REPLICA_TIMEOUT": ("replica_timeout", _float),
    "WALLETPOOL_FSYNC": ("fsync", _flag),
    "WALLETPOOL_WAIT": ("wait", _float),
    "WALLETPOOL_MAX_WAITERS": ("max_waiters", _int),
    "WALLETPOOL_MAX_WAIT": ("max_wait", _float),
    "WALLETPOOL_COALESCE": ("coalesce", _flag),
    "WALLETPOOL_MAX_BATCH": ("max_batch", _int),
}
"""Environment name -> (Settings field, how its text is read), for Settings.from_env
(the database URL and the TLS files count only when not empty: read apart)."""


"""The wire side shared by the sync and async clients: a call as EVALSHA or EVAL
arguments, which failures may be retried, and redis-py's exceptions as walletpool's
errors. No I/O."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import redis
import redis.asyncio
from redis import exceptions as rx

from ..errors import (
    BackendUnavailable,
    InvalidInput,
    LayoutOutdated,
    NotReplicated,
    PoolFenced,
    WalletPoolError,
)
from .calls import Call
from .scripts import library

SyncRedis = redis.Redis | redis.RedisCluster
"""A synchronous redis-py client: one server (or Sentinel's master) or a Cluster."""
AsyncRedis = redis.asyncio.Redis | redis.asyncio.RedisCluster

UNREACHABLE = (rx.ConnectionError, rx.TimeoutError, rx.ReadOnlyError, rx.ClusterDownError,
               rx.TryAgainError)


REFUSALS = ("NOREPLICAS", "MASTERDOWN")


def refused_write(exc: BaseException) -> bool:
    """Whether the server refused a call before running it because it takes no writes
    now: a primary without the replicas min-replicas-to-write asks for (a demoted one
    above all: its replicas left it for the new primary), a replica cut off its
    primary. Sending the call again is safe; a client that follows Sentinel sends it to
    the primary Sentinel names now (WalletPool._send_once)."""
    return isinstance(exc, rx.ResponseError) and any(w in str(exc) for w in REFUSALS)


def primary_lookup(client: object) -> Callable[[], Any] | None:
    """A Sentinel-managed client's question 'which server is the primary now?' (redis-py's
    get_master_address, a coroutine for an asyncio client; asking also drops idle
    connections to a primary Sentinel no longer names). None for any other client."""
    return getattr(getattr(client, "connection_pool", None), "get_master_address", None)


class Attempt:
    def __init__(self, last: bool) -> None:
        self.last = last

    def again(self, exc: BaseException) -> bool:
        """Whether to send the call once more after `exc`: only a broken connection,
        and only when another attempt is left."""
        return not self.last and isinstance(exc, (rx.ConnectionError, rx.TimeoutError))


def attempts(call: Call[Any]) -> list[tuple[Attempt, Call[Any]]]:
    """What to send, in turn, while a connection breaks: an idempotent call twice (the
    first may have run with its reply lost; running again is harmless), a call with a
    `resend` once and then its resend (which resolves whether the first applied), any
    other call once."""
    if call.idempotent:
        return [(Attempt(False), call), (Attempt(True), call)]
    if call.resend is not None:
        return [(Attempt(False), call), (Attempt(True), call.resend)]
    return [(Attempt(True), call)]


class Durability:
    """What a durable write (Call.durable) waits for before it counts: `replicas`
    replicas acknowledging it (WAIT), and with `fsync` the primary's own AOF fsync and
    that of each replica counted (WAITAOF, Redis 7.2+ and Valkey). The wait goes in the
    same round trip as the script, so it costs the replicas' lag, not another trip."""

    def __init__(self, replicas: int, timeout: float, fsync: bool) -> None:
        self.replicas = replicas
        self.timeout = timeout
        self.fsync = fsync

    def applies(self, call: Call[Any]) -> bool:
        return call.durable and (self.replicas > 0 or self.fsync)

    def wait_args(self) -> tuple[str | int, ...]:
        timeout_ms = max(1, round(self.timeout * 1000))
        if self.fsync:
            return ("WAITAOF", 1, self.replicas, timeout_ms)
        return ("WAIT", self.replicas, timeout_ms)

    def acknowledged(self, reply: Any) -> int:
        """How many replicas the wait's reply counts (-1: the primary's own fsync is
        missing)."""
        if isinstance(reply, rx.ResponseError):  # never taken for the script's own error
            raise InvalidInput(f"the server refused {self.wait_args()[0]}: {reply}" + (
                " (fsync=True needs WAITAOF: Redis 7.2+ or Valkey, with appendonly yes)"
                if self.fsync else ""))
        if isinstance(reply, BaseException):
            raise reply
        if self.fsync:
            local, replicas = (int(x) for x in reply)
            return int(replicas) if local >= 1 else -1
        return int(reply)

    @staticmethod
    def fewest(replies: list[Any]) -> Any:
        """Of the wait's replies from several Cluster nodes, the one that counts the
        fewest acknowledgements (a WAITAOF reply: the smaller of its two counts)."""
        return min(replies, key=lambda r: r if isinstance(r, int) else min(r))

    def confirmed(self, acknowledged: int) -> bool:
        return acknowledged >= self.replicas

    def refusal(self, call: Call[Any], acknowledged: int, undone: bool) -> NotReplicated:
        return NotReplicated.of(pool=pool_of_keys(call.keys), operation=call.script.name,
                                wanted=self.replicas, acknowledged=max(0, acknowledged),
                                timeout=self.timeout, undone=undone)


class Functions:
    """Whether a client calls the scripts as Redis Functions (FCALL of the library that
    engine/scripts.py builds): on Redis 7 and Valkey the helpers are then defined once,
    when the library loads, not on every call. Unknown until the first call tells: a
    server without FUNCTION (Redis 6.2), or a user the ACL does not let load one,
    turns them off for good, and the client uses EVALSHA. A Cluster client never uses
    them (a library would have to be loaded on every node, again after each change)."""

    def __init__(self, allowed: bool) -> None:
        self.on = allowed

    def after(self, exc: BaseException) -> str:
        """What a failed FCALL means: 'load' (the server lacks this version's library:
        load it, call again), 'off' (no Functions here: use EVALSHA), or 'raise'."""
        message = str(exc)
        if not isinstance(exc, rx.ResponseError) or isinstance(exc, rx.NoScriptError):
            return "raise"
        if "Function not found" in message:
            return "load"
        if "unknown command" in message or "NOPERM" in message:
            self.on = False
            return "off"
        return "raise"

    def refused_load(self, exc: BaseException) -> bool:
        """Whether FUNCTION LOAD failed for want of permission or support (then: EVALSHA
        from now on); any other failure is the caller's to raise."""
        if isinstance(exc, rx.ResponseError) and any(
                s in str(exc) for s in ("NOPERM", "unknown command", "unknown subcommand")):
            self.on = False
            return True
        return False


def fcall_args(call: Call[Any]) -> tuple[Any, ...]:
    return ("FCALL", library().function(call.script.name), len(call.keys), *call.keys,
            *call.args)


def load_args() -> tuple[Any, ...]:
    return ("FUNCTION", "LOAD", "REPLACE", library().source)


def evalsha_args(call: Call[Any]) -> tuple[Any, ...]:
    return ("EVALSHA", call.script.sha, len(call.keys), *call.keys, *call.args)


def eval_args(call: Call[Any]) -> tuple[Any, ...]:
    """EVAL runs the script and caches it on the node, so later EVALSHAs find it again."""
    return ("EVAL", call.script.source, len(call.keys), *call.keys, *call.args)


def noscript_positions(replies: list[Any]) -> list[int]:
    """Where a pipeline's replies say NOSCRIPT (the scripts were flushed): those calls
    go again with their source."""
    return [i for i, reply in enumerate(replies) if isinstance(reply, rx.NoScriptError)]


def fill(replies: list[Any], positions: list[int], again: list[Any]) -> None:
    for i, reply in zip(positions, again, strict=True):
        replies[i] = reply


def translate(exc: BaseException, where: str, call: Call[Any] | None = None) -> WalletPoolError:
    """A redis-py exception as the walletpool error a caller can act on."""
    if isinstance(exc, WalletPoolError):
        return exc
    misconfigured = _misconfigured(exc, where)
    if misconfigured is not None:
        return misconfigured
    if isinstance(exc, UNREACHABLE):
        doubt = ""
        if call is not None and not call.idempotent:
            doubt = (f" The {call.script.name} may or may not have been applied;"
                     " check with get_lease.")
        reason = _plain(str(exc)).rstrip(".") or type(exc).__name__
        return BackendUnavailable(f"Redis at {where} is unavailable: {reason}.{doubt}")
    if refused_write(exc):
        message = str(exc)
        said = message[min(message.find(w) for w in REFUSALS if w in message):]
        return BackendUnavailable(f"Redis at {where} refuses writes now: {said}")
    if isinstance(exc, rx.ResponseError) and "walletpool-layout:" in str(exc):
        return _outdated(str(exc), call)
    if isinstance(exc, rx.ResponseError) and "walletpool-fenced:" in str(exc):
        return PoolFenced.of(pool_of_keys(call.keys) if call else "?",
                             call.script.name if call else "?")
    if isinstance(exc, rx.ResponseError) and "walletpool:" in str(exc):
        reason = str(exc).split("walletpool:", 1)[1].strip()
        if call is None:
            return InvalidInput(reason)
        return InvalidInput(f"pool {pool_of_keys(call.keys)} refused the "
                            f"{call.script.name.replace('_', ' ')}: {reason}")
    if isinstance(exc, rx.ResponseError) and call is not None:
        return WalletPoolError(f"the {call.script.name} script failed on Redis at {where}: "
                               f"{call.script.explain(library().explain(str(exc)))}")
    if isinstance(exc, rx.RedisError):
        return WalletPoolError(f"Redis at {where} failed: {exc}")
    raise exc


NOT_A_SENTINEL = re.compile(r"unknown command [`']SENTINEL[`']", re.IGNORECASE)  # 7 / 6.2
AUTH_REFUSED = ("invalid username-password pair", "NOAUTH", "HELLO must be called with the "
                "client already authenticated", "WRONGPASS")


def _misconfigured(exc: BaseException, where: str) -> InvalidInput | None:
    """Errors that no wait cures, since the URL names the wrong thing: bad input (exit 2),
    never BackendUnavailable (a client would fall back to its reserve and hide them)."""
    message = _plain(str(exc))
    if isinstance(exc, rx.ResponseError) and "DB index is out of range" in message:
        return InvalidInput(f"Redis at {where} has no such database (DB index is out of "
                            "range): the URL's /N, or redis_db, must be below the server's "
                            "`databases` setting (16 unless changed)")
    if isinstance(exc, rx.ConnectionError) and NOT_A_SENTINEL.search(message):
        return InvalidInput(f"{where} names a Redis, not a Sentinel ({message.rstrip(' .')}): "
                            "give the Sentinels' addresses (port 26379 by default), or a "
                            "redis:// URL for the Redis itself")
    if isinstance(exc, rx.InvalidResponse):  # e.g. 'Protocol error, got "<"': an HTTP port
        return InvalidInput(f"{where} does not answer as a Redis does ({message}): is the "
                            "URL's port a Redis's?")
    if isinstance(exc, (rx.AuthenticationError, rx.ResponseError, rx.ConnectionError)) and any(
            w in message for w in AUTH_REFUSED):
        return InvalidInput(f"Redis at {where} refused the credentials ({message.rstrip('.')}):"
                            " give the password in the URL, redis://:PASSWORD@HOST:6379/0, or "
                            "an ACL user's, redis://USER:PASSWORD@HOST:6379/0")
    return None


def _plain(message: str) -> str:
    """An error's text without the client reprs redis-py puts in some of them (a Sentinel
    that found no primary names every connection's settings)."""
    while (start := message.find("<redis.")) >= 0:
        depth, end = 0, start
        for end in range(start, len(message)):
            depth += {"<": 1, ">": -1}.get(message[end], 0)
            if depth == 0:
                break
        message = message[:start].rstrip(" :") + message[end + 1:]
    return message


def _outdated(message: str, call: Call[Any] | None) -> LayoutOutdated:
    """A script's refusal of a pool in an older layout (includes/layout.lua)."""
    layout = int(message.split("walletpool-layout:", 1)[1].split()[0])
    return LayoutOutdated.of(pool_of_keys(call.keys) if call else "?",
                             call.script.name if call else "?", layout)


def pool_of_keys(keys: tuple[str, ...]) -> str:
    """The pool named by the hash tag of a pool's first key ('wp:{BTC}:conf')."""
    first = keys[0] if keys else ""
    return first[first.find("{") + 1 : first.find("}")] if "{" in first else "?"


def where(client: SyncRedis | AsyncRedis) -> str:
    """A printable location of the client's server, never with its password."""
    pool = getattr(client, "connection_pool", None)  # a Cluster has one per node
    if pool is None:
        return type(client).__name__
    service = getattr(pool, "service_name", None)
    if service is not None:  # a Sentinel's primary: name the service and its sentinels
        sentinels = getattr(getattr(pool, "sentinel_manager", None), "sentinels", [])
        hosts = ",".join(where(s).split("://", 1)[-1].rsplit("/", 1)[0] for s in sentinels)
        return f"redis+sentinel://{hosts}/{service}/{pool.connection_kwargs.get('db', 0)}"
    try:
        kwargs = pool.connection_kwargs
        if "path" in kwargs:
            return f"unix://{kwargs['path']}"
        return f"redis://{kwargs.get('host', '?')}:{kwargs.get('port', '?')}/{kwargs.get('db', 0)}"
    except AttributeError:
        return type(client).__name__


def decode_all(calls: list[Call[Any]], replies: list[Any], where_: str) -> list[object]:
    """Pipeline results in order: a decoded value or the WalletPoolError of that call."""
    results: list[object] = []
    for call, reply in zip(calls, replies, strict=False):
        try:
            if isinstance(reply, BaseException):
                raise translate(reply, where_, call)
            results.append(call.decode(reply))
        except WalletPoolError as exc:
            results.append(exc)
    return results

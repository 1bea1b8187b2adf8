"""Connections a client keeps between its script calls. A script call through
redis-py's `execute_command` takes a connection from the pool and gives it back each
time, and with coalescing a batch is one such call, so that checkout cost the clients
as much as the rest of sending a batch: per call, 20 µs of a sync client's 55 and 24 of
an asyncio client's 104 (measured on a no-op script). A client keeps a few of the
pool's connections instead and sends each script call on one of them, checked as the
pool checks one it hands out (connected, nothing unread: a connection the server
closed while it sat idle is made again before a call is sent on it).

A connection an error leaves in doubt (broken, timed out, interrupted) is closed and
goes back to the pool, and so is every other one kept until then, as it comes back:
what broke one (a restart, a failover, a proxy) broke them all, and a call sent again
must not meet the next broken one. An error reply leaves a connection as good as
before. After Sentinel names a new primary (`forget`), the connections kept from
before go the same way, as redis-py drops its idle ones to the old primary. Not for
Cluster clients or a client with one connection of its own: those send through
`execute_command`."""

from __future__ import annotations

import asyncio
import inspect
import select
import sys
from typing import Any

from redis.exceptions import ConnectionError, ResponseError, TimeoutError

if sys.version_info >= (3, 11):
    from asyncio import timeout as _within
else:  # what redis-py itself uses on 3.10
    from async_timeout import timeout as _within  # type: ignore[import-not-found,unused-ignore]

KEEP = 4
"""The most idle connections a client keeps; more go back to the pool."""


def _checkout_args(pool: Any) -> tuple[str, ...]:
    """What the pool's get_connection takes: redis-py 5 requires a command name, later
    versions take none and warn when given one."""
    name = inspect.signature(pool.get_connection).parameters.get("command_name")
    return ("FCALL",) if name is not None and name.default is inspect.Parameter.empty else ()


def keeps_connections(client: Any) -> bool:
    """Whether script calls on `client` can go on kept connections."""
    return getattr(client, "connection", None) is None and hasattr(client, "connection_pool")


class _Kept:
    """What both clients' kept connections share: the pool, the idle connections (each
    with the era it was taken in), and what becomes of one that comes back whole."""

    def __init__(self, client: Any) -> None:
        self._pool = client.connection_pool
        self._args = _checkout_args(self._pool)
        self._idle: list[tuple[Any, int]] = []
        self._era = 0

    def _fate(self, era: int) -> str:
        """'discard' (taken before a forget), 'keep', or 'release' (enough kept)."""
        if era != self._era:
            return "discard"
        return "keep" if len(self._idle) < KEEP else "release"


class KeptConnections(_Kept):
    """A sync client's kept connections; `execute(*args)` sends one command on one."""

    def __init__(self, client: Any) -> None:
        super().__init__(client)
        self._ensure = getattr(self._pool, "ensure_connection", None)  # redis-py 5.1+

    def execute(self, *args: Any) -> Any:
        conn, era = self._idle.pop() if self._idle else (
            self._pool.get_connection(*self._args), self._era)
        try:
            self._ready(conn)
            conn.send_command(*args)
            reply = conn.read_response()
        except ResponseError:
            self._put(conn, era)
            raise
        except BaseException:
            self._discard(conn)
            self.forget()
            raise
        self._put(conn, era)
        return reply

    def forget(self) -> None:
        """Close every connection kept until now (a new primary was named)."""
        self._era += 1
        while self._idle:
            self._discard(self._idle.pop()[0])

    def close(self) -> None:
        while self._idle:
            self._pool.release(self._idle.pop()[0])

    def _ready(self, conn: Any) -> None:
        if self._ensure is not None:
            self._ensure(conn)
            return
        conn.connect()  # redis-py 5.0: what its get_connection checks
        if conn.can_read():
            conn.disconnect()
            conn.connect()

    def _put(self, conn: Any, era: int) -> None:
        fate = self._fate(era)
        if fate == "keep":
            self._idle.append((conn, era))
        elif fate == "release":
            self._pool.release(conn)
        else:
            self._discard(conn)

    def _discard(self, conn: Any) -> None:
        try:
            conn.disconnect()
        finally:
            self._pool.release(conn)


def _closed_meanwhile(conn: Any) -> bool:
    """Whether the server closed (or wrote on) a kept asyncio connection since the event
    loop last looked at it: its socket is readable. One poll instead of a turn of the
    loop, which a call that cannot simply be sent again (a release) would otherwise
    take first, so that the close is seen before the call goes."""
    writer = getattr(conn, "_writer", None)
    sock = writer.transport.get_extra_info("socket") if writer is not None else None
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):  # closed under it
        return True
    return bool(readable)


async def _send(conn: Any, args: tuple[Any, ...]) -> None:
    """Write a command on a connected asyncio connection. redis-py's send_command runs
    each write in asyncio.wait_for, which makes a task and takes a turn of the loop per
    command; the write and its drain, within the socket timeout, are all it does. Its
    errors are redis-py's, as send_command raises them."""
    write = getattr(conn, "_send_packed_command", None)
    if write is None:
        await conn.send_command(*args)
        return
    packed = conn.pack_command(*args)
    try:
        if conn.socket_timeout:
            async with _within(conn.socket_timeout):
                await write(packed)
        else:
            await write(packed)
    except asyncio.TimeoutError:
        raise TimeoutError("Timeout writing to socket") from None
    except OSError as exc:
        raise ConnectionError(f"Error while writing to socket: {exc}") from exc


class AsyncKeptConnections(_Kept):
    """An asyncio client's kept connections: as KeptConnections, awaited."""

    async def execute(self, *args: Any) -> Any:
        conn, era = self._idle.pop() if self._idle else (
            await self._pool.get_connection(*self._args), self._era)
        try:
            if _closed_meanwhile(conn):
                await conn.disconnect()  # made again by ensure_connection
            await self._pool.ensure_connection(conn)
            await _send(conn, args)
            reply = await conn.read_response()
        except ResponseError:
            await self._put(conn, era)
            raise
        except BaseException:
            await self._discard(conn)
            await self.forget()
            raise
        await self._put(conn, era)
        return reply

    async def forget(self) -> None:
        self._era += 1
        while self._idle:
            await self._discard(self._idle.pop()[0])

    async def close(self) -> None:
        while self._idle:
            await self._pool.release(self._idle.pop()[0])

    async def _put(self, conn: Any, era: int) -> None:
        fate = self._fate(era)
        if fate == "keep":
            self._idle.append((conn, era))
        elif fate == "release":
            await self._pool.release(conn)
        else:
            await self._discard(conn)

    async def _discard(self, conn: Any) -> None:
        try:
            await conn.disconnect()
        finally:
            await self._pool.release(conn)

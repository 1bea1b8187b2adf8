"""Redis URLs: the redis+sentinel:// form is parsed into sentinels, service, database
and credentials, and a malformed one is refused with what the form is."""

from __future__ import annotations

from typing import Any

import pytest

from walletpool import InvalidInput, WalletPool
from walletpool.connect import SentinelAddress, is_sentinel


def test_a_sentinel_url_names_sentinels_service_database_and_credentials() -> None:
    address = SentinelAddress.parse(
        "redis+sentinel://app:p%40ss@10.0.0.1:26379,[::1]:26380,s3:26381/wallets/2"
        "?sentinel_password=other")
    assert address.sentinels == (("10.0.0.1", 26379), ("::1", 26380), ("s3", 26381))
    assert (address.service, address.db) == ("wallets", 2)
    assert (address.username, address.password) == ("app", "p@ss")
    assert (address.sentinel_username, address.sentinel_password) == (None, "other")
    assert not address.tls and SentinelAddress.parse("rediss+sentinel://h:1/s").tls
    plain = SentinelAddress.parse("redis+sentinel://h:26379/mymaster")
    assert (plain.db, plain.username, plain.password) == (0, None, None)
    assert SentinelAddress.parse("redis+sentinel://:pw@h:1/s").password == "pw"
    assert is_sentinel("redis+sentinel://h:1/s") and not is_sentinel("redis://h:1/0")


@pytest.mark.parametrize("url, complaint", [
    ("redis+sentinel://h:26379", "SERVICE"),
    ("redis+sentinel:///mymaster", "SERVICE"),
    ("redis+sentinel://h/mymaster", "host:port"),
    ("redis+sentinel://h:1/s/x", "number"),
    ("redis+sentinel://h:1/s/0/extra", "SERVICE"),
    ("redis+sentinel://h:1/s?ssl=1", "unknown option"),
])
def test_a_malformed_sentinel_url_is_refused(url: str, complaint: str) -> None:
    with pytest.raises(InvalidInput, match=complaint):
        WalletPool.from_url(url)


PACKED_ARGS: list[tuple[object, ...]] = [
    ("EVALSHA", "f" * 40, 2, "wp:{BTC}:conf", "wp:{BTC}:free", "owner-1", 1.5, 10**15, -3,
     b"\x00raw", "é-tag", 10**30, 0.1, 1e20),
    ("SET", "k", ""), ("PING",)]


@pytest.mark.parametrize("module", ["redis", "redis.asyncio"])
def test_a_clients_connections_pack_in_one_call_byte_for_byte(module: str) -> None:
    """hiredis packs a command as redis-py does, every argument type walletpool sends
    included; what hiredis refuses (None, a bool) and a command name with a space (which
    redis-py splits) go redis-py's way, with its own errors."""
    import importlib

    import redis

    from walletpool import AsyncWalletPool, connect

    client_class: Any = WalletPool if module == "redis" else AsyncWalletPool
    pool = client_class.from_url("redis://127.0.0.1:6379/0")  # connects lazily: no server
    connection_class = pool.redis.connection_pool.connection_class
    plain_class = importlib.import_module(module).Connection
    if connect.hiredis_pack is None:  # hiredis 2.0 (the range's lowest end): redis-py packs
        assert connection_class is plain_class
        return
    assert connection_class is not plain_class
    packing: Any = connection_class()
    assert type(packing._command_packer) is connect._OneCallPacker
    plain: Any = plain_class()
    for args in PACKED_ARGS:
        assert packing.pack_command(*args) == [b"".join(plain.pack_command(*args))]
    assert b"".join(packing.pack_command("CONFIG GET", "maxmemory")) == \
        b"".join(plain.pack_command("CONFIG GET", "maxmemory"))  # split, as redis-py does
    for refused in (None, True):
        with pytest.raises(redis.DataError):
            packing.pack_command("SET", "k", refused)


def test_every_command_a_client_sends_is_packed_in_one_call(
        pool: WalletPool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both clients send every command by the one-call packer, the sync client's
    send_command (which does not go by pack_command) included."""
    from walletpool import connect
    from walletpool.testing import sample_addresses

    if connect.hiredis_pack is None:  # hiredis 2.0: redis-py packs every command
        def never(self: Any, *args: Any) -> list[bytes]:
            raise AssertionError("the one-call packer is in use without hiredis's")

        monkeypatch.setattr(connect._OneCallPacker, "pack", never)
        pool.configure("BTC", lease_ttl=60)
        pool.add("BTC", sample_addresses("btc", 2))
        assert pool.release(pool.allocate("BTC", "order-1")) == "free"
        return
    packed: list[bytes] = []

    def counting(args: tuple[Any, ...]) -> bytes:
        packed.append(str(args[0]).encode())
        return connect.hiredis_pack.__wrapped__(args)  # type: ignore[no-any-return]

    counting.__wrapped__ = connect.hiredis_pack  # type: ignore[attr-defined]
    monkeypatch.setattr(connect, "hiredis_pack", counting)
    pool.configure("BTC", lease_ttl=60)
    pool.add("BTC", sample_addresses("btc", 2))
    pool.release(pool.allocate("BTC", "order-1"))
    assert packed.count(b"EVALSHA") + packed.count(b"FCALL") >= 4, packed

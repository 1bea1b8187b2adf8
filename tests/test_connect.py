"""Redis URLs: the redis+sentinel:// form is parsed into sentinels, service, database
and credentials, and a malformed one is refused with what the form is."""

from __future__ import annotations

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

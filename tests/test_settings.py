"""Settings from the environment and from arguments."""

from __future__ import annotations

import redis

from walletpool import Settings, WalletPool
from walletpool.dev.redis_server import RedisServer


def test_the_redis_db_setting_overrides_the_database_the_url_names(
        redis_server: RedisServer, redis_client: redis.Redis) -> None:
    """WALLET_QUEUE_REDIS_DB (or redis_db=) wins over the URL's /0, as documented."""
    with WalletPool.from_url(redis_server.url, redis_db=3) as pool:
        pool.configure("COIN")  # a plain pool, made on purpose
        pool.add("COIN", ["a0"])
    third = redis.Redis(port=redis_server.port, db=3)
    try:
        assert third.exists("wp:{COIN}:conf") == 1
        assert redis_client.exists("wp:{COIN}:conf") == 0  # db 0: untouched
    finally:
        third.flushdb()
        third.close()


def test_the_environment_variable_selects_the_database_too() -> None:
    settings = Settings.from_env({"REDIS_URL": "redis://:pw@cache:6380/0",
                                  "WALLET_QUEUE_REDIS_DB": "1"})
    assert settings.connection_url == "redis://:pw@cache:6380/1"
    assert Settings.from_env({"REDIS_URL": "unix:///run/redis.sock?db=0",
                              "WALLET_QUEUE_REDIS_DB": "2"}
                             ).connection_url == "unix:///run/redis.sock?db=2"
    assert Settings.from_env({"REDIS_URL": "redis://cache/4"}).connection_url == \
        "redis://cache/4"

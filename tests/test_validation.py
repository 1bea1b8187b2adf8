"""Bad input is refused with a clear error before any key is built or written."""

from __future__ import annotations

import pytest
import redis

from walletpool import (
    InvalidAddress,
    InvalidInput,
    InvalidPool,
    Lease,
    LeaseLost,
    Settings,
    WalletPool,
    chains,
)
from walletpool.validation import mask_url

GOOD_POOLS = ["BTC", "ETH", "LTC", "USDT-TRC20", "USDT-ERC20", "AB", "A2345678901B-NET"]
BAD_POOLS = ["", "B", "btc", "BTC-", "-TRC20", "BTC_X", "BTC-TRC20-X", "{BTC}", "BTC*", "B:TC",
             "../BTC", "BTC\n", "ÜSDT", "A" * 13, None, 42]


@pytest.mark.parametrize("name", BAD_POOLS)
def test_a_bad_pool_name_raises_invalid_pool_and_writes_nothing(
        pool: WalletPool, redis_client: redis.Redis, name: object) -> None:
    for call in (lambda: pool.allocate(name, "o1"), lambda: pool.add(name, ["a"]),  # type: ignore[arg-type]
                 lambda: pool.configure(name, lease_ttl=5), lambda: pool.stats(name)):  # type: ignore[arg-type]
        with pytest.raises(InvalidPool, match="invalid pool name"):
            call()
    assert redis_client.dbsize() == 0


@pytest.mark.parametrize("name", GOOD_POOLS)
def test_good_pool_names_are_accepted(pool: WalletPool, name: str) -> None:
    network = chains.default_network(name)
    if network == "plain":  # no name implies it: made on purpose
        pool.configure(name)
    assert pool.add(name, chains.sample_addresses(network, 1)).added == 1
    assert pool.stats(name).network == network


@pytest.mark.parametrize("address", ["", "a b", "a\nb", "a*", "{a}", "é", "a/b", "x" * 129, 5])
def test_a_bad_address_raises_invalid_address(btc: WalletPool, address: object) -> None:
    with pytest.raises(InvalidAddress):
        btc.add("COIN", [address])  # type: ignore[list-item]
    with pytest.raises(InvalidAddress):
        btc.retire("COIN", address)  # type: ignore[arg-type]


def test_one_string_instead_of_a_list_is_refused(btc: WalletPool) -> None:
    with pytest.raises(InvalidAddress, match="not one string"):
        btc.add("COIN", "bc1qabc")


@pytest.mark.parametrize("owner", ["", " ", "a b", "line\nbreak", "ü", "x" * 129, None, 7])
def test_a_bad_owner_is_refused(btc: WalletPool, owner: object) -> None:
    with pytest.raises(InvalidInput, match="invalid owner"):
        btc.allocate("COIN", owner)  # type: ignore[arg-type]
    assert btc.stats("COIN").leased == 0


@pytest.mark.parametrize("owner", ["order-1", "{tag}", "a:b", "../x", "*", "x" * 128])
def test_owners_may_use_any_printable_ascii(btc: WalletPool, owner: str) -> None:
    assert btc.allocate("COIN", owner).owner == owner


@pytest.mark.parametrize("ttl", [0, -1, float("nan"), float("inf"), 10**12, True, "60"])
def test_a_bad_ttl_is_refused(btc: WalletPool, ttl: object) -> None:
    with pytest.raises(InvalidInput):
        btc.allocate("COIN", "o1", ttl=ttl)  # type: ignore[arg-type]
    assert btc.stats("COIN").leased == 0


def test_a_lease_from_another_pool_cannot_release_here(btc: WalletPool) -> None:
    lease = btc.allocate("COIN", "o1")
    foreign = Lease(**{**lease.__dict__, "pool": "ETH"})
    with pytest.raises(LeaseLost):
        btc.release(foreign)
    assert btc.get_lease("COIN", "o1") is not None


def test_release_refuses_what_is_not_a_lease(btc: WalletPool) -> None:
    with pytest.raises(InvalidInput, match="expected a Lease"):
        btc.release({"address": "a0"})  # type: ignore[arg-type]


def test_the_scripts_refuse_bad_arguments_from_any_client(btc: WalletPool,
                                                          redis_client: redis.Redis) -> None:
    from walletpool.engine.scripts import script
    from walletpool.keys import pool_keys

    allocate = script("allocate")
    keys = pool_keys("wp", "COIN")
    with pytest.raises(redis.ResponseError, match="walletpool: bad ttl"):
        redis_client.eval(allocate.source, len(keys), *keys, "o1", "-5", "", "")
    with pytest.raises(redis.ResponseError, match="walletpool: bad owner"):
        redis_client.eval(allocate.source, len(keys), *keys, "a b", "0", "", "")
    assert btc.stats("COIN").leased == 0


def test_settings_come_from_the_environment_and_arguments_win() -> None:
    env = {"REDIS_URL": "redis://db:6380/0", "WALLET_QUEUE_REDIS_DB": "3",
           "WALLET_QUEUE_TTL": "120", "WALLET_MAX_QUEUE_LENGTH": "500",
           "WALLETPOOL_PREFIX": "shop"}
    s = Settings.from_env(env)
    assert (s.redis_url, s.redis_db, s.lease_ttl, s.max_size, s.prefix) == (
        "redis://db:6380/0", 3, 120.0, 500, "shop")
    assert Settings.from_env(env, lease_ttl=30.0, prefix="x").lease_ttl == 30.0
    with pytest.raises(InvalidInput, match="WALLET_QUEUE_TTL"):
        Settings.from_env({"WALLET_QUEUE_TTL": "soon"})
    with pytest.raises(InvalidInput, match="prefix"):
        Settings(prefix="a{b}")


def test_mask_url_hides_the_password() -> None:
    assert mask_url("redis://user:s3cret@host:6379/0") == "redis://user:***@host:6379/0"
    assert mask_url("redis://:s3cret@host/1") == "redis://:***@host/1"
    assert mask_url("redis://host:6379/0") == "redis://host:6379/0"

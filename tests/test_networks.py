"""Pools check addresses for their network, keep an address to one pool of a chain
family, and hand out (address, tag) pairs in tag pools."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from walletpool import (
    AddressTaken,
    InvalidAddress,
    InvalidInput,
    PoolFull,
    PoolNotFound,
    WalletPool,
    chains,
    register_network,
)
from walletpool.chains import evm, sample_addresses
from walletpool.store.apply import Event

ETH = ["0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"]


def test_a_checksum_typo_refuses_the_whole_add(pool: WalletPool) -> None:
    good = sample_addresses("btc", 3)
    typo = good[1][:-1] + ("q" if good[1][-1] != "q" else "p")
    with pytest.raises(InvalidAddress, match=r"wrong checksum.*\(item 2\)"):
        pool.add("BTC", [good[0], typo, good[2]])
    with pytest.raises(PoolNotFound):  # nothing was written, not even the pool
        pool.stats("BTC")


def test_addresses_are_stored_in_canonical_form(pool: WalletPool) -> None:
    segwit = "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4"
    assert pool.add("BTC", [segwit, segwit.lower()]).duplicates == 1
    assert pool.peek("BTC") == [segwit.lower()]
    result = pool.add("ETH", [ETH[0], ETH[0].lower(), ETH[1].upper().replace("0X", "0x")])
    assert (result.added, result.duplicates) == (2, 1)
    stored = pool.peek("ETH")
    assert stored == [a.lower() for a in ETH]
    assert [evm.checksummed(a) for a in stored] == ETH  # shown checksummed


def test_base58_is_never_case_folded(pool: WalletPool) -> None:
    address = sample_addresses("tron", 1)[0]
    pool.add("USDT-TRC20", [address])
    assert pool.peek("USDT-TRC20") == [address]
    with pytest.raises(InvalidAddress, match=r"checksum|alphabet"):
        pool.add("USDT-TRC20", ["T" + address[1:].swapcase()])


def test_one_address_serves_one_pool_of_a_family(pool: WalletPool) -> None:
    pool.add("ETH", ETH[:1])
    with pytest.raises(AddressTaken, match="already belongs to pool ETH") as caught:
        pool.add("USDT-ERC20", [ETH[1], ETH[0].lower()])
    assert (caught.value.other_pool, caught.value.family) == ("ETH", "eth")
    with pytest.raises(PoolNotFound):
        pool.stats("USDT-ERC20")
    assert pool.add("USDT-ERC20", ETH[1:]).added == 1
    assert pool.add("USDT-BEP20", ETH).added == 2  # another chain, another family
    assert pool.add("ETH", ETH[:1]).duplicates == 1  # its own pool may name it again


def test_a_retired_address_still_belongs_to_its_pool(pool: WalletPool) -> None:
    pool.add("ETH", ETH[:1])
    assert pool.retire("ETH", ETH[0].lower())
    with pytest.raises(AddressTaken):
        pool.add("USDT-ERC20", ETH[:1])


def test_concurrent_claims_cannot_both_win(pool: WalletPool, redis_client: redis.Redis) -> None:
    from walletpool.engine.intake import _claim
    from walletpool.keys import family_key

    first = pool._do(_claim(pool._ops, "ETH", "eth", "claim", [ETH[0].lower(), "0xab"]))
    second = pool._do(_claim(pool._ops, "USDT-ERC20", "eth", "claim",
                               ["0xcd", ETH[0].lower()]))
    assert first.taken == {} and first.new == [ETH[0].lower(), "0xab"]
    assert second.taken == {ETH[0].lower(): "ETH"} and second.new == []
    # all or nothing: the loser claimed none of its addresses
    assert redis_client.hgetall(family_key("wp", "eth")) == {ETH[0].lower(): "ETH",
                                                            "0xab": "ETH"}


def test_a_refused_add_leaves_no_claim_behind(pool: WalletPool,
                                              redis_client: redis.Redis) -> None:
    """PoolFull, a conflict in a later chunk of the family, or any refusal after the
    claim: the addresses go back to the family, so another pool of it may take them."""
    from walletpool.keys import family_key

    family = family_key("wp", "eth")
    pool.configure("ETH", max_size=1)
    with pytest.raises(PoolFull):
        pool.add("ETH", ETH)
    assert redis_client.hgetall(family) == {}
    assert pool.add("USDT-ERC20", ETH).added == 2  # nothing left claimed for ETH
    # an address the refused add did not claim first keeps its claim
    pool.configure("USDT-ERC20", max_size=2)
    with pytest.raises(PoolFull):
        pool.add("USDT-ERC20", [ETH[0], "0x" + "cd" * 20])
    assert redis_client.hgetall(family) == {ETH[0].lower(): "USDT-ERC20",
                                            ETH[1].lower(): "USDT-ERC20"}


def test_an_add_refused_in_a_later_chunk_takes_back_the_earlier_chunks_claims(
        pool: WalletPool, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    from walletpool.engine import intake
    from walletpool.keys import family_key

    monkeypatch.setattr(intake, "CHUNK", 2)
    pool.add("USDT-ERC20", ["0x" + "ee" * 20])
    wallets = ["0x" + f"{i:02x}" * 20 for i in range(1, 6)] + ["0x" + "ee" * 20]
    # the write step alone, as when another pool claims between add's check and its claim
    with pytest.raises(AddressTaken):
        pool._do(intake.write(pool._ops, "ETH", chains.network("eth"), None, wallets, None))
    assert redis_client.hgetall(family_key("wp", "eth")) == {"0x" + "ee" * 20: "USDT-ERC20"}


def test_the_network_is_fixed_once_the_pool_holds_wallets(pool: WalletPool) -> None:
    assert pool.configure("DEPO", network="eth")
    assert pool.stats("DEPO").network == "eth"
    pool.configure("DEPO", network="tron")  # still empty: allowed
    pool.add("DEPO", sample_addresses("tron", 2))
    with pytest.raises(InvalidInput, match="cannot become eth"):
        pool.configure("DEPO", network="eth")
    with pytest.raises(InvalidInput, match="unknown network 'nope'"):
        pool.configure("DEPO", network="nope")
    with pytest.raises(InvalidAddress):
        pool.add("DEPO", ETH)


def test_a_network_changed_under_an_add_is_refused_by_the_script(pool: WalletPool) -> None:
    from walletpool.engine.calls import Call, identity
    from walletpool.engine.scripts import script

    pool.configure("DEPO", network="tron")
    call = Call(script("add"), pool._ops.keys("DEPO"),
                (*pool._ops.defaults("DEPO", "eth"), ETH[0].lower()), identity, True)
    assert [x.decode() for x in pool._do(call)] == ["network", "tron"]
    assert pool.stats("DEPO").total == 0


def test_a_registered_validator_checks_its_pools(pool: WalletPool) -> None:
    def doge(address: str) -> str:
        if not address.startswith("D") or len(address) != 34:
            raise ValueError("is not a 34-character address starting with D")
        return address

    register_network("doge-test", doge, replace=True)
    pool.configure("DOGE", network="doge-test")
    with pytest.raises(InvalidAddress, match="starting with D"):
        pool.add("DOGE", ["x" * 34])
    assert pool.add("DOGE", ["D" + "a" * 33]).added == 1
    with pytest.raises(ValueError, match="already registered"):
        register_network("doge-test", doge)


def test_other_pools_keep_the_engine_rule(pool: WalletPool) -> None:
    pool.configure("COIN")  # a plain pool, made on purpose
    assert pool.add("COIN", ["a1", "b:2.c_d-e"]).added == 2
    assert pool.stats("COIN").network == "plain"
    with pytest.raises(InvalidAddress):
        pool.add("COIN", ["a#1"])  # '#' marks a tag, and COIN is no tag pool


# -- tag pools ----------------------------------------------------------------------------

HOT = "rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh"


def test_a_tag_pool_hands_out_address_and_tag_in_fifo_order(pool: WalletPool) -> None:
    result = pool.add("XRP", [(HOT, "1"), (HOT, "2"), (HOT, "0002"), (HOT + "x", "1")])
    assert (result.added, result.duplicates) == (3, 1)  # '0002' is tag 2
    first = pool.allocate("XRP", "order-1")
    assert (first.address, first.tag, first.wallet) == (HOT, "1", f"{HOT}#1")
    second = pool.allocate("XRP", "order-2")
    assert (second.address, second.tag) == (HOT, "2")
    assert pool.release(first) == "free"
    assert pool.extend(second, ttl=30).tag == "2"
    assert [pool.allocate("XRP", o).wallet for o in ("order-3", "order-4")] == \
        [f"{HOT}x#1", f"{HOT}#1"]  # the released pair went to the tail
    assert pool.retire("XRP", HOT, tag="2")
    assert pool.stats("XRP").retired == 1


def test_a_tag_pool_needs_tags_and_checks_them(pool: WalletPool) -> None:
    with pytest.raises(InvalidAddress, match="needs a tag"):
        pool.add("XRP", [HOT])
    with pytest.raises(InvalidAddress, match="whole number"):
        pool.add("XRP", [(HOT, "memo")])
    assert pool.add("TON", [("EQabc-_123", "any-memo.1")]).added == 1
    assert pool.allocate("TON", "o").tag == "any-memo.1"


def test_tags_travel_in_events_and_through_the_lost_lease_error(pool: WalletPool,
                                                               redis_client: redis.Redis) -> None:
    pool.add("XRP", [(HOT, "7")])
    lease = pool.allocate("XRP", "o1")
    pool.release(lease)
    entries: Any = redis_client.xrange("wp:{XRP}:events")
    events = [e for i, f in entries for e in Event.of_entry("XRP", i, f)]
    assert [e.address for e in events[1:]] == [f"{HOT}#7"] * 3
    with pytest.raises(Exception, match=f"lease of {HOT}#7"):
        pool.release(lease)

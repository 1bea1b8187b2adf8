"""Address validation against the official vectors (BIP-173, BIP-350, EIP-55) and the
rules of each built-in network."""

from __future__ import annotations

import hashlib

import pytest
from Crypto.Hash import keccak

from tests import chain_vectors as v
from walletpool.chains import base58check, bech32, evm, network, sample_addresses
from walletpool.chains.networks import BTC_VERSIONS, bitcoin_like, default_network, family_of
from walletpool.chains.wallets import canonical


def _flip_after_separator(text: str) -> str:
    at = text.rfind("1") + 1
    return text[:at] + chr(ord(text[at]) ^ 1) + text[at + 1:]


@pytest.mark.parametrize("encoding, valid", [(bech32.Encoding.BECH32, v.VALID_BECH32),
                                              (bech32.Encoding.BECH32M, v.VALID_BECH32M)])
def test_official_valid_checksums_decode_with_their_encoding(
        encoding: bech32.Encoding, valid: list[str]) -> None:
    for text in valid:
        assert bech32.decode(text)[2] is encoding, text
        with pytest.raises(ValueError):  # one flipped data character breaks it
            bech32.decode(_flip_after_separator(text))


@pytest.mark.parametrize("encoding, invalid", [(bech32.Encoding.BECH32, v.INVALID_BECH32),
                                                (bech32.Encoding.BECH32M, v.INVALID_BECH32M)])
def test_official_invalid_checksums_are_refused(encoding: bech32.Encoding,
                                                 invalid: list[str]) -> None:
    for text in invalid:
        try:
            found = bech32.decode(text)[2]
        except ValueError:
            continue
        assert found is not encoding, text


@pytest.mark.parametrize("address, script", v.VALID_SEGWIT)
def test_official_valid_segwit_addresses_decode_to_their_script(address: str,
                                                                 script: str) -> None:
    hrp = "bc" if address.lower().startswith("bc") else "tb"
    version, program = bech32.decode_segwit(hrp, address)
    assert bytes([version + 0x50 if version else 0, len(program)]) + program == \
        bytes.fromhex(script)
    assert bech32.encode_segwit(hrp, version, program) == address.lower()


@pytest.mark.parametrize("address", v.INVALID_SEGWIT)
def test_official_invalid_segwit_addresses_are_refused(address: str) -> None:
    for hrp in ("bc", "tb"):
        with pytest.raises(ValueError):
            bech32.decode_segwit(hrp, address)


@pytest.mark.parametrize("hrp, version, length", v.INVALID_SEGWIT_ENCODE)
def test_no_segwit_address_is_made_from_invalid_parts(hrp: str, version: int,
                                                      length: int) -> None:
    with pytest.raises(ValueError):
        bech32.encode_segwit(hrp, version, bytes(length))


def test_keccak_is_the_original_not_sha3() -> None:
    empty = "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    assert keccak.new(data=b"", digest_bits=256).hexdigest() == empty
    assert hashlib.sha3_256(b"").hexdigest() != empty


def test_eip55_vectors() -> None:
    for address in v.EIP55_ALL_CAPS + v.EIP55_ALL_LOWER + v.EIP55_NORMAL:
        assert evm.canonical(address) == address.lower()
    for address in v.EIP55_ALL_CAPS + v.EIP55_NORMAL:
        assert evm.checksummed(address.lower()) == address
    for address in v.EIP55_NORMAL:
        for i in range(2, 42):  # any one letter in the wrong case breaks the checksum
            if address[i].isalpha():
                typo = address[:i] + address[i].swapcase() + address[i + 1:]
                with pytest.raises(ValueError, match="EIP-55"):
                    evm.canonical(typo)


@pytest.mark.parametrize("bad", ["5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0x5aAeb605",
                                 "0X5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED",
                                 "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAedff",
                                 "0xgaAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"])
def test_eth_refuses_malformed(bad: str) -> None:
    with pytest.raises(ValueError):
        network("eth").validate(bad)


BTC_GOOD = {
    "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa": "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
    "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4": "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
    "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0":
        "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
}


def test_btc_accepts_and_canonicalises() -> None:
    for typed, stored in BTC_GOOD.items():
        assert network("btc").validate(typed) == stored
    p2sh = base58check.encode(b"\x05" + bytes(range(20)))
    assert p2sh.startswith("3") and network("btc").validate(p2sh) == p2sh


@pytest.mark.parametrize("bad, reason", [
    ("1a1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "checksum"),  # base58 is case-sensitive
    ("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb", "checksum"),
    ("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfN0", "alphabet"),
    ("tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7", "another network"),
    ("bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs", "refused"),  # witness v2
    ("BC1SW50QGDZ25J", "refused"),  # witness v16
    ("bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kt5nd6y", "Taproot"),
    ("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t", "version"),
])
def test_btc_refuses_with_a_reason(bad: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        network("btc").validate(bad)


def test_future_witness_versions_need_an_explicit_network() -> None:
    lenient = bitcoin_like("bc", BTC_VERSIONS, max_witness_version=16)
    for address, _ in v.VALID_SEGWIT:
        if address.lower().startswith("bc"):
            assert lenient(address) == address.lower()


def test_btc_testnet() -> None:
    testnet = network("btc-testnet").validate
    assert testnet("tb1pqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesf3hn0c")
    with pytest.raises(ValueError):
        testnet("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4")


def test_ltc_versions_and_hrp() -> None:
    ltc = network("ltc").validate
    program = bytes(range(20))
    for version, first in ((48, "L"), (50, "M"), (5, "3")):
        address = base58check.encode(bytes([version]) + program)
        assert address[0] == first and ltc(address) == address
    segwit = bech32.encode_segwit("ltc", 0, program)
    assert ltc(segwit.upper()) == segwit
    for wrong in (base58check.encode(b"\x00" + program), bech32.encode_segwit("bc", 0, program)):
        with pytest.raises(ValueError):
            ltc(wrong)


def test_tron() -> None:
    tron = network("tron").validate
    assert tron("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t") == "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
    for bad in ("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6u", "tr7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t",
                "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", base58check.encode(b"\x42" + bytes(20))):
        with pytest.raises(ValueError):
            tron(bad)


def test_samples_are_valid_and_distinct() -> None:
    for name in ("btc", "btc-testnet", "ltc", "eth", "bsc", "tron", "plain"):
        made = sample_addresses(name, 50)
        assert len(set(made)) == 50
        assert [canonical(network(name), a) for a in made] == made


def test_default_networks_and_families() -> None:
    assert [default_network(p) for p in ("BTC", "ETH", "USDT-ERC20", "USDC-BEP20", "TRX",
                                         "USDT-TRC20", "LTC", "XRP", "DOGE")] == \
        ["btc", "eth", "eth", "bsc", "tron", "tron", "ltc", "xrp", "plain"]
    assert family_of("ETH", "eth") == family_of("USDT-ERC20", "eth") == "eth"
    assert family_of("USDT-BEP20", "bsc") != family_of("USDT-ERC20", "eth")
    assert family_of("DOGE", "plain") == "DOGE" != family_of("COIN", "plain")


def test_tags() -> None:
    xrp = network("xrp")
    assert canonical(xrp, "rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh", "0042") == \
        "rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh#42"
    assert canonical(xrp, "rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh#7") == \
        "rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh#7"
    for address, tag, reason in (("rX", None, "needs a tag"), ("rX", "4294967296", "whole"),
                                 ("rX", "-1", "whole")):
        with pytest.raises(ValueError, match=reason):
            canonical(xrp, address, tag)
    with pytest.raises(ValueError, match="take addresses alone"):
        canonical(network("btc"), "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "5")

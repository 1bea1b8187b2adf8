"""Networks: how a pool's addresses are checked, stored and shown.

Each pool has a network (`configure(pool, network=...)`; by default from its name,
see `default_network`). A network's validator turns what an operator typed into the
one canonical string stored in Redis, or raises ValueError saying why it is refused.
Pools of one chain family share no address: see `family_of`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from ..validation import PLAIN_RE, TAG_RE
from . import base58check, bech32, evm

Validator = Callable[[str], str]
"""From what was typed to the canonical address; raises ValueError with the reason."""

NETWORK_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")


def _keep(address: str) -> str:
    return address


@dataclass(frozen=True)
class Network:
    name: str
    validate: Validator
    family: str | None = None
    """Pools whose networks share a family share no address. None: the family is the
    pool's own chain (the part after '-', else its name)."""
    tagged: bool = False
    """Wallets are (address, tag) pairs: many tags may share one address."""
    validate_tag: Validator | None = None
    show: Callable[[str], str] = _keep
    """The form shown to people (EIP-55 for Ethereum), from the stored one."""


def plain(address: str) -> str:
    """The engine's charset rule alone: 1-128 of A-Z a-z 0-9 : . _ -"""
    if PLAIN_RE.fullmatch(address) is None:
        raise ValueError("must be 1-128 of A-Z a-z 0-9 : . _ -")
    return address


def plain_tag(tag: str) -> str:
    if TAG_RE.fullmatch(tag) is None:
        raise ValueError("must be 1-64 of A-Z a-z 0-9 : . _ -")
    return tag


def numeric_tag(bits: int) -> Validator:
    """Tags that are unsigned integers below 2**bits (XRP destination tags: 32, Stellar
    memo ids: 64), stored without leading zeros so that '007' and '7' are one tag."""
    def check(tag: str) -> str:
        if not tag.isascii() or not tag.isdigit() or int(tag) >= 2**bits:
            raise ValueError(f"must be a whole number from 0 to {2**bits - 1}")
        return str(int(tag))
    return check


def bitcoin_like(hrp: str, versions: dict[int, str], max_witness_version: int = 1) -> Validator:
    """Base58Check with the given version bytes (byte -> kind) and segwit with `hrp`,
    witness versions 0 to `max_witness_version`. Version 1 must be a 32-byte Taproot
    program: coins sent to other v1 or higher programs can be taken by anyone until a
    soft fork defines them, so those are refused unless `max_witness_version` allows."""
    def check(address: str) -> str:
        if address[: len(hrp) + 1].lower() == hrp + "1":
            version, program = bech32.decode_segwit(hrp, address)
            if version > max_witness_version:
                raise ValueError(f"is witness v{version}: versions above {max_witness_version} "
                                 "are refused (no wallet can spend them yet)")
            if version == 1 and len(program) != 32 and max_witness_version == 1:
                raise ValueError(f"is witness v1 with a {len(program)}-byte program; "
                                 "only 32-byte Taproot programs are accepted")
            return address.lower()
        other = _bech32_hrp(address)
        if other is not None:
            raise ValueError(f"is a segwit address for '{other}', not '{hrp}' (another network)")
        payload = base58check.decode(address)
        if len(payload) != 21 or payload[0] not in versions:
            known = ", ".join(f"{v} ({kind})" for v, kind in versions.items())
            raise ValueError(f"is neither a {hrp}1... segwit address nor base58check with "
                             f"version {known}")
        return address
    return check


def _bech32_hrp(text: str) -> str | None:
    try:
        return bech32.decode(text)[0]
    except ValueError:
        return None


def tron(address: str) -> str:
    if len(address) != 34 or not address.startswith("T"):
        raise ValueError("must be 34 characters starting with T")
    payload = base58check.decode(address)
    if len(payload) != 21 or payload[0] != 0x41:
        raise ValueError("is not a base58check address with version 0x41")
    return address


_NETWORKS: dict[str, Network] = {}


def register_network(name: str, validate: Validator, *, family: str | None = None,
                     tagged: bool = False, validate_tag: Validator | None = None,
                     show: Callable[[str], str] | None = None, replace: bool = False) -> Network:
    """Teach walletpool a network: pools configured with `network=name` check their
    addresses with `validate`. Register in every process that adds wallets."""
    if NETWORK_RE.fullmatch(name) is None:
        raise ValueError(f"invalid network name {name!r}: use 1-32 of a-z 0-9 -")
    if name in _NETWORKS and not replace:
        raise ValueError(f"network {name!r} is already registered (pass replace=True)")
    network = Network(name, validate, family, tagged,
                      (validate_tag or plain_tag) if tagged else None, show or _keep)
    _NETWORKS[name] = network
    return network


def network(name: str) -> Network:
    try:
        return _NETWORKS[name]
    except KeyError:
        raise LookupError(
            f"unknown network {name!r}: known are {', '.join(sorted(_NETWORKS))}; "
            "register others with walletpool.chains.register_network") from None


def networks() -> list[str]:
    return sorted(_NETWORKS)


BTC_VERSIONS = {0x00: "P2PKH", 0x05: "P2SH"}
register_network("btc", bitcoin_like("bc", BTC_VERSIONS), family="btc")
register_network("btc-testnet", bitcoin_like("tb", {0x6F: "P2PKH", 0xC4: "P2SH"}),
                 family="btc-testnet")
register_network("ltc", bitcoin_like("ltc", {48: "P2PKH", 50: "P2SH", 5: "P2SH (old)"}),
                 family="ltc")
register_network("eth", evm.canonical, family="eth", show=evm.checksummed)
register_network("bsc", evm.canonical, family="bsc", show=evm.checksummed)
register_network("tron", tron, family="tron")
register_network("xrp", plain, family="xrp", tagged=True, validate_tag=numeric_tag(32))
register_network("xlm", plain, family="xlm", tagged=True, validate_tag=numeric_tag(64))
register_network("ton", plain, family="ton", tagged=True)
register_network("tagged", plain, tagged=True)
register_network("plain", plain)

# A pool's chain: the part after '-' (USDT-TRC20 -> TRC20), else its name (BTC).
_BY_CHAIN = {
    "BTC": "btc", "LTC": "ltc", "ETH": "eth", "ERC20": "eth", "BNB": "bsc", "BSC": "bsc",
    "BEP20": "bsc", "TRX": "tron", "TRON": "tron", "TRC20": "tron", "XRP": "xrp",
    "XLM": "xlm", "TON": "ton",
}


def chain_of(pool: str) -> str:
    return pool.rsplit("-", 1)[-1]


def default_network(pool: str) -> str:
    """The network a new pool gets from its name: BTC -> btc, ETH and *-ERC20 -> eth,
    BNB and *-BEP20 -> bsc, TRX and *-TRC20 -> tron, LTC, XRP, XLM, TON; else plain."""
    return _BY_CHAIN.get(chain_of(pool), "plain")


def family_of(pool: str, network_name: str) -> str:
    """The chain family of a pool: a registered network's family, else its own chain."""
    known = _NETWORKS.get(network_name)
    return (known.family if known and known.family else None) or chain_of(pool)

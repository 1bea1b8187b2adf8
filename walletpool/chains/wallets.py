"""Wallets as walletpool stores them: the canonical address, or `address#tag` in a tag
pool ('#' is outside the address charset, so the split is unambiguous)."""

from __future__ import annotations

from ..validation import MAX_WALLET, PLAIN_RE
from .networks import Network

TAG_SEPARATOR = "#"


def split(wallet: str) -> tuple[str, str | None]:
    address, sep, tag = wallet.partition(TAG_SEPARATOR)
    return address, (tag if sep else None)


def join(address: str, tag: str | None) -> str:
    return address if tag is None else f"{address}{TAG_SEPARATOR}{tag}"


def canonical(network: Network, address: str, tag: str | None = None) -> str:
    """The stored form of (address, tag) on `network`. Raises ValueError with the reason
    (the message reads after the address: "... is not ...")."""
    if not isinstance(address, str):
        raise ValueError(f"is a {type(address).__name__}, not a string")
    if tag is None and network.tagged and TAG_SEPARATOR in address:
        address, tag = split(address)
    address = address.strip()
    if not address:
        raise ValueError("is empty")
    stored = network.validate(address)
    if PLAIN_RE.fullmatch(stored) is None:
        raise ValueError(f"was turned by the {network.name} validator into {stored!r}, "
                         "outside the engine's charset")
    if network.tagged:
        if tag is None or not str(tag).strip():
            raise ValueError(f"needs a tag: pools on {network.name} hand out (address, tag)")
        assert network.validate_tag is not None
        tag = network.validate_tag(str(tag).strip())
    elif tag is not None and str(tag).strip():
        raise ValueError(f"has a tag, but pools on {network.name} take addresses alone")
    else:
        tag = None
    wallet = join(stored, tag)
    if len(wallet) > MAX_WALLET:
        raise ValueError(f"is longer than {MAX_WALLET} characters with its tag")
    return wallet

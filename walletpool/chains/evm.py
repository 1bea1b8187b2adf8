"""Ethereum-style addresses and their EIP-55 mixed-case checksum.

EIP-55 hashes with the original Keccak-256, which differs from the standardised
SHA3-256 in `hashlib` by its padding; the hash comes from `pycryptodome`."""

from __future__ import annotations

import re

from Crypto.Hash import keccak

HEX_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


def checksummed(address: str) -> str:
    """The EIP-55 form of a `0x` + 40 hex address (any case)."""
    digits = address[2:].lower()
    digest = keccak.new(data=digits.encode("ascii"), digest_bits=256).hexdigest()
    # a letter is uppercase where the matching hex digit of the hash is 8 or more
    upper = (int(h, 16) >= 8 for h in digest[:40])
    return "0x" + "".join(c.upper() if up else c for c, up in zip(digits, upper, strict=True))


def canonical(address: str) -> str:
    """Lowercase `0x` + 40 hex. All-lowercase and all-uppercase addresses carry no
    checksum; a mixed-case one must match its EIP-55 checksum. Raises ValueError."""
    if HEX_ADDRESS.fullmatch(address) is None:
        raise ValueError("is not 0x followed by 40 hex digits")
    digits = address[2:]
    if digits != digits.lower() and digits != digits.upper() and checksummed(address) != address:
        raise ValueError("fails its EIP-55 mixed-case checksum (a typo?)")
    return address.lower()

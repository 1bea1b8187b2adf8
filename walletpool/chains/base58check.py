"""Base58Check payloads (version byte + hash + 4-byte double-SHA-256 checksum), on the
small `base58` package. Base58 is case-sensitive: nothing here folds case."""

from __future__ import annotations

import base58

ALPHABET = set("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz")


def decode(address: str) -> bytes:
    """The payload (version byte first) of a Base58Check string. Raises ValueError."""
    bad = sorted(set(address) - ALPHABET)
    if bad:
        raise ValueError(f"has characters outside the base58 alphabet: {''.join(bad)!r}")
    try:
        return bytes(base58.b58decode_check(address))
    except ValueError:
        raise ValueError("has a wrong base58 checksum (a typo?)") from None


def encode(payload: bytes) -> str:
    return str(base58.b58encode_check(payload).decode("ascii"))

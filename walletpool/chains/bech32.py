"""Bech32 (BIP-173) and bech32m (BIP-350) strings, and segwit addresses built on them.

Written from the two BIPs; tests/test_chains.py runs their official vectors. The PyPI
`bech32` package predates bech32m, which is why walletpool carries these few lines.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum

CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_VALUES = {c: i for i, c in enumerate(CHARSET)}
_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
MAX_LENGTH = 90


class Encoding(Enum):
    BECH32 = 1
    BECH32M = 0x2BC830A3
    """The value the checksum polymod leaves for each encoding."""


# What the five bits shifted out of the checksum contribute: the XOR of the generator
# terms for the bits set, precomputed for all 32 values (one lookup per character).
_STEP = [0] * 32
for _top in range(32):
    for _bit, _term in enumerate(_GENERATOR):
        if _top >> _bit & 1:
            _STEP[_top] ^= _term


def _polymod(values: Iterable[int]) -> int:
    check = 1
    for value in values:
        check = ((check & 0x1FFFFFF) << 5 ^ value) ^ _STEP[check >> 25]
    return check


def _hrp_values(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def decode(text: str) -> tuple[str, list[int], Encoding]:
    """Split a bech32/bech32m string into its human-readable part, 5-bit data (checksum
    removed) and encoding. Raises ValueError saying what is wrong."""
    if not (text.isascii() and text.isprintable()) or " " in text:
        raise ValueError("contains a character outside printable ASCII")
    if text.lower() != text and text.upper() != text:
        raise ValueError("mixes upper and lower case")
    if len(text) > MAX_LENGTH:
        raise ValueError(f"is longer than {MAX_LENGTH} characters")
    text = text.lower()
    split = text.rfind("1")
    if split < 1:
        raise ValueError("has no human-readable part before the separator '1'")
    if split + 7 > len(text):
        raise ValueError("is too short to hold a checksum")
    hrp, body = text[:split], text[split + 1 :]
    if any(c not in _VALUES for c in body):
        raise ValueError("has a character outside the bech32 alphabet after the separator")
    data = [_VALUES[c] for c in body]
    residue = _polymod(_hrp_values(hrp) + data)
    for encoding in Encoding:
        if residue == encoding.value:
            return hrp, data[:-6], encoding
    raise ValueError("has a wrong checksum (a typo?)")


def encode(hrp: str, data: list[int], encoding: Encoding) -> str:
    residue = _polymod(_hrp_values(hrp) + data + [0] * 6) ^ encoding.value
    checksum = [(residue >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(CHARSET[d] for d in data + checksum)


def regroup(data: Iterable[int], from_bits: int, to_bits: int, pad: bool) -> list[int]:
    """Regroup a sequence of `from_bits`-bit values into `to_bits`-bit values. Without
    `pad`, leftover bits must be fewer than `from_bits` and all zero."""
    acc = bits = 0
    out: list[int] = []
    mask = (1 << to_bits) - 1
    for value in data:
        acc = (acc << from_bits) | value
        bits += from_bits
        while bits >= to_bits:
            bits -= to_bits
            out.append((acc >> bits) & mask)
    if pad:
        if bits:
            out.append((acc << (to_bits - bits)) & mask)
    elif bits >= from_bits or (acc << (to_bits - bits)) & mask:
        raise ValueError("has invalid padding in its witness program")
    return out


def decode_segwit(hrp: str, address: str) -> tuple[int, bytes]:
    """The witness version and program of a segwit address for `hrp`. Raises ValueError."""
    found_hrp, data, encoding = decode(address)
    if found_hrp != hrp:
        raise ValueError(f"is for network '{found_hrp}', not '{hrp}'")
    if not data:
        raise ValueError("has no witness version")
    version = data[0]
    if version > 16:
        raise ValueError(f"has witness version {version}, above 16")
    program = bytes(regroup(data[1:], 5, 8, pad=False))
    if not 2 <= len(program) <= 40:
        raise ValueError(f"has a witness program of {len(program)} bytes (2 to 40 allowed)")
    if version == 0 and len(program) not in (20, 32):
        raise ValueError(f"is witness v0 with a {len(program)}-byte program (20 or 32 allowed)")
    expected = Encoding.BECH32 if version == 0 else Encoding.BECH32M
    if encoding is not expected:
        raise ValueError(f"is witness v{version} but uses {encoding.name.lower()}, "
                         f"not {expected.name.lower()}")
    return version, program


def encode_segwit(hrp: str, version: int, program: bytes) -> str:
    encoding = Encoding.BECH32 if version == 0 else Encoding.BECH32M
    address = encode(hrp, [version, *regroup(program, 8, 5, pad=True)], encoding)
    decode_segwit(hrp, address)  # refuses what the rules forbid (bad lengths, versions)
    return address

"""Valid, random addresses for demos, tests and benchmarks: real checksums over random
key hashes that nobody holds keys for. Never deposit to them."""

from __future__ import annotations

import random

from . import base58check, bech32


def sample_addresses(network: str, count: int, seed: int = 0) -> list[str]:
    """`count` distinct valid addresses on `network` (btc, btc-testnet, ltc, eth, bsc,
    tron, or any other for the plain rule), the same for the same seed."""
    rng = random.Random(f"{network}:{seed}")
    made: dict[str, None] = {}
    while len(made) < count:
        made[_one(network, rng.randbytes(32), len(made))] = None
    return list(made)


def _one(network: str, entropy: bytes, index: int) -> str:
    kind = index % 3
    if network in ("btc", "btc-testnet", "ltc"):
        hrp = {"btc": "bc", "btc-testnet": "tb", "ltc": "ltc"}[network]
        if kind == 0:
            return bech32.encode_segwit(hrp, 0, entropy[:20])
        if kind == 1 and network != "ltc":
            return bech32.encode_segwit(hrp, 1, entropy)
        version = {"btc": 0x00, "btc-testnet": 0x6F, "ltc": 48}[network]
        return base58check.encode(bytes([version]) + entropy[:20])
    if network in ("eth", "bsc"):
        return "0x" + entropy[:20].hex()
    if network == "tron":
        return base58check.encode(b"\x41" + entropy[:20])
    return "w" + entropy[:12].hex()

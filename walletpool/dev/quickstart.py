"""`walletpool quickstart`: a short tour of the library against a throwaway Redis that
it starts (AOF on, data in a temporary folder) and stops again."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from ..chains import sample_addresses
from ..client import WalletPool
from ..errors import LeaseLost, PoolExhausted
from .redis_server import RedisServer, server_name


def run(say: Callable[[str], None]) -> int:
    with tempfile.TemporaryDirectory(prefix="walletpool-") as folder, \
            RedisServer(Path(folder)) as server:
        say(f"started {server_name(server.binary)} at {server.url} "
            f"(AOF on, data in {folder})")
        with WalletPool.from_url(server.url) as pool:
            tour(pool, say)
    say("stopped redis-server; done")
    return 0


def tour(pool: WalletPool, say: Callable[[str], None]) -> None:
    pool.configure("BTC", lease_ttl=900, cooldown=0, max_size=1000)
    say("\n>>> pool.configure('BTC', lease_ttl=900, cooldown=0, max_size=1000)")
    addresses = sample_addresses("btc", 5)  # valid checksums: BTC pools check them
    say(f">>> pool.add('BTC', {addresses[:2]} + ...)\n{pool.add('BTC', addresses)}")
    say(f">>> pool.peek('BTC', 3)\n{pool.peek('BTC', 3)}")

    lease = pool.allocate("BTC", owner="order-42", correlation_id="checkout-7")
    say(f">>> lease = pool.allocate('BTC', owner='order-42')\n{lease}")
    again = pool.allocate("BTC", owner="order-42")
    say(f">>> pool.allocate('BTC', owner='order-42')   # a retry gets the same lease\n"
        f"address={again.address} token={again.token} fresh={again.fresh}")
    say(f">>> pool.extend(lease, ttl=600)\n{pool.extend(lease, ttl=600)}")

    others = pool.allocate_many("BTC", [f"order-{n}" for n in range(43, 47)])
    say(f">>> pool.allocate_many('BTC', ['order-43', ..., 'order-46'])\n"
        f"{[(x.owner, x.address) for x in others]}")
    try:
        pool.allocate("BTC", owner="order-99")
    except PoolExhausted as exc:
        say(f">>> pool.allocate('BTC', owner='order-99')\nPoolExhausted: {exc}")

    say(f">>> pool.release(lease)\n{pool.release(lease)!r}   # back at the tail of the queue")
    try:
        pool.release(lease)
    except LeaseLost as exc:
        say(f">>> pool.release(lease)   # twice\nLeaseLost: {exc}")
    say(f">>> pool.release_many(others)\n{pool.release_many(others)}")
    say(f">>> pool.stats('BTC')\n{pool.stats('BTC')}")

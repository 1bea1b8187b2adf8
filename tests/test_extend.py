"""extend: same token, later deadline; refused when the lease is gone."""

from __future__ import annotations

import pytest

from walletpool import Lease, LeaseLost, WalletPool
from walletpool.testing import shift_clock


def test_extend_moves_the_deadline_and_keeps_the_token(btc: WalletPool) -> None:
    lease = btc.allocate("COIN", owner="order-1", ttl=10)
    longer = btc.extend(lease, ttl=600)
    assert longer.token == lease.token and longer.address == lease.address
    assert longer.expires_at > lease.expires_at
    assert btc.get_lease("COIN", "order-1").expires_at == longer.expires_at  # type: ignore[union-attr]


def test_extend_keeps_a_lease_alive_past_its_first_deadline(btc: WalletPool) -> None:
    lease = btc.allocate("COIN", owner="order-1", ttl=10)
    shift_clock(btc, "COIN", 8)
    btc.extend(lease, ttl=10)
    shift_clock(btc, "COIN", 16)
    assert btc.reap("COIN") == 0
    assert btc.release(lease) == "free"


def test_extend_with_a_stale_token_raises_lease_lost(btc: WalletPool) -> None:
    lease = btc.allocate("COIN", owner="order-1")
    with pytest.raises(LeaseLost) as caught:
        btc.extend(Lease(**{**lease.__dict__, "token": lease.token + 1}))
    assert caught.value.reason == "stale"


def test_extend_of_an_expired_lease_raises_lease_lost(btc: WalletPool) -> None:
    lease = btc.allocate("COIN", owner="order-1", ttl=5)
    shift_clock(btc, "COIN", 6)
    with pytest.raises(LeaseLost, match="expired"):
        btc.extend(lease)
    assert btc.stats("COIN").leased == 0

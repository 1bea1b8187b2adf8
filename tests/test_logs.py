"""Log records: one per state change at DEBUG, per refusal at WARNING, with fields."""

from __future__ import annotations

import json
import logging

import pytest

from walletpool import PoolExhausted, WalletPool
from walletpool.logs import JsonFormatter, TextFormatter


def test_state_changes_log_at_debug_with_structured_fields(
        btc: WalletPool, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="walletpool"):
        lease = btc.allocate("COIN", "order-1", correlation_id="c-1", user_id="u-1")
        btc.release(lease)
    allocated, released = (r for r in caplog.records if r.message.startswith("lease"))
    assert (allocated.message, allocated.levelno) == ("lease allocated", logging.DEBUG)
    assert (allocated.pool, allocated.address, allocated.owner, allocated.token) == (  # type: ignore[attr-defined]
        "COIN", "a0", "order-1", lease.token)
    assert (allocated.correlation_id, allocated.user_id) == ("c-1", "u-1")  # type: ignore[attr-defined]
    assert released.state == "free"  # type: ignore[attr-defined]


def test_refusals_log_a_warning(btc: WalletPool, caplog: pytest.LogCaptureFixture) -> None:
    btc.allocate_many("COIN", [f"o{i}" for i in range(5)])
    with caplog.at_level(logging.WARNING, logger="walletpool"), pytest.raises(PoolExhausted):
        btc.allocate("COIN", "late")
    record = caplog.records[-1]
    assert (record.levelno, record.message, record.pool, record.leased) == (  # type: ignore[attr-defined]
        logging.WARNING, "pool exhausted", "COIN", 5)


def test_the_json_formatter_writes_one_object_with_the_fields() -> None:
    record = logging.LogRecord("walletpool", logging.WARNING, __file__, 1, "lease lost", None, None)
    record.pool, record.token = "COIN", 7
    entry = json.loads(JsonFormatter().format(record))
    assert (entry["level"], entry["message"], entry["pool"], entry["token"]) == (
        "WARNING", "lease lost", "COIN", 7)
    assert "pool=COIN token=7" in TextFormatter().format(record)

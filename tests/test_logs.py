"""Log records: one per state change at DEBUG, per refusal at WARNING, with fields, in
`extra` (for JSON logs) and at the end of the message (so that it reads complete under
any handler, plain `logging.basicConfig` included)."""

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
    assert allocated.levelno == logging.DEBUG
    assert allocated.message.startswith("lease allocated: ")
    for shown in ("pool=COIN", "address=a0", "owner=order-1", f"token={lease.token}",
                  "correlation_id=c-1", "user_id=u-1"):
        assert shown in allocated.message
    assert (allocated.pool, allocated.address, allocated.owner, allocated.token) == (  # type: ignore[attr-defined]
        "COIN", "a0", "order-1", lease.token)
    assert (allocated.correlation_id, allocated.user_id) == ("c-1", "u-1")  # type: ignore[attr-defined]
    assert released.state == "free"  # type: ignore[attr-defined]


def test_refusals_log_a_warning(btc: WalletPool, caplog: pytest.LogCaptureFixture) -> None:
    btc.allocate_many("COIN", [f"o{i}" for i in range(5)])
    with caplog.at_level(logging.WARNING, logger="walletpool"), pytest.raises(PoolExhausted):
        btc.allocate("COIN", "late")
    record = caplog.records[-1]
    assert (record.levelno, record.pool, record.leased) == (  # type: ignore[attr-defined]
        logging.WARNING, "COIN", 5)
    assert record.message == "pool exhausted: pool=COIN free=0 leased=5 cooling=0 wanted=1"


def test_the_json_formatter_writes_one_object_with_the_fields() -> None:
    record = logging.LogRecord("walletpool", logging.WARNING, __file__, 1, "lease lost", None, None)
    record.pool, record.token = "COIN", 7
    entry = json.loads(JsonFormatter().format(record))
    assert (entry["level"], entry["message"], entry["pool"], entry["token"]) == (
        "WARNING", "lease lost", "COIN", 7)
    assert TextFormatter().format(record).endswith("WARNING walletpool: lease lost")


def test_every_message_reads_complete_under_a_plain_handler(btc: WalletPool) -> None:
    """What a service sees with logging.basicConfig: the message alone."""
    seen: list[str] = []

    class Plain(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(logging.Formatter("%(levelname)s %(name)s: %(message)s").format(record))

    handler, logger = Plain(), logging.getLogger("walletpool")
    logger.addHandler(handler)
    old = logger.level
    logger.setLevel(logging.INFO)
    try:
        btc.configure("COIN", min_free=5)
        btc.allocate("COIN", "order-7", correlation_id="chk-7")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)
    assert "INFO walletpool: pool configured: pool=COIN settings=min_free 5" in seen
    assert any(line.startswith("WARNING walletpool: pool below its low-water mark: pool=COIN "
                               "free=4 min_free=5") for line in seen), seen

"""Logging: records go to the `walletpool` logger with structured fields in `extra`
(pool, address, owner, token, correlation_id, user_id, ...), and the same fields at
the end of the message (ContextLogger), so that a record reads complete under any
handler. JsonFormatter writes one JSON object a line for services that ship their
logs."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from typing import Any

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def record_fields(record: logging.LogRecord) -> dict[str, object]:
    """The structured fields a walletpool call attached to `record`."""
    return {k: v for k, v in vars(record).items() if k not in _STANDARD}


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, then the record's fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(
                timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(record_fields(record))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    """The usual text line (its message carries the record's fields already)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")


class ContextLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """walletpool's logger. A record's message ends with its fields (`pool=BTC owner=o1
    free=2 ...`), so that it reads complete under any handler, `logging.basicConfig`'s
    included; the fields stay on the record too (`extra`), for JSON logs."""

    def __init__(self, name: str = "walletpool") -> None:
        super().__init__(logging.getLogger(name), {})

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        fields = kwargs.get("extra")
        if fields and self.isEnabledFor(level):
            shown = " ".join(f"{k}={v}" for k, v in fields.items())
            if args:  # the fields pass through %-formatting with the message
                shown = shown.replace("%", "%%")
            msg = f"{msg}: {shown}"
        super().log(level, msg, *args, **kwargs)

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        return msg, kwargs  # the call's own extra (the base class would replace it)


RAISED_ANYWAY = frozenset({"pool exhausted", "lease lost", "reserve exhausted"})
"""Warnings the library logs just before it raises the error that says the same."""


def _not_raised_anyway(record: logging.LogRecord) -> bool:
    return str(record.msg).split(": ", 1)[0] not in RAISED_ANYWAY


def configure_logging(level: int | str = logging.INFO, json_lines: bool = False,
                      errors_shown: bool = False) -> None:
    """Send walletpool's records to stderr, as text or as JSON lines. `errors_shown`:
    the caller prints each error itself (the command line), so the warnings that only
    announce one are left out."""
    handler = _OwnHandler()
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    if errors_shown:
        handler.addFilter(_not_raised_anyway)
    logger = logging.getLogger("walletpool")
    for old in [h for h in logger.handlers if isinstance(h, _OwnHandler)]:
        logger.removeHandler(old)  # configured again (a second command in one process)
    logger.addHandler(handler)
    logger.setLevel(level)


class _OwnHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler configure_logging installs, so that it replaces its own alone."""

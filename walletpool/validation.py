"""Input checks done before any key is built or any script runs.

The Lua scripts repeat the checks that protect Redis (a client of another language
may call them), but these give the user a precise message first.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from .errors import InvalidAddress, InvalidInput, InvalidPool

POOL_RE = re.compile(r"[A-Z0-9]{2,12}(?:-[A-Z0-9]{2,12})?")
# The engine's charset for an address and for a tag; a wallet as stored is an address,
# or `address#tag` in a tag pool (walletpool/chains), at most MAX_WALLET characters.
PLAIN_RE = re.compile(r"[A-Za-z0-9:._-]{1,128}")
TAG_RE = re.compile(r"[A-Za-z0-9:._-]{1,64}")
ADDRESS_RE = re.compile(rf"{PLAIN_RE.pattern}(?:#{TAG_RE.pattern})?")
MAX_WALLET = 128
# Owners, correlation ids and user ids: printable ASCII without blanks (lua/includes/valid_id.lua).
ID_RE = re.compile(r"[\x21-\x7e]{1,128}")
MAX_TTL = 365 * 24 * 3600.0
MAX_PEEK = 10_000
MAX_BATCH = 10_000
MAX_WAITERS = 1_000_000  # lua/includes/limits.lua
DEFAULT_STREAM_CAP = 1_000  # lua/includes/limits.lua: a pool's stream, no syncer attached
MIN_STREAM_CAP = 100


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def pool_name(pool: object) -> str:
    if not isinstance(pool, str) or POOL_RE.fullmatch(pool) is None:
        hint = ""
        if isinstance(pool, str) and POOL_RE.fullmatch(pool.strip().upper()):
            hint = f" (did you mean {pool.strip().upper()}?)"  # names are upper case
        raise InvalidPool(
            f"invalid pool name {_shown(pool)}{hint}: use 2-12 of A-Z 0-9, optionally "
            "followed by '-' and a 2-12 character network, e.g. BTC or USDT-TRC20"
        )
    return pool


def address(pool: str, value: object) -> str:
    if (not isinstance(value, str) or len(value) > MAX_WALLET
            or ADDRESS_RE.fullmatch(value) is None):
        raise InvalidAddress(
            f"invalid address {_shown(value)} for pool {pool}: use 1-128 of A-Z a-z 0-9 : . _ -"
            " (and '#' before the tag in a tag pool)"
        )
    return value


def identifier(kind: str, value: object) -> str:
    if not isinstance(value, str) or ID_RE.fullmatch(value) is None:
        raise InvalidInput(
            f"invalid {kind} {_shown(value)}: use 1-128 printable ASCII characters without blanks"
        )
    return value


def optional_identifier(kind: str, value: object) -> str:
    """The wire form of an optional id: '' for None."""
    return "" if value is None else identifier(kind, value)


def owners(values: Sequence[object]) -> list[str]:
    if isinstance(values, (str, bytes)):
        raise InvalidInput("owners must be a list of strings, not one string")
    checked = [identifier("owner", v) for v in values]
    if not 1 <= len(checked) <= MAX_BATCH:
        raise InvalidInput(f"give 1 to {MAX_BATCH} owners per batch, not {len(checked)}")
    return checked


def seconds(kind: str, value: object, *, allow_zero: bool = False, maximum: float = MAX_TTL) -> int:
    """Seconds (int or float) to whole milliseconds, refusing bools, NaN and out-of-range."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise InvalidInput(f"{kind} must be a number of seconds, not {_shown(value)}")
    low = 0.0 if allow_zero else 0.001
    if not low <= value <= maximum:
        raise InvalidInput(f"{kind} must be between {low:g} and {maximum:g} seconds, not {value!r}")
    return round(value * 1000)


def count(kind: str, value: object, *, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(
            f"{kind} must be a whole number from {low} to {high}, not {_shown(value)}")
    return value


_USERINFO_RE = re.compile(r"(?P<head>^[A-Za-z][A-Za-z0-9+.-]*://[^:/@?#]*):[^/?#]*@")
_QUERY_SECRET_RE = re.compile(r"(?P<head>[?&](?:password|sentinel_password)=)[^&#]*",
                              re.IGNORECASE)


def mask_url(url: str) -> str:
    """The URL with any password (in its user part or its query) replaced by ***, safe for
    logs and error messages. Works on URLs that name several hosts (redis+sentinel)."""
    masked = _USERINFO_RE.sub(lambda m: f"{m['head']}:***@", url, count=1)
    return _QUERY_SECRET_RE.sub(lambda m: f"{m['head']}***", masked)

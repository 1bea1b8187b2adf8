"""A call of one script, and a Program: a generator of calls that receives each
decoded result, so that the sync and async clients run multi-step operations alike."""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from .scripts import Script

T = TypeVar("T")
log = logging.getLogger("walletpool")


@dataclass(frozen=True)
class Call(Generic[T]):
    script: Script
    keys: tuple[str, ...]
    args: tuple[str | int, ...]
    decode: Callable[[Any], T]
    idempotent: bool
    """Safe to send again after a connection broke mid-call (the reply may have been lost
    after the script ran): allocate is idempotent per owner, release is not."""


Program = Generator[Call[Any], Any, T]


def text(value: Any) -> str:
    """A reply item as str, whether the client decodes responses or not."""
    return value.decode() if isinstance(value, bytes) else str(value)


def identity(reply: Any) -> Any:
    return reply


def fields(**values: object) -> dict[str, object]:
    """Log record extras without the empty ones."""
    return {k: v for k, v in values.items() if v is not None}

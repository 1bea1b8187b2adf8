"""A synchronous view of an AsyncWalletPool, so that one behaviour test runs against
both clients: every coroutine a method returns is run to its end on the view's own
event loop, and what the async client hands back to be used further (its pipeline, its
redis client) is viewed the same way. Nothing is reimplemented: each call goes to the
AsyncWalletPool itself."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

from walletpool.aio import AsyncPipeline


class Blocking:
    def __init__(self, target: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._target = target
        self._loop = loop

    def _settle(self, value: Any) -> Any:
        if inspect.isawaitable(value):
            value = self._loop.run_until_complete(value)
        # a pipeline is used further, through the view as well
        return Blocking(value, self._loop) if isinstance(value, AsyncPipeline) else value

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._target, name)
        if name == "redis":
            return Blocking(attribute, self._loop)
        if not callable(attribute) or inspect.isclass(attribute):
            return attribute
        return self._blocking(attribute)

    def _blocking(self, method: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            return self._settle(method(*args, **kwargs))

        return run

    def __enter__(self) -> Blocking:
        self._settle(self._target.__aenter__())
        return self

    def __exit__(self, *exc: object) -> None:
        self._settle(self._target.__aexit__(*exc))

    def __len__(self) -> int:
        return len(self._target)

    def __repr__(self) -> str:
        return f"Blocking({self._target!r})"

"""Alias of walletpool.syncer (the write-behind syncer; not the synchronous client, which
is walletpool.client), kept so that code written for 0.1 imports unchanged."""

from .syncer import GROUP, Lag, Syncer, lag

__all__ = ["GROUP", "Lag", "Syncer", "lag"]

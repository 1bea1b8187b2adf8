"""Alias of walletpool.client, kept so that code written for 0.1 imports unchanged."""

from .client import Pipeline, WalletPool

__all__ = ["Pipeline", "WalletPool"]

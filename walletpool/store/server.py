"""Alias of walletpool.dev.postgres_server, kept so that code written for 0.1 imports
unchanged."""

from ..dev.postgres_server import PostgresServer, find_bin_dir

__all__ = ["PostgresServer", "find_bin_dir"]

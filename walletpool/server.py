"""Alias of walletpool.dev.redis_server, kept so that code written for 0.1 imports
unchanged."""

from .dev.redis_server import (
    ENV_BINARY,
    RedisServer,
    binary_version,
    down,
    find_binaries,
    find_binary,
    free_port,
    up,
)

__all__ = ["ENV_BINARY", "RedisServer", "binary_version", "down", "find_binaries",
           "find_binary", "free_port", "up"]

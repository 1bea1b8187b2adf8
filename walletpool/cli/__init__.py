"""The `walletpool` command: operate pools from a shell. One module per operator's task:
serving orders (orders.py), managing pools (pools.py), the store (store.py), running the
servers (servers.py); shared.py holds the group, its options and what every command
shares (the exit codes: 0 ok, 1 refused by the pool, 2 bad input, 3 Redis or the
database unavailable, 130 interrupted)."""

from . import orders, pools, servers, store  # noqa: F401  (each registers its commands)
from .shared import (
    EXIT_BAD_INPUT,
    EXIT_INTERRUPTED,
    EXIT_REFUSED,
    EXIT_UNAVAILABLE,
    main,
)

__all__ = ["EXIT_BAD_INPUT", "EXIT_INTERRUPTED", "EXIT_REFUSED", "EXIT_UNAVAILABLE", "main"]

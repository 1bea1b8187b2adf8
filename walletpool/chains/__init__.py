"""Address validation per chain: checksums, not regexes.

`network(name)` gives a pool network's validator; `register_network` adds one;
`default_network(pool)` is what a new pool gets from its name.
"""

from .networks import (
    Network,
    Validator,
    bitcoin_like,
    default_network,
    family_of,
    network,
    networks,
    numeric_tag,
    plain,
    register_network,
)
from .samples import sample_addresses

__all__ = [
    "Network", "Validator", "bitcoin_like", "default_network", "family_of", "network",
    "networks", "numeric_tag", "plain", "register_network", "sample_addresses",
]

"""The worker of the failover tests (test_failover.py): one process allocating with
fresh owners as fast as it can, reporting every lease the library acknowledged, until
told to stop. While no primary answers it waits and tries again, so that through a
Sentinel URL it goes on with the promoted one."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from walletpool import BackendUnavailable, NotReplicated, WalletPool


@dataclass
class Acknowledged:
    leases: list[tuple[str, str, int, float]] = field(default_factory=list)
    """(owner, address, token, time.time() when it returned) of each allocation."""
    not_replicated: int = 0
    unavailable: int = 0
    last_unavailable: str = ""
    errors: list[str] = field(default_factory=list)


def worker(redis_url: str, pool_name: str, worker_id: int, replicas: int, start: Any,
           stop: Any, out: Any, pause: float = 0.0) -> None:
    """`pause`: seconds to rest after each allocation (a syncer in the test keeps up)."""
    done = Acknowledged()
    pool = WalletPool.from_url(redis_url, replicas=replicas, replica_timeout=0.1,
                               socket_timeout=0.5)
    start.wait()
    i = 0
    while not stop.is_set():
        i += 1
        try:
            lease = pool.allocate(pool_name, f"w{worker_id}-{i}")
        except NotReplicated:
            done.not_replicated += 1
            continue
        except BackendUnavailable as exc:
            done.unavailable += 1
            done.last_unavailable = str(exc)
            time.sleep(0.05)
            continue
        except Exception as exc:  # anything else is a failure the test reports
            done.errors.append(repr(exc))
            break
        done.leases.append((lease.owner, lease.address, lease.token, time.time()))
        if pause:
            time.sleep(pause)
    pool.close()
    out.put(done)

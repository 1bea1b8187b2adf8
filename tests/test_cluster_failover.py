"""Redis Cluster with replicas (issue "safe across failover"): three primaries, each
with a replica, all on loopback. Under load with replicas=1, the primary that holds
the pool's slot is killed after its replica missed its last writes (frozen, link
cut); the cluster promotes that replica, and the clients follow
the slot there (MOVED), run the scripts again (the promoted node's script cache is
empty: NOSCRIPT, then EVAL), and once the old primary is back as the new one's
replica, allocations are acknowledged again. No acknowledged lease is lost, no
wallet is held twice, no token repeats."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
import redis
from redis.cluster import RedisCluster

from tests.conftest import on_first_server
from tests.test_cluster import Cluster
from tests.test_failover import _leases_of
from walletpool import BackendUnavailable, Lease, NotReplicated, WalletPool
from walletpool.dev.redis_server import RedisServer

POOL = "COIN"
WALLETS = 20_000
THREADS = 3


class Load:
    def __init__(self, port: int) -> None:
        self.port = port
        self.stop = threading.Event()
        self.leases: list[tuple[str, str, int, float]] = []
        self.not_replicated = self.unavailable = 0
        self.errors: list[str] = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, args=(t,)) for t in range(THREADS)]

    def run(self, t: int) -> None:
        client = RedisCluster(host="127.0.0.1", port=self.port, socket_timeout=1)
        pool = WalletPool(client, replicas=1, replica_timeout=0.1)
        i = 0
        while not self.stop.is_set():
            i += 1
            try:
                lease = pool.allocate(POOL, f"t{t}-{i}")
            except NotReplicated:
                with self.lock:
                    self.not_replicated += 1
                continue
            except BackendUnavailable:
                with self.lock:
                    self.unavailable += 1
                time.sleep(0.05)
                continue
            except Exception as exc:  # redis-py's own cluster errors count as failures
                with self.lock:
                    self.errors.append(repr(exc))
                time.sleep(0.05)
                continue
            with self.lock:
                self.leases.append((lease.owner, lease.address, lease.token, time.time()))
        client.close()


@on_first_server
@pytest.mark.slow
def test_a_killed_primary_of_the_pool_fails_over_and_the_guarantees_hold(
        tmp_path: Path, redis_server: RedisServer) -> None:
    cluster = Cluster(redis_server.binary, tmp_path, replicas=True, node_timeout_ms=1000).start()
    try:
        setup = RedisCluster(host="127.0.0.1", port=cluster.nodes[0].port)
        pool = WalletPool(setup)
        pool.configure(POOL, lease_ttl=600, cooldown=0, max_size=WALLETS)
        pool.add(POOL, [f"w{i:05d}" for i in range(WALLETS)])
        owner = setup.get_node_from_key(f"wp:{{{POOL}}}:conf")  # type: ignore[no-untyped-call]
        index = [n.port for n in cluster.nodes].index(owner.port)
        primary, replica = cluster.nodes[index], cluster.replicas[index]

        load = Load(cluster.nodes[(index + 1) % 3].port)
        for thread in load.threads:
            thread.start()
        time.sleep(0.8)
        # the replica misses the last writes: frozen, its link cut, then the primary dies
        os.kill(replica.pid, signal.SIGSTOP)  # type: ignore[arg-type]
        with redis.Redis(port=primary.port) as p:
            p.execute_command("CLIENT", "KILL", "TYPE", "replica")
        time.sleep(0.4)
        primary.kill()
        killed = time.time()
        os.kill(replica.pid, signal.SIGCONT)  # type: ignore[arg-type]
        deadline = time.monotonic() + 30
        while replica_role(replica) != "master":
            assert time.monotonic() < deadline, "the cluster did not promote the replica"
            time.sleep(0.1)
        promoted = time.time()
        primary.start()  # it rejoins as the promoted node's replica
        deadline = time.monotonic() + 30
        while not [x for x in load.leases if x[3] > promoted + 0.5]:
            assert time.monotonic() < deadline, "no acknowledged allocation after the failover"
            time.sleep(0.1)
        time.sleep(1.0)
        load.stop.set()
        for thread in load.threads:
            thread.join(timeout=60)
        print(f"\n  {len(load.leases)} acknowledged, {load.not_replicated} NotReplicated, "
              f"{load.unavailable} unavailable, promoted {promoted - killed:.1f} s after the "
              f"kill, {len(load.errors)} other errors")

        assert load.errors == []
        before = [x for x in load.leases if x[3] <= killed]
        after = [x for x in load.leases if x[3] > promoted]
        assert before and after
        addresses = [a for _, a, _, _ in load.leases]
        assert len(addresses) == len(set(addresses))  # no wallet acknowledged twice
        tokens = [t for _, _, t, _ in load.leases]
        assert len(tokens) == len(set(tokens))
        assert min(t for _, _, t, _ in after) > max(t for _, _, t, _ in before)
        found = _leases_of(pool, [o for o, _, _, _ in load.leases])
        missing = [(o, a) for (o, a, t, _), lease in zip(load.leases, found, strict=True)
                   if not isinstance(lease, Lease) or lease.token != t]
        assert missing == []  # every acknowledged lease is on the promoted node
        # a pipeline with replicas=1 waits on the node of the slot, which has a replica again
        durable = WalletPool(setup, replicas=1, replica_timeout=2)
        with durable.pipeline() as pipe:
            pipe.allocate(POOL, "piped-1").allocate(POOL, "piped-2")
            piped = pipe.execute()
        assert all(isinstance(x, Lease) for x in piped), piped
        addresses += [x.address for x in piped if isinstance(x, Lease)]
        handed: set[str] = set()
        while got := pool.allocate_many(POOL, [f"d{len(handed) + i}" for i in range(500)],
                                        partial=True):
            handed |= {x.address for x in got}
        assert handed and not handed & set(addresses)  # none of those wallets came out again
        setup.close()
    finally:
        cluster.stop()


def replica_role(server: RedisServer) -> str:
    with redis.Redis(port=server.port, decode_responses=True) as r:
        return str(r.info("replication").get("role"))

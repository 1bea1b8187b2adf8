"""Redis Cluster: every key of a pool carries the pool as a hash tag, so each script
runs on one slot and pools spread over the nodes, with no change to the scripts.
Three masters are started from the same redis-server binaries as the other tests."""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.cluster import RedisCluster

from tests.conftest import SERVERS
from walletpool import PoolExhausted, WalletPool
from walletpool.dev.redis_server import RedisServer, server_name
from walletpool.engine.calls import text

SLOTS = 16384
POOLS = ["COIN", "TOKEN", "CASH", "TOKEN-NET1", "TOKEN-NET2", "BEAD"]


class Cluster:
    """`masters` primaries sharing the slots, and with `replicas` one replica each
    (`self.replicas[i]` of `self.nodes[i]`)."""

    def __init__(self, binary: Path, folder: Path, masters: int = 3, replicas: bool = False,
                 node_timeout_ms: int = 2000) -> None:
        def node(name: str) -> RedisServer:
            data = folder / name
            return RedisServer(data, binary=binary, port=cluster_port(),
                               appendfsync="everysec" if replicas else None, extra_args=[
                "--cluster-enabled", "yes", "--cluster-node-timeout", str(node_timeout_ms),
                "--cluster-config-file", str(data / "nodes.conf")])

        self.nodes = [node(f"node{i}") for i in range(masters)]
        self.replicas = [node(f"replica{i}") for i in range(masters)] if replicas else []

    def start(self) -> Cluster:
        for node in [*self.nodes, *self.replicas]:
            node.start()
        clients = [redis.Redis(port=n.port) for n in self.nodes]
        share = SLOTS // len(clients)
        for i, client in enumerate(clients):
            last = SLOTS - 1 if i == len(clients) - 1 else (i + 1) * share - 1
            client.execute_command(  # type: ignore[no-untyped-call]
                "CLUSTER ADDSLOTS", *range(i * share, last + 1))
        for client in clients[1:]:
            client.execute_command(  # type: ignore[no-untyped-call]
                "CLUSTER MEET", "127.0.0.1", self.nodes[0].port)
        deadline = time.monotonic() + 20
        while not all(c.execute_command("CLUSTER INFO")["cluster_state"] == "ok"  # type: ignore[no-untyped-call]
                      for c in clients):
            assert time.monotonic() < deadline, "the test cluster did not come up"
            time.sleep(0.1)
        for primary, replica in zip(clients, self.replicas, strict=False):
            # the replicas sync at once, not after the default 5 s wait for more of them
            primary.config_set("repl-diskless-sync-delay", 0)
            primary_id = text(primary.execute_command("CLUSTER MYID"))  # type: ignore[no-untyped-call]
            with redis.Redis(port=replica.port) as r:
                r.execute_command(
                    "CLUSTER MEET", "127.0.0.1", self.nodes[0].port)
                while primary_id not in str(r.execute_command("CLUSTER NODES")):
                    assert time.monotonic() < deadline + 20, "a replica did not meet the cluster"
                    time.sleep(0.05)
                r.execute_command("CLUSTER REPLICATE", primary_id)
        for replica in self.replicas:  # synced, not just connected
            with redis.Redis(port=replica.port) as r:
                while r.info("replication").get("master_link_status") != "up":
                    assert time.monotonic() < deadline + 40, "a replica did not sync"
                    time.sleep(0.05)
        for c in clients:
            c.close()
        return self

    def stop(self) -> None:
        for node in [*self.nodes, *self.replicas]:
            node.stop()


def cluster_port() -> int:
    """A free port whose cluster bus port (10,000 above) is free too."""
    for _ in range(200):
        port = random.randint(20_000, 55_000)
        try:
            for candidate in (port, port + 10_000):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair for a cluster node")


@pytest.fixture(scope="module", params=SERVERS,
                ids=lambda b: f"cluster-{server_name(b)}" if b else "no-redis")
def cluster(request: pytest.FixtureRequest,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if request.param is None:
        pytest.fail("no redis-server found to build a cluster from")
    nodes = Cluster(request.param, tmp_path_factory.mktemp("cluster")).start()
    yield nodes
    nodes.stop()


@pytest.fixture
def cluster_pool(cluster: Cluster) -> Iterator[WalletPool]:
    client = RedisCluster(host="127.0.0.1", port=cluster.nodes[0].port)
    client.flushall(target_nodes=RedisCluster.PRIMARIES)
    yield WalletPool(client)
    client.close()


def test_pools_spread_over_the_nodes_and_each_runs_on_one_slot(
        cluster_pool: WalletPool) -> None:
    client = cluster_pool.redis
    assert isinstance(client, RedisCluster)
    nodes = {client.get_node_from_key(f"wp:{{{p}}}:free").name  # type: ignore[no-untyped-call]
             for p in POOLS}
    assert len(nodes) > 1, "all pools landed on one node; the test proves nothing"
    for pool in POOLS:
        cluster_pool.configure(pool, lease_ttl=60)
        assert cluster_pool.add(pool, [f"{pool.lower()}-{i}" for i in range(3)]).added == 3
        leases = [cluster_pool.allocate(pool, f"order-{i}") for i in range(3)]
        assert [x.address for x in leases] == [f"{pool.lower()}-{i}" for i in range(3)]
        with pytest.raises(PoolExhausted):
            cluster_pool.allocate(pool, "order-late")
        assert cluster_pool.release_many(leases) == [True, True, True]
        assert cluster_pool.stats(pool).free == 3
    assert cluster_pool.pools() == sorted(POOLS)


def flush_scripts(cluster: Cluster) -> None:
    for node in cluster.nodes:
        with redis.Redis(port=node.port) as client:
            client.script_flush()


def test_calls_and_pipelines_heal_after_script_flush_on_every_node(
        cluster: Cluster, cluster_pool: WalletPool) -> None:
    for pool in POOLS:
        cluster_pool.configure(pool)  # a plain pool, made on purpose
        cluster_pool.add(pool, [f"{pool.lower()}-a"])
    flush_scripts(cluster)
    leases = [cluster_pool.allocate(pool, "o1") for pool in POOLS]
    flush_scripts(cluster)
    pipe = cluster_pool.pipeline()
    for lease in leases:
        pipe.release(lease)
    assert pipe.execute() == ["free"] * len(POOLS)


def test_orders_wait_on_every_node_sync_and_asyncio(cluster: Cluster,
                                                    cluster_pool: WalletPool) -> None:
    """Waiting on a Cluster: the hub's XREAD and wait_check go to the node of the
    pool's slot; a wallet released on one pool is handed to that pool's first waiter."""
    import asyncio
    import threading

    from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster

    from walletpool import AsyncWalletPool, WaitTimeout

    held = {}
    for pool in POOLS:
        cluster_pool.configure(pool)  # a plain pool, made on purpose
        cluster_pool.add(pool, [f"{pool.lower()}-a"])
        held[pool] = cluster_pool.allocate(pool, "holder")
    got: dict[str, object] = {}

    def wait(pool: str) -> None:
        got[pool] = cluster_pool.allocate(pool, "waiter", wait=10)

    threads = [threading.Thread(target=wait, args=(pool,)) for pool in POOLS]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 10
    while (sum(cluster_pool.stats(p).waiting for p in POOLS) < len(POOLS)
           and time.monotonic() < deadline):
        time.sleep(0.02)
    for pool in POOLS:
        cluster_pool.release(held[pool])
    for thread in threads:
        thread.join()
    assert {p: getattr(got[p], "address", None) for p in POOLS} == {
        p: f"{p.lower()}-a" for p in POOLS}

    async def on_asyncio() -> None:
        client = AsyncRedisCluster(host="127.0.0.1", port=cluster.nodes[0].port)
        pool = AsyncWalletPool(client)
        try:
            late = asyncio.create_task(pool.allocate(POOLS[0], "late", wait=0.3))
            waiting = asyncio.create_task(pool.allocate(POOLS[1], "next", wait=10))
            while (await pool.stats(POOLS[1])).waiting < 1:
                await asyncio.sleep(0.02)
            await pool.release(got[POOLS[1]])  # type: ignore[arg-type]
            lease = await waiting
            assert lease.owner == "next" and lease.address == f"{POOLS[1].lower()}-a"
            try:
                await late
            except WaitTimeout:
                pass
            else:
                raise AssertionError("the late order got a wallet no one freed")
        finally:
            await pool.close()

    asyncio.run(on_asyncio())

"""`walletpool reconcile` sees damage in a pool's own Redis structures, not only
differences with the database, and `--repair` mends each kind (issue "Operators").
Every kind of damage is planted by hand on a real Redis, as a stray command would."""

from __future__ import annotations

import json
from typing import Any

import redis
import sqlalchemy as sa
from click.testing import CliRunner

from tests.conftest import on_first_server
from tests.invariants import check_invariants
from walletpool import WalletPool
from walletpool.cli import main
from walletpool.dev.redis_server import RedisServer
from walletpool.keys import KEY_ORDER, pool_keys
from walletpool.store.apply import Event
from walletpool.syncer import Syncer

POOL = "COIN"
K = dict(zip(KEY_ORDER, pool_keys("wp", POOL), strict=True))


def sync(pool: WalletPool, engine: sa.Engine) -> None:
    syncer = Syncer(pool.redis, engine, rebalance_every=None)
    while syncer.run_once():
        pass


@on_first_server
def test_reconcile_finds_each_planted_damage_and_repair_mends_it(
        redis_server: RedisServer, redis_client: redis.Redis, pg: sa.Engine) -> None:
    url = pg.url.render_as_string(hide_password=False)

    def reconcile(*flags: str) -> tuple[int, dict[str, Any]]:
        result = CliRunner().invoke(main, ["--redis-url", redis_server.url, "reconcile",
                                           "--database-url", url, "--json", *flags])
        return result.exit_code, json.loads(result.output)

    with WalletPool.from_url(redis_server.url) as pool:
        pool.configure(POOL, lease_ttl=600, cooldown=60, max_size=100)
        pool.add(POOL, [f"w{i}" for i in range(10)])
        pool.allocate(POOL, "o1")  # w0
        pool.allocate(POOL, "o2")  # w1
        pool.release(pool.allocate(POOL, "o3"))  # w2 cooling
        pool.retire(POOL, "w9")
        raw = redis.Redis(port=redis_server.port)
        before: dict[str, Any] = {k: raw.dump(k) for k in K.values() if raw.exists(k)}
        lost = pool.allocate(POOL, "o4")  # w3: Redis will lose this write
        sync(pool, pg)
        assert reconcile() == (0, {"differences": [], "damage": [], "repaired": 0, "left": []})

        for k, value in before.items():  # an old copy of the pool, as from an old AOF
            raw.restore(k, 0, value, replace=True)
        redis_client.lrem(K["free"], 1, "w5")                       # a lost free wallet
        redis_client.rpush(K["free"], "w0")                         # free and leased at once
        redis_client.rpush(K["free"], "w6")                         # twice in the free queue
        redis_client.zrem(K["expiry"], "w1")                        # a lease without deadline
        redis_client.zadd(K["expiry"], {"w7": 1})                   # a deadline without lease
        redis_client.rpush(K["free"], "ghost")                      # never added
        redis_client.hset(K["leases"], ">nobody", "w8")             # a stale owner entry
        redis_client.set(K["seq"], 1)                               # the counter went back

        code, found = reconcile()
        assert code == 1
        damage = {d["address"]: d["found"] for d in found["damage"]}
        assert damage["w5"] == "in no place: it can never be handed out"
        assert damage["w0"].startswith("in free+leased at once")
        assert damage["w6"] == "2 times in the free queue"
        assert damage["w1"] == "leased without its deadline in the expiry index"
        assert damage["w7"] == "a deadline in the expiry index without a lease"
        assert damage["ghost"] == "in free but never added"
        assert damage[">nobody"].startswith("owner index entry names w8")
        assert damage[""].startswith("a lease's token") and "fencing counter 1" in damage[""]
        assert damage["w3"].startswith("the database has a newer record: leased to o4")
        assert len(damage) == 9

        code, repaired = reconcile("--repair")
        assert (code, repaired["repaired"], repaired["left"]) == (0, 9, []), repaired["left"]
        check_invariants(redis_client, "wp", POOL)
        held = pool.get_lease(POOL, "o4")  # the lost lease is back, token and all
        assert held is not None and (held.address, held.token) == (lost.address, lost.token)
        assert pool.get_lease(POOL, "o1") is not None and pool.get_lease(POOL, "o2") is not None
        free = pool.peek(POOL, 20)
        assert "ghost" not in free and "w0" not in free and free.count("w6") == 1
        assert "w5" in free and "w3" not in free
        entries: Any = redis_client.xrevrange(K["events"], count=1)
        lines = Event.of_entry(POOL, entries[0][0], entries[0][1])
        assert {e.type for e in lines} == {"repaired"} and len(lines) == 9

        sync(pool, pg)  # the database learns the repairs like any change
        assert reconcile() == (0, {"differences": [], "damage": [], "repaired": 0, "left": []})

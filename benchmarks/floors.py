"""What walletpool stands on, driven exactly as walletpool's sequential row (redis-py,
one EVALSHA to allocate and one to release, sequential): the raw minimal cycle (pop
and mark, unmark and push) and a minimal allocation that does only what an allocation
cannot skip (time, pop, owner index, token, deadline index, one event) with its
minimal release (read the owner's lease, drop it and its deadline, push back, one
event). The gap between these rows and walletpool's is what the engine's guarantees
(idempotence, fencing checks, settling, cooldown, retirement, layout check) cost.

Also Redis's own time per call of each script (INFO commandstats), allocate and
release apart, on every server binary found: the part of a call that is Redis's.
walletpool's calls are FCALLs where the server has Functions, EVALSHAs elsewhere, as a
client makes them; the floors are EVALSHAs of scripts too small to gain from Functions."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from walletpool import WalletPool
from walletpool.dev.redis_server import RedisServer, find_binaries, server_name

from .measure import Round

RAW_POP = "local a = redis.call('LPOP', KEYS[1]); redis.call('HSET', KEYS[2], a, ARGV[1]); return a"
RAW_PUSH = "redis.call('HDEL', KEYS[2], ARGV[1]); redis.call('RPUSH', KEYS[1], ARGV[1]); return 1"
MINIMAL_ALLOCATE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local a = redis.call('LPOP', KEYS[1])
local token = redis.call('INCR', KEYS[3])
redis.call('HSET', KEYS[2], ARGV[1], a .. ' ' .. token)
redis.call('ZADD', KEYS[4], now + 600000, ARGV[1])
redis.call('XADD', KEYS[5], '*', 'c', 'allocated ' .. a .. ' ' .. ARGV[1] .. ' ' .. token)
return {a, token, now + 600000}
"""
MINIMAL_RELEASE = """
local held = redis.call('HGET', KEYS[2], ARGV[1])
local a = held:match('^(%S+)')
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('RPUSH', KEYS[1], a)
redis.call('XADD', KEYS[5], '*', 'c', 'released ' .. a .. ' ' .. ARGV[1])
return 1
"""
MINIMAL_KEYS = ["min:{m}:free", "min:{m}:leases", "min:{m}:seq", "min:{m}:expiry",
                "min:{m}:events"]
RAW_KEYS = ["raw:{r}:free", "raw:{r}:marks"]


@dataclass
class Pair:
    """An allocate script and its release, called as walletpool's sequential row is."""

    name: str
    allocate: str
    release: str
    keys: list[str]
    release_by_reply: bool = False
    """The release takes what allocate replied (the address), not the owner."""

    def fill(self, client: redis.Redis, wallets: int) -> None:
        client.delete(*self.keys)
        for i in range(0, wallets, 5_000):
            client.rpush(self.keys[0], *[f"{self.name[:3]}{j:036d}"
                                         for j in range(i, min(wallets, i + 5_000))])

    def calls(self, client: redis.Redis) -> tuple[Any, Any]:
        a, r = client.script_load(self.allocate), client.script_load(self.release)
        keys = self.keys

        def allocate(owner: str) -> Any:
            return client.evalsha(a, len(keys), *keys, owner)

        def release(owner: str, reply: Any) -> Any:
            return client.evalsha(r, len(keys), *keys, reply if self.release_by_reply else owner)

        return allocate, release

    def round(self, client: redis.Redis) -> Round:
        allocate, release = self.calls(client)

        def one_round(cycles: int, latencies: list[float]) -> None:
            for i in range(cycles):
                t = time.perf_counter()
                owner = f"order-{i}"
                release(owner, allocate(owner))
                latencies.append(time.perf_counter() - t)

        return one_round


RAW = Pair("raw", RAW_POP, RAW_PUSH, RAW_KEYS, release_by_reply=True)
MINIMAL = Pair("minimal", MINIMAL_ALLOCATE, MINIMAL_RELEASE, MINIMAL_KEYS)
ROW_NAMES = {
    "raw": "raw minimal EVALSHA cycle (pop+mark, unmark+push)",
    "minimal": "minimal allocation script + release (pop, owner index, token, deadline, event)",
}


def _us(client: redis.Redis) -> float:
    """Redis's µs per script call since the last reset: EVALSHA, or FCALL where the
    client used Functions (Redis 7, Valkey)."""
    stats = client.info("commandstats")
    calls = usec = 0.0
    for command in ("cmdstat_evalsha", "cmdstat_fcall"):
        calls += float(stats.get(command, {}).get("calls", 0))
        usec += float(stats.get(command, {}).get("usec", 0))
    return usec / calls if calls else 0.0


def server_times(client: redis.Redis, pool: WalletPool, pool_name: str, calls: int
                 ) -> dict[str, float]:
    """Redis's µs per call of each script, allocate and release measured apart (each
    phase its own CONFIG RESETSTAT), the client's time left out."""
    out: dict[str, float] = {}
    noop = client.script_load("return 1")
    client.config_resetstat()
    for _ in range(calls):
        client.evalsha(noop, 0)
    out["no-op"] = _us(client)
    for pair in (RAW, MINIMAL):
        pair.fill(client, calls)
        allocate, release = pair.calls(client)
        client.config_resetstat()
        replies = [allocate(f"order-{i}") for i in range(calls)]
        out[f"{pair.name} allocate"] = _us(client)
        client.config_resetstat()
        for i, reply in enumerate(replies):
            release(f"order-{i}", reply)
        out[f"{pair.name} release"] = _us(client)
    client.config_resetstat()
    leases = [pool.allocate(pool_name, f"order-{i}") for i in range(calls)]
    out["walletpool allocate"] = _us(client)
    client.config_resetstat()
    for lease in leases:
        pool.release(lease)
    out["walletpool release"] = _us(client)
    return out


def every_server(folder: Path, calls: int, rounds: int) -> dict[str, dict[str, float]]:
    """server_times on each server binary found (Redis 6.2, 7.x, Valkey 9), medians of
    `rounds`, each server started afresh with the benchmark's settings (AOF on)."""
    out: dict[str, dict[str, float]] = {}
    for binary in find_binaries():
        name = server_name(binary)
        with RedisServer(folder / name, binary=binary) as server:
            client = redis.Redis(port=server.port)
            with WalletPool.from_url(server.url) as pool:
                pool.configure("TIMED", lease_ttl=600, cooldown=0, max_size=10 * calls,
                               min_free=0)
                pool.add("TIMED", [f"timed{i:036d}" for i in range(calls + 10)])
                runs = [server_times(client, pool, "TIMED", calls) for _ in range(rounds)]
            client.close()
        out[name] = {k: sorted(r[k] for r in runs)[len(runs) // 2] for k in runs[0]}
    return out


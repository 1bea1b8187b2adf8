"""Least privilege: the ACL rules of the Redis users walletpool needs, for
`ACL SETUSER` (docs/operations/security.md). The engine's user runs the scripts (the
commands they call are checked too) and waits for replicas; the syncer's adds reading
and trimming the pools' streams. Both reach only keys under their prefix. Operators
(`restore`, `doctor`, `upgrade`) use an administrator's account."""

from __future__ import annotations

SCRIPTING = ("eval", "evalsha", "ping", "scan", "wait", "xread")
"""Calling the scripts, finding pools, waiting for replicas, and reading a pool's stream
while orders wait (walletpool/hub.py)."""

IN_SCRIPTS = ("time", "get", "set", "del", "exists",
              "hget", "hmget", "hset", "hdel", "hexists", "hincrby", "hlen", "hscan",
              "lpop", "rpush", "lrange", "lrem", "llen",
              "sadd", "srem", "sismember", "scard",
              "zadd", "zrem", "zscore", "zcard", "zcount", "zrange", "zrangebyscore",
              "xadd", "xlen", "xtrim", "xinfo|stream", "xinfo|groups", "info")
"""What the Lua scripts call (lua/ and lua/includes/); INFO for the run id that tells a
pool armed for healing whether Redis is still the process the database vouched for;
XINFO GROUPS and XTRIM for the cap of a stream no syncer has attached to."""

SYNCING = ("xreadgroup", "xack", "xautoclaim", "xgroup|create", "xinfo|groups", "xpending",
           "xrange", "xtrim", "xlen")
"""What the syncer adds: its consumer group on each pool's stream."""


def rules(prefix: str = "wp", *, syncer: bool = False, functions: bool = True,
          waitaof: bool = True) -> str:
    """The rules after `ACL SETUSER name on >password`. `functions`: the server has
    FUNCTION (Redis 7+, Valkey), so the user may load walletpool's library;
    `waitaof`: it has WAITAOF (Redis 7.2+, Valkey), for fsync=True."""
    commands = [*SCRIPTING, *IN_SCRIPTS, *(SYNCING if syncer else ())]
    if functions:
        commands += ["fcall", "function|load"]
    if waitaof:
        commands.append("waitaof")
    allowed = " ".join(f"+{c}" for c in dict.fromkeys(commands))
    return f"resetkeys ~{prefix}:* resetchannels -@all {allowed}"


def features(info: dict[str, object]) -> dict[str, bool]:
    """What `rules` needs to know of a server, from its INFO: Redis 7.0 brought
    FUNCTION, 7.2 WAITAOF (Valkey reports a redis_version of 7.2 or later)."""
    raw = info.get("redis_version", "0")
    version = raw.decode() if isinstance(raw, bytes) else str(raw)
    major_minor = tuple(int(p) for p in version.split(".")[:2] if p.isdigit())
    return {"functions": major_minor >= (7, 0), "waitaof": major_minor >= (7, 2)}

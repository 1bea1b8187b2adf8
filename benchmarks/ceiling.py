"""The ceiling: Redis driven by its own C client, `redis-benchmark`, with 50 connections,
without and with pipelining. Two scripts: a no-op (what Redis does per EVALSHA at all)
and walletpool's allocate.lua on a pool holding a wallet for every call, so none runs
dry and each call is one real allocation (a random owner each). A cycle is two such
calls (release costs about as much inside Redis as allocate), so these rates are calls/s,
about twice the cycle ceiling. Skipped (with a note) where redis-benchmark is not
installed."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess

import redis

from walletpool.engine.scripts import library, script
from walletpool.keys import pool_keys

from .measure import Row


def redis_benchmark() -> str | None:
    return shutil.which("redis-benchmark")


def _rps(binary: str, port: int, requests: int, pipeline: int, command: list[str]) -> Row:
    out = subprocess.run(
        [binary, "-p", str(port), "-n", str(requests), "-c", "50", "-P", str(pipeline),
         "-r", "1000000000", "--csv", *command],
        capture_output=True, text=True, check=True, timeout=600).stdout
    record = list(csv.DictReader(io.StringIO(out)))[-1]
    return Row("ceiling", "", float(record["rps"]), float(record["p50_latency_ms"]) * 1000,
               float(record["p99_latency_ms"]) * 1000)


def rows(port: int, client: redis.Redis, pool: str, requests: int) -> list[Row]:
    binary = redis_benchmark()
    if binary is None:
        return []
    noop = client.script_load("return 1")
    allocate = script("allocate")
    client.script_load(allocate.source)
    keys = list(pool_keys("wp", pool))
    call = ["EVALSHA", allocate.sha]
    try:  # as a client calls it: FCALL where the server has Functions
        client.function_load(library().source, replace=True)
        call = ["FCALL", library().function("allocate")]
    except redis.ResponseError:
        pass
    out = []
    for label, command in [
        ("no-op EVALSHA", ["EVALSHA", noop, "0"]),
        ("allocate.lua", [*call, str(len(keys)), *keys, "o:__rand_int__", "0", "", ""]),
    ]:
        for pipeline in (1, 100):
            row = _rps(binary, port, requests, pipeline, command)
            row.name = f"redis-benchmark {label}, 50 clients" + (
                f", pipeline {pipeline}" if pipeline > 1 else "")
            row.note = "calls/s"
            out.append(row)
    return out

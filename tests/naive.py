"""The design walletpool replaces, kept deliberately naive for the stress test to show
what goes wrong: the client pops an address (RPOP), checks whether it is marked in
use, then marks it, each in its own round trip; release unmarks and pushes back; a
reaper pushes back whatever mark has expired. Nothing is atomic and nothing is fenced."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import redis

from walletpool import PoolExhausted


@dataclass(frozen=True)
class NaiveLease:
    address: str
    owner: str
    token: int = 0


class NaivePool:
    def __init__(self, url: str, pool: str) -> None:
        self.redis = redis.Redis.from_url(url, decode_responses=True)
        self.free = f"naive:{pool}:free"
        self.marks = f"naive:{pool}:marks"  # address -> "owner deadline"

    def add(self, addresses: list[str]) -> None:
        self.redis.lpush(self.free, *addresses)

    def allocate(self, owner: str, ttl: float) -> NaiveLease:
        while True:
            address: Any = self.redis.rpop(self.free)
            if address is None:
                raise PoolExhausted("naive pool empty", pool=self.free, free=0, leased=0, cooling=0)
            mark = self.redis.hget(self.marks, address)  # check ...
            if mark is not None and float(mark.split()[1]) > time.time():
                self.redis.lpush(self.free, address)  # someone holds it: put it back
                continue
            self.redis.hset(self.marks, address, f"{owner} {time.time() + ttl}")  # ... mark
            return NaiveLease(address, owner)

    def extend(self, lease: NaiveLease, ttl: float) -> NaiveLease:
        self.redis.hset(self.marks, lease.address, f"{lease.owner} {time.time() + ttl}")
        return lease

    def release(self, lease: NaiveLease) -> str:
        self.redis.hdel(self.marks, lease.address)
        self.redis.lpush(self.free, lease.address)
        return "free"

    def reap(self) -> int:
        reaped = 0
        for address, mark in self.redis.hgetall(self.marks).items():
            if float(mark.split()[1]) <= time.time():
                self.redis.hdel(self.marks, address)
                self.redis.lpush(self.free, address)
                reaped += 1
        return reaped

    def close(self) -> None:
        self.redis.close()

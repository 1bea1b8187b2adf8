"""Mutation testing: the suite is known to catch bugs in the scripts. Each one-line
mutation below is written into a copy of the source tree, and the behaviour tests and
the model-based test run against it in a subprocess; every mutant must make them fail.
A mutant that passed would mean the suite is blind to that bug."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from walletpool.dev.redis_server import find_binaries

ROOT = Path(__file__).resolve().parent.parent

# (what breaks, file, original text, mutated text, the behaviour tests of its area):
# each a one-line change. A mutant runs its area's tests (tests/test_<area>.py) and
# the model test, which must fail; the unmutated copy runs them all, which must pass.
# (One run of every file per mutant spent most of its time collecting them.)
MUTATIONS: list[tuple[str, ...]] = [
    ("FIFO: pop from the tail", "includes/lease_heads.lua",
     "redis.call('LPOP', K.free)", "redis.call('RPOP', K.free)", "allocate"),
    ("FIFO: release to the head", "includes/return_wallets.lua", "bulk('RPUSH', K.free, free)",
     "bulk('LPUSH', K.free, free)", "release"),
    ("fencing: no token check", "includes/release_leases.lua", "lease.t ~= tokens[i] or ", "",
     "release"),
    ("fencing: tokens restart", "includes/tokens.lua",
     "if old + n <= last then return last end", "if true then return last end", "allocate"),
    ("fencing: tokens lag the clock (a promoted replica repeats them)", "includes/tokens.lua",
     "local last = math.max(now * TOKENS_PER_MS, conf.now_us or 0) + n", "local last = n",
     "allocate upgrade"),
    ("expiry: a lease outlives its deadline", "includes/release_leases.lua",
     "elseif tonumber(lease.e) <= now then\n      outcomes[i]",
     "elseif tonumber(lease.e) < now - 1000 then\n      outcomes[i]", "release"),
    ("expiry: off by one at the deadline", "includes/live_lease_of.lua",
     "if tonumber(lease.e) <= now then\n    expire_leases",
     "if tonumber(lease.e) < now then\n    expire_leases", "reap"),
    ("idempotence: a second lease per owner", "includes/allocate_one.lua",
     "local address, lease = live_lease_of(conf, now, owner)", "local address, lease = nil, nil",
     "allocate"),
    ("dedupe: add ignores known wallets", "add.lua",
     "if not known[i] then fresh", "if true then fresh", "add"),
    ("bound: max_size not enforced", "add.lua", "serving + #fresh > max_size", "false", "add"),
    ("cooldown: cooled wallets return early", "includes/promote_cooled.lua",
     "now - conf.cooldown_ms,", "now,", "reap"),
    ("wear: uses not counted", "includes/lease_heads.lua",
     "conf.max_uses > 0 and redis.call('HINCRBY', K.uses, address, 1) or nil",
     "conf.max_uses > 0 and 1 or nil", "release"),
    ("owner index: a lease without its owner's field", "includes/lease_heads.lua",
     "pack_lease(lease), owner_field(lease.o), popped[1])",
     "pack_lease(lease))", "allocate"),
    ("events: only the first change of a call recorded", "includes/emit.lua",
     "table.concat(CHANGES, '\\n')", "CHANGES[1]", "events networks"),
    ("layout: a pool in layout 1 is served", "includes/layout.lua",
     "return conf.exists and conf.layout ~= LAYOUT", "return false", "upgrade"),
    ("upgrade: leases lose their owner index", "upgrade.lua",
     "pack_lease(lease), owner_field(old.o), address)", "pack_lease(lease))", "upgrade"),
    ("retire: a leased wallet keeps its lease", "retire.lua",
     "drop_leases({address}, {lease})", "local _ = lease", "retire"),
    ("family: a second pool takes a claimed address", "claim.lua",
     "elseif owners[i] ~= pool then", "elseif false then", "networks"),
    ("low water: no alert at one below the mark", "includes/low_water.lua",
     "if free >= conf.min_free then return -1 end",
     "if free + 1 >= conf.min_free then return -1 end", "alerts"),
    ("alerts: exhaustion not counted", "includes/exhausted.lua",
     "redis.call('HINCRBY', K.conf, 'exhausted_count', 1)",
     "local _ = 1", "alerts"),
    ("network: an add checked for another network lands", "add.lua",
     "conf.network ~= defaults.network then", "false then", "networks"),
    ("waiters: the hand-off goes to the second in line", "includes/waiters.lua",
     "local first = redis.call('ZRANGE', K.waiters, 0, 0)[1]",
     "local first = redis.call('ZRANGE', K.waiters, 0, 1)[2] or "
     "redis.call('ZRANGE', K.waiters, 0, 0)[1]", "waiting"),
    ("waiters: priority inverted", "includes/waiters.lua",
     "(high and 0 or NORMAL)", "(high and NORMAL or 0)", "waiting"),
    ("waiters: a waiter past its deadline is handed a wallet", "includes/waiters.lua",
     "elseif ticket.deadline <= now then\n      drop_waiter(first",
     "elseif ticket.deadline < now - 1000 then\n      drop_waiter(first", "waiting"),
    ("waiters: a released wallet is not handed on", "release.lua",
     "hand_off(conf, now)  -- the wallet", "local _ = conf  -- the wallet", "waiting"),
    ("waiters: a cancelled order keeps the wallet handed to it", "withdraw.lua",
     "give_back == '1' and tonumber(lease.l) >= joined", "false", "waiting"),
    ("coalescing: the batch script serves its callers last first", "allocate_batch.lua",
     "for i = 1, n do\n  if replies[i] == nil then\n    local at",
     "for i = n, 1, -1 do\n  if replies[i] == nil then\n    local at", "coalesce"),
    # (files outside lua/ are named from there)
    ("coalescing: a batch taken out of arrival order", "../coalesce.py",
     "caller = lane.queue.popleft()", "caller = lane.queue.pop()", "coalesce"),
    ("coalescing: one caller's error given to another", "../engine/batches.py",
     "    return [_outcome(call, r) for call, r in zip(calls, own, strict=True)]",
     "    return sorted((_outcome(call, r) for call, r in zip(calls, own, strict=True)),"
     " key=lambda o: o[1] is None)", "coalesce"),
    ("coalescing: a cancelled caller's lease kept", "../coalesce.py",
     "back = call.cancel if call.cancel is not None else taking_back(call, outcome)",
     "back = None", "coalesce"),
    ("coalescing: one wait skipped for a batch", "../client.py",
     "acknowledged: list[int] | None = [] if self._durability.applies(batch) else None",
     "acknowledged: list[int] | None = None", "coalesce"),
    ("memory: a syncer's group trimmed by the cap", "includes/emit.lua",
     "if #redis.call('XINFO', 'GROUPS', K.events) > 0 then", "if false then", "stream_cap"),
    ("memory: a late syncer misses what the cap dropped", "resync.lua",
     "if redis.call('HEXISTS', K.conf, 'capped') == 0 then return {'whole'} end",
     "do return {'whole'} end", "stream_cap"),
]
SUITE = sorted({f"tests/test_{area}.py" for *_, areas in MUTATIONS for area in areas.split()}
               | {"tests/test_model.py"})
"""What the unmutated copy runs: every file a mutant runs."""


def run_suite_on(mutation: tuple[str, ...], workdir: Path,
                 ) -> subprocess.CompletedProcess[str]:
    _, file, old, new, areas = mutation
    suite = ([f"tests/test_{area}.py" for area in areas.split()] + ["tests/test_model.py"]
             if areas else SUITE)
    shutil.copytree(ROOT / "walletpool", workdir / "walletpool",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "tests", workdir / "tests",
                    ignore=shutil.ignore_patterns("__pycache__"))
    target = workdir / "walletpool" / "lua" / file
    source = target.read_text()
    assert source.count(old) == 1, f"mutation target must occur once in {file}: {old!r}"
    target.write_text(source.replace(old, new))
    env = {**os.environ, "PYTHONPATH": str(workdir), "HYPOTHESIS_PROFILE": "mutation",
           "WALLETPOOL_REDIS_SERVER": str(find_binaries()[0])}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
         "--rootdir", str(workdir), *suite],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=600)


UNMUTATED = ("none", "includes/bulk.lua", "local SLICE = 1000", "local SLICE = 1000", "")
"""The harness itself: the same copy without a change must pass, or every 'caught'
could be the copy being broken."""


def test_the_suite_catches_every_seeded_bug_and_passes_the_unmutated_copy(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert find_binaries(), "no redis-server to run the mutants against"
    jobs = [UNMUTATED, *MUTATIONS]  # one pool of two runners for all: the copy runs beside
    with ThreadPoolExecutor(max_workers=2) as runners:
        results = list(runners.map(lambda m: run_suite_on(m[1], tmp_path / str(m[0])),
                                   enumerate(jobs)))
    unmutated, results = results[0], results[1:]
    assert unmutated.returncode == 0, unmutated.stdout[-3000:]
    survived = []
    with capsys.disabled():
        print()
        for (what, *_), done in zip(MUTATIONS, results, strict=True):
            failing = [line for line in done.stdout.splitlines() if line.startswith("FAILED")]
            # a mutant that broke the Lua would fail everything and prove nothing
            broken = "compiling script" in done.stdout or " script failed on Redis" in done.stdout
            caught = done.returncode == 1 and failing and not broken
            print(f"  mutant {'caught' if caught else 'SURVIVED'}: {what}"
                  + (f"  <- {failing[0].split('::')[1][:70]}" if failing else ""))
            if not caught:
                survived.append(f"{what}: exit {done.returncode}\n{done.stdout[-1500:]}")
    assert not survived, "\n".join(survived)

"""The model-based test is known to catch bugs: each one-line mutation of a script
below must make it fail. A mutation it let pass would mean the test is blind there."""

from __future__ import annotations

import pytest
import redis
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from tests.test_model import PoolMachine
from walletpool import WalletPool, _core
from walletpool.scripts import LIB, Script, lua_dir, script

# (what breaks, file, original line part, mutated)
MUTATIONS = [
    ("FIFO: pop from the tail", LIB, "redis.call('LPOP', K.free)", "redis.call('RPOP', K.free)"),
    ("FIFO: release to the head", LIB, "bulk('RPUSH', K.free, free)",
     "bulk('LPUSH', K.free, free)"),
    ("fencing: no token check", LIB, "lease.t ~= tokens[i] or ", ""),
    ("expiry: a lease outlives its deadline", LIB,
     "elseif tonumber(lease.e) <= now then\n      outcomes[i]",
     "elseif tonumber(lease.e) < now - 1000 then\n      outcomes[i]"),
    ("idempotence: a second lease per owner", "allocate.lua",
     "local address, lease = live_lease_of(conf, now, owner)", "local address, lease = nil, nil"),
    ("dedupe: add ignores known wallets", "add.lua",
     "redis.call('HEXISTS', K.state, address) == 0", "true"),
    ("cooldown: cooled wallets return early", LIB, "now - conf.cooldown_ms,", "now,"),
    ("wear: uses not counted", LIB, "redis.call('HINCRBY', K.uses, address, 1)", ""),
]


def mutated(name: str, file: str, old: str, new: str) -> Script:
    original = script(name)
    source = (lua_dir() / file).read_text()
    assert old in source, f"mutation target not found in {file}: {old!r}"
    mutated_source = original.source.replace(old, new)
    assert mutated_source != original.source
    return Script(name, mutated_source, "0" * 39 + "1")  # a sha Redis has never seen


@pytest.mark.parametrize(("what", "file", "old", "new"), MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_the_model_test_catches_a_seeded_bug(
        what: str, file: str, old: str, new: str, redis_client: redis.Redis, pool: WalletPool,
        monkeypatch: pytest.MonkeyPatch) -> None:
    names = [p.stem for p in lua_dir().glob("*.lua") if p.name != LIB]
    targets = names if file == LIB else [file.removesuffix(".lua")]
    bad = {n: mutated(n, file, old, new) for n in targets if old in script(n).source}
    assert bad, f"no script contains the mutation target {old!r}"
    monkeypatch.setattr(_core, "script", lambda n: bad.get(n) or script(n))
    quick = settings(max_examples=300, phases=[Phase.generate], deadline=None,
                     suppress_health_check=list(HealthCheck), print_blob=False)
    # A wrong result fails an assert, a refusal Redis did not make fails pytest.raises,
    # a refusal the model did not expect propagates: any of them is the test failing.
    with pytest.raises((Exception, pytest.fail.Exception)) as caught:
        run_state_machine_as_test(lambda: PoolMachine(pool, redis_client), settings=quick)
    # the mutant ran and behaved wrongly; it did not merely break the script
    assert "user_script" not in str(caught.value) and "compiling" not in str(caught.value)

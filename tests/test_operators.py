"""The operator's side (issue "Operators"): each defect found by trying the command line
as a new operator would, reproduced here, so that it stays fixed."""

from __future__ import annotations

from typing import Protocol

import pytest
import redis
from click.testing import CliRunner, Result

from walletpool import PoolNotFound, WalletNotFound, WalletPool
from walletpool.chains import network, sample_addresses
from walletpool.cli import main
from walletpool.dev.redis_server import RedisServer
from walletpool.testing import freeze_clock, shift_clock

ETH = sample_addresses("eth", 3)  # lowercase, as the pool stores them
SHOWN = [network("eth").show(a) for a in ETH]  # EIP-55, as people copy them


class Cli(Protocol):
    def __call__(self, *args: str, input: str | None = None) -> Result: ...


@pytest.fixture
def cli(redis_server: RedisServer, redis_client: redis.Redis) -> Cli:
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None) -> Result:
        return runner.invoke(main, ["--redis-url", redis_server.url, *args], input=input)

    return invoke


def test_retire_takes_the_address_as_allocate_prints_it_and_refuses_an_unknown_one(
        cli: Cli, sync_pool: WalletPool) -> None:
    """Defect 1: the EIP-55 form that `allocate` prints missed the stored lowercase one,
    so a compromised wallet stayed in service while `retire` exited 0."""
    assert cli("import", "ETH", "-", input="\n".join(ETH)).exit_code == 0
    printed = cli("allocate", "ETH", "r1").output.split()[0]
    assert printed != printed.lower()  # the checksummed form people copy
    retired = cli("retire", "ETH", printed)
    assert (retired.exit_code, retired.output.strip()) == (0, f"{printed}: retired")
    stats = sync_pool.stats("ETH")
    assert (stats.retired, stats.leased) == (1, 0)
    assert sync_pool.retire("ETH", printed.lower()) is False  # any form: already retired

    unknown = sample_addresses("eth", 1, seed=7)[0]
    refused = cli("retire", "ETH", ETH[1], unknown)
    assert refused.exit_code == 1
    assert f"{ETH[1]}: retired" in refused.output
    assert f"pool ETH has no wallet {unknown.lower()}: nothing retired" in refused.output
    with pytest.raises(WalletNotFound) as caught:
        sync_pool.retire("ETH", unknown)
    assert (caught.value.pool, caught.value.address) == ("ETH", unknown.lower())
    assert cli("retire", "ETH", "0xnot-an-address").exit_code == 2  # InvalidAddress


def test_commands_on_a_pool_that_does_not_exist_say_so(cli: Cli, sync_pool: WalletPool) -> None:
    """Defect 8: `peek NOPE`, `reap NOPE` and `retire NOPE x` exited 0."""
    for args in (["peek", "NOPE"], ["reap", "NOPE"], ["retire", "NOPE", "x"]):
        result = cli(*args)
        assert result.exit_code == 2, args
        assert "PoolNotFound: pool NOPE does not exist" in result.output, args
    with pytest.raises(PoolNotFound):
        sync_pool.peek("NOPE")
    with pytest.raises(PoolNotFound):
        sync_pool.reap("NOPE")


def test_every_command_shows_the_checksummed_form_of_an_address(cli: Cli) -> None:
    """Defect 10: `peek` and `release` printed the stored lowercase form."""
    cli("import", "ETH", "-", input="\n".join(ETH))
    assert cli("peek", "ETH").output.split() == SHOWN
    assert cli("allocate", "ETH", "r1").output.split()[0] == SHOWN[0]
    assert cli("extend", "ETH", "r1", "--ttl", "60").output.split()[0] == SHOWN[0]
    assert cli("release", "ETH", "r1").output.strip() == f"released {SHOWN[0]} (now free)"


def test_releasing_an_expired_lease_says_when_it_expired_and_what_that_means(
        cli: Cli, sync_pool: WalletPool) -> None:
    """Defect 6: the CLI said only "owner o2 holds no live lease"; deadlines were raw epochs."""
    cli("import", "CASH", "-", input="l1\nl2\n")
    freeze_clock(sync_pool, "CASH", 1_800_000_000.0)
    allocated = cli("allocate", "CASH", "o2", "--ttl", "10").output
    assert "expires=2027-01-15 08:00:10.000 UTC" in allocated  # no raw epoch
    shift_clock(sync_pool, "CASH", 11)
    late = cli("release", "CASH", "o2")
    assert late.exit_code == 1
    assert ("lease of l1 in pool CASH for owner o2 (token " in late.output
            and "is lost: it expired at 2027-01-15 08:00:10.000 UTC and was reclaimed; "
                "the wallet may already serve another order" in late.output)
    sync_pool.reap("CASH")
    settled = cli("release", "CASH", "o2")
    assert settled.exit_code == 1
    assert "it was released, or it expired and was reclaimed" in settled.output

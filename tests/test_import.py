"""Bulk import: every line checked before anything is written, the good ones added, a
summary of what was added, repeated and refused (with line numbers and reasons)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner

from walletpool import AsyncWalletPool, Rejected, WalletPool
from walletpool.chains import sample_addresses
from walletpool.cli import main
from walletpool.dev.redis_server import RedisServer

GOOD = sample_addresses("eth", 4)
CHECKSUMMED = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
MIXED = f"""address
# exchange hot wallets, batch 7
{GOOD[0]}
{GOOD[1]}

{CHECKSUMMED}
{CHECKSUMMED.lower()}
{CHECKSUMMED[:-1]}D
0x1234
{GOOD[0]}
{GOOD[2]},99
"{GOOD[3]}"
a,b,c
"""
# 10 wallet lines, numbered as in the file: 3, 4 good; 6 good; 7 repeats 6; 8 checksum
# typo; 9 too short; 10 repeats 3; 11 a tag on eth; 12 good (quoted); 13 three cells


REJECTED = [(8, "EIP-55"), (9, "40 hex"), (11, "take addresses alone"), (13, "3 cells")]


def check_report(rejected: list[Rejected]) -> None:
    assert [r.line for r in rejected] == [line for line, _ in REJECTED]
    for refused, (_, reason) in zip(rejected, REJECTED, strict=True):
        assert reason in refused.reason


def test_a_mixed_file_writes_only_the_good_lines(pool: WalletPool, tmp_path: Path,
                                                 redis_client: redis.Redis) -> None:
    source = tmp_path / "eth.csv"
    source.write_text(MIXED)
    dry = pool.import_wallets("ETH", source, dry_run=True)
    assert redis_client.keys("*") == []  # a dry run writes nothing at all
    report = pool.import_wallets("ETH", source)
    assert (report.read, report.added, report.duplicates) == (10, 4, 2)
    assert (dry.read, dry.added, dry.duplicates, dry.rejected) == (10, 4, 2, report.rejected)
    check_report(report.rejected)
    assert pool.peek("ETH") == [GOOD[0], GOOD[1], CHECKSUMMED.lower(), GOOD[3]]
    again = pool.import_wallets("ETH", source, dry_run=True)
    assert (again.added, again.duplicates) == (0, 6)


def test_lines_of_another_pool_of_the_family_are_refused(pool: WalletPool) -> None:
    pool.add("ETH", GOOD[:1])
    report = pool.import_wallets("USDT-ERC20", [f"{GOOD[0]}\n", f"{GOOD[1]}\n"])
    assert report.added == 1
    assert [(r.line, "pool ETH" in r.reason) for r in report.rejected] == [(1, True)]
    assert pool.peek("USDT-ERC20") == [GOOD[1]]


def test_a_tag_pool_imports_address_tag_pairs(pool: WalletPool) -> None:
    hot = "rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh"
    report = pool.import_wallets("XRP", ["address,tag\n", f"{hot},1\n", f"{hot},2\n",
                                         f"{hot}\n", f"{hot},01\n"])
    assert (report.added, report.duplicates) == (2, 1)
    assert [(r.line, r.reason) for r in report.rejected] == \
        [(4, "needs a tag: pools on xrp hand out (address, tag)")]
    assert pool.allocate("XRP", "o").tag == "1"


def test_progress_follows_both_stages(pool: WalletPool) -> None:
    lines = [f"{a}\n" for a in sample_addresses("tron", 12_000)]
    calls: list[tuple[str, int, int]] = []
    report = pool.import_wallets("TRX", lines, progress=lambda *a: calls.append(a))
    assert report.added == 12_000
    assert calls[-1] == ("writing", 12_000, 12_000)
    assert ("checking", 12_000, 12_000) in calls
    assert [c[1] for c in calls if c[0] == "writing"] == [5_000, 10_000, 12_000]


def test_async_import(redis_server: RedisServer, redis_client: redis.Redis) -> None:
    import asyncio

    async def run() -> int:
        async with AsyncWalletPool.from_url(redis_server.url) as pool:
            report = await pool.import_wallets("LTC", sample_addresses("ltc", 30))
            return report.added

    assert asyncio.run(run()) == 30


@pytest.fixture
def cli(redis_server: RedisServer, redis_client: redis.Redis):  # type: ignore[no-untyped-def]
    def invoke(*args: str, input: str | None = None):  # type: ignore[no-untyped-def]
        return CliRunner().invoke(main, ["--redis-url", redis_server.url, *args], input=input)
    return invoke


def test_cli_import_prints_the_summary_and_exits_2_on_rejects(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "eth.csv"
    source.write_text(MIXED)
    dry = cli("import", "ETH", str(source), "--dry-run")
    assert dry.exit_code == 2
    assert "ETH (eth): read 10, would add 4, duplicates 2, rejected 4" in dry.output
    assert f"line 8: {CHECKSUMMED[:-1]}D: fails its EIP-55" in dry.output
    strict = cli("import", "ETH", str(source), "--strict")
    assert strict.exit_code == 2 and "added 0 (--strict)" in strict.output
    strict_json = json.loads(cli("import", "ETH", str(source), "--strict", "--json").output)
    assert (strict_json["dry_run"], strict_json["added"], strict_json["would_add"]) == (
        False, 0, 4)  # no dry run was asked: the report says what happened
    assert cli("stats", "ETH").exit_code == 2  # still no such pool
    done = cli("import", "ETH", str(source), "--json")
    assert done.exit_code == 2
    report = json.loads(done.output)
    assert (report["added"], len(report["rejected"])) == (4, 4)
    clean = tmp_path / "clean.txt"
    clean.write_text("\n".join(sample_addresses("eth", 3, seed=9)))
    assert cli("import", "ETH", str(clean), "--strict").exit_code == 0
    shown = cli("allocate", "ETH", "o1")
    assert shown.output.startswith(GOOD[0][:2])  # EIP-55 form of the stored address

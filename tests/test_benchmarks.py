"""The benchmark runner end to end, at tiny sizes: every row the benchmark page shows is
produced, the files are written, and the contention run finds no wallet handed to two
orders by walletpool or by PostgreSQL (the figures themselves are not asserted: speed
is measured by the runner, not by tests)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.__main__ import NAMES

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_the_quick_run_produces_every_row_the_files_and_no_double_allocation(
        tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--out", str(tmp_path)],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]

    results = json.loads((tmp_path / "results.json").read_text())
    names = [row["name"] for row in results["rows"]]
    for name in NAMES.values():
        assert name in names
    assert {n.split(",")[0] for n in names if n.endswith("processes")} == {
        "walletpool", "PostgreSQL SKIP LOCKED", "redis-allocator"}
    assert any("AsyncWalletPool" in n for n in names)
    assert any(n.startswith("walletpool,") and n.endswith(" tasks") for n in names)
    assert any(n.startswith("redis-benchmark") for n in names) or any(
        "redis-benchmark is not installed" in note for note in results["notes"])
    assert [row["name"] for row in results["rows"] if row["group"] == "growth"] == [
        "walletpool sequential, 1,000 wallets", "walletpool sequential, 5,000 wallets"]
    assert all(row["cycles_per_s"] > 0 for row in results["rows"])
    servers = results["server_us_per_call"]
    assert servers and all(
        set(times) == {"no-op", "raw allocate", "raw release", "minimal allocate",
                       "minimal release", "walletpool allocate", "walletpool release"}
        and all(us > 0 for us in times.values()) for times in servers.values())
    newer = [s for s in servers if s.startswith(("redis-7", "redis-8", "valkey"))]
    assert len(results["targets"]) == 17 + 2 * len(newer)  # 7 of them coalescing's
    assert 0 < results["memory_bytes_per_wallet"] < 10_000
    compared = {f["server"]: f for f in results["servers"]}
    assert set(compared) == set(servers)  # every server found, Valkey and Redis 6.2 among them
    assert any(s.startswith("valkey-") for s in compared)
    assert any(s.startswith("redis-6.") for s in compared)
    assert all(f["row"]["cycles_per_s"] > 0 and f["allocate_us"] > 0
               and 0 < f["bytes_per_wallet"] < 10_000 for f in compared.values())
    assert results["reap_seconds"] > 0 and results["syncer_events_per_s"] > 0

    races = {c["design"]: c for c in results["contention"]}
    assert set(races) == {"walletpool", "naive", "redis-allocator", "postgres"}
    assert all(c["cycles"] > 0 for c in races.values())
    assert races["walletpool"]["double_allocations"] == 0
    assert races["postgres"]["double_allocations"] == 0
    assert results["fifo_misplaced"]["walletpool"] == 0

    markdown = (tmp_path / "results.md").read_text()
    assert "| walletpool sequential |" in markdown and "| target |" in markdown
    assert "| server (allocator) |" in markdown
    assert (tmp_path / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

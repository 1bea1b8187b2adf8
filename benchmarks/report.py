"""The results of one run, checked against the targets and written as JSON, a Markdown
report and a PNG chart (matplotlib, the `bench` extra)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .contention import Contention
from .measure import Row
from .servers import ServerFigures
from .servers import table as servers_table


@dataclass
class Results:
    machine: dict[str, str]
    versions: dict[str, str]
    rows: list[Row] = field(default_factory=list)
    contention: list[Contention] = field(default_factory=list)
    fifo_misplaced: dict[str, int] = field(default_factory=dict)
    memory_bytes_per_wallet: float = 0.0
    memory_bytes_per_wallet_unsynced: float = 0.0
    memory_pool_size: int = 0
    reap_expired: int = 0
    reap_seconds: float = 0.0
    syncer_events_per_s: float = 0.0
    server_us_per_call: dict[str, dict[str, float]] = field(default_factory=dict)
    """Server (valkey-9.1.2, redis-7.0.15, ...) -> script -> Redis's µs per call."""
    servers: list[ServerFigures] = field(default_factory=list)
    """The servers side by side: speed and memory (benchmarks/servers.py)."""
    notes: list[str] = field(default_factory=list)

    def has(self, name: str) -> bool:
        return any(row.name == name for row in self.rows)

    def rate(self, name: str) -> float:
        for row in self.rows:
            if row.name == name:
                return row.cycles_per_s
        raise KeyError(name)

    def double_allocations(self, design: str) -> int:
        return next(c.double_allocations for c in self.contention if c.design == design)


@dataclass
class Target:
    what: str
    wanted: str
    measured: str
    met: bool


def targets(r: Results, names: dict[str, str]) -> list[Target]:
    """The engine's targets, each with what this run measured. `names` maps a role (seq,
    batch, floor, raw, minimal, pg, pg_batch, allocator, procs, pg_procs, allocator_procs,
    ceiling_noop, ceiling_allocate, naive, small, large) to a row name."""
    rate = {role: r.rate(name) for role, name in names.items() if r.has(name)}
    out = []
    for server, times in r.server_us_per_call.items():
        if not server.startswith(("redis-7", "redis-8", "valkey")):
            continue  # the targets are for Redis 7.x and Valkey; 6.2 is shown beside them
        for op in ("allocate", "release"):
            times_noop = times[f"walletpool {op}"] / times["no-op"]
            out.append(Target(f"Redis's time per {op} vs a no-op, {server}", "<= 10x",
                              f"{times_noop:.1f}x ({times[f'walletpool {op}']:.1f} vs "
                              f"{times['no-op']:.1f} µs)", times_noop <= 10))

    def ratio(what: str, top: str, bottom: str, wanted: float, digits: int = 2) -> None:
        if top not in rate or bottom not in rate:
            out.append(Target(what, f">= {wanted}x", "not measured in this run", False))
            return
        value = rate[top] / rate[bottom]
        out.append(Target(what, f">= {wanted}x", f"{value:.{digits}f}x", value >= wanted))

    ratio("walletpool sequential vs the raw minimal EVALSHA cycle", "seq", "raw", 0.85)
    ratio("vs redis-allocator, one process", "seq", "allocator", 1.25)
    ratio("vs redis-allocator, several processes", "procs", "allocator_procs", 1.25)
    ratio("allocate_many/release_many of 100 vs walletpool sequential", "batch", "seq", 12, 1)
    ratio("allocate_many/release_many of 100 vs PostgreSQL batches of 100", "batch",
          "pg_batch", 1.5)
    ratio("several processes vs PostgreSQL from as many", "procs", "pg_procs", 2.5)
    # coalescing: concurrency itself is the batch
    ratio("AsyncWalletPool, 64 tasks, vs walletpool sequential", "tasks", "seq", 5)
    ratio("AsyncWalletPool, 64 tasks, vs allocate_many/release_many of 100", "tasks", "batch",
          0.5)
    ratio("WalletPool, 16 threads, vs walletpool sequential", "threads", "seq", 3)
    ratio("one caller, coalescing on vs off (side by side)", "seq_coalesced", "seq", 0.95)
    ratio("processes x 16 tasks vs redis-allocator from as many processes", "procs_tasks",
          "allocator_procs", 2.5)
    ratio("processes x 16 tasks vs PostgreSQL from as many processes", "procs_tasks",
          "pg_procs", 3)
    tasks = next((row for row in r.rows if row.name == names.get("tasks")), None)
    if tasks is not None and tasks.p50_us is not None and tasks.p99_us is not None:
        out.append(Target("latency per cycle at 64 tasks, p50 / p99", "<= 3,667 / 5,867 µs "
                          "(a third of 11.0 / 17.6 ms)",
                          f"{tasks.p50_us:,.0f} / {tasks.p99_us:,.0f} µs",
                          tasks.p50_us <= 3667 and tasks.p99_us <= 5867))
    ratio("redis-benchmark, 50 clients: allocate calls/s vs no-op calls/s", "ceiling_allocate",
          "ceiling_noop", 0.5)
    out.append(Target(
        "Redis memory per free wallet, family claim included", "<= 150 bytes",
        f"{r.memory_bytes_per_wallet:.0f} bytes", r.memory_bytes_per_wallet <= 150))
    out.append(Target(
        "cycles/s with the largest pool vs 1k wallets", "within 10%",
        f"{rate['large'] / rate['small']:.2f}x", rate["large"] / rate["small"] >= 0.9))
    naive_double, own_double = r.double_allocations("naive"), r.double_allocations("walletpool")
    out.append(Target(
        "naive design: slower, and double-allocates; walletpool never",
        "slower, > 0 vs 0",
        f"{rate['seq'] / rate['naive']:.2f}x faster; {naive_double} vs {own_double} "
        "double allocations",
        rate["naive"] < rate["seq"] and naive_double > 0 and own_double == 0))
    return out


def write_json(r: Results, goals: list[Target], path: Path) -> None:
    data: dict[str, Any] = asdict(r)
    data["targets"] = [asdict(t) for t in goals]
    path.write_text(json.dumps(data, indent=2) + "\n")


def _us(value: float | None) -> str:
    return "" if value is None else f"{value:,.0f}"


def markdown(r: Results, goals: list[Target], seq_name: str) -> str:
    seq = r.rate(seq_name)
    m = r.machine
    lines = [
        f"Measured {m['date']} on {m['cores']} cores ({m['cpu']}), {m['os']}, "
        f"Python {m['python']}; " + ", ".join(f"{k} {v}" for k, v in r.versions.items()) + ".",
        "Medians of repeated rounds in one run; ratios are against walletpool sequential "
        "in the same run.",
        "",
        "| what | cycles/s | p50 µs | p99 µs | vs walletpool sequential |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in r.rows:
        unit = f" ({row.note})" if row.note else ""
        lines.append(f"| {row.name}{unit} | {row.cycles_per_s:,.0f} | {_us(row.p50_us)} | "
                     f"{_us(row.p99_us)} | {row.cycles_per_s / seq:.2f}x |")
    lines += [
        "",
        "Under contention (several processes, 1 s leases, 3% of holders stall 1.5 s and "
        "release late, a reaper running):",
        "",
        "| design | processes | cycles/s | holdings checked | double allocations | "
        "late releases refused | FIFO: misplaced of 50 |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for c in r.contention:
        lines.append(f"| {c.design} | {c.processes} | {c.cycles_per_s:,.0f} | {c.cycles:,} | "
                     f"{c.double_allocations} | {c.late_releases_refused} | "
                     f"{r.fifo_misplaced.get(c.design, '')} |")
    lines += [
        "",
        f"Redis memory per free wallet ({r.memory_pool_size:,} wallets, 42-character "
        f"addresses, INFO used_memory delta, family claim included): "
        f"**{r.memory_bytes_per_wallet:.0f} bytes** once the syncer has trimmed the stream, "
        f"{r.memory_bytes_per_wallet_unsynced:.0f} with each wallet's 'added' event still "
        "in it. "
        f"Reaping {r.reap_expired:,} expired leases: **{r.reap_seconds * 1000:,.0f} ms** "
        f"({r.reap_seconds / max(1, r.reap_expired) * 1e6:.1f} µs each). "
        f"Syncer into PostgreSQL: **{r.syncer_events_per_s:,.0f} events/s**.",
        "",
        "Redis's own time per call, µs (INFO commandstats; allocate and release measured "
        "apart, round trip and client left out), and as a multiple of a no-op script:",
        "",
        *_server_table(r.server_us_per_call),
        "",
        "The servers walletpool can start, side by side (sequential rounds taken in turn; "
        "memory of a pool of free wallets with its stream trimmed; `walletpool up` takes "
        "Valkey when no redis-server is installed):",
        "",
        *servers_table(r.servers),
        "",
        "| target | wanted | measured | met |",
        "|---|---|---|---|",
    ]
    for t in goals:
        lines.append(f"| {t.what} | {t.wanted} | {t.measured} | {'yes' if t.met else '**no**'} |")
    if r.notes:
        lines += ["", *[f"- {note}" for note in r.notes]]
    return "\n".join(lines) + "\n"


def _server_table(times: dict[str, dict[str, float]]) -> list[str]:
    if not times:
        return ["(not measured)"]
    servers = list(times)
    lines = ["| script | " + " | ".join(servers) + " |",
             "|---|" + "---:|" * len(servers)]
    for script in times[servers[0]]:
        cells = []
        for server in servers:
            us, noop = times[server][script], times[server]["no-op"]
            cells.append(f"{us:.1f}" + ("" if script == "no-op" else f" ({us / noop:.1f}x)"))
        lines.append(f"| {script} | " + " | ".join(cells) + " |")
    return lines


def _short(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 else f"{n // 1_000}k" if n >= 1_000 else str(n)


COLORS = {"walletpool": "#2b6cb0", "alternatives": "#c05621", "ceiling": "#718096",
          "floor": "#a0aec0", "waiting": "#6b46c1",
          "growth": "#2f855a"}


def chart(r: Results, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    main = [row for row in r.rows if row.group != "growth"]
    growth = [row for row in r.rows if row.group == "growth"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 0.42 * len(main) + 2),
                                      gridspec_kw={"width_ratios": [3, 1]})
    names = [row.name + (f" ({row.note})" if row.note else "") for row in main][::-1]
    left.barh(names, [row.cycles_per_s for row in main][::-1],
              color=[COLORS.get(row.group, "#999") for row in main][::-1])
    left.set_xscale("log")
    left.set_xlabel("allocate+release cycles/s (log scale, median)")
    for y, row in enumerate(main[::-1]):
        left.text(row.cycles_per_s, y, f" {row.cycles_per_s:,.0f}", va="center", fontsize=8)
    left.tick_params(axis="y", labelsize=8)
    right.bar([_short(int(row.name.rsplit(", ", 1)[-1].split()[0].replace(",", "")))
               for row in growth],
              [row.cycles_per_s for row in growth], color=COLORS["growth"])
    right.set_ylabel("sequential cycles/s")
    right.set_title("by pool size (wallets)", fontsize=9)
    m = r.machine
    fig.suptitle(f"walletpool benchmarks, {m['date']}, {m['cores']} cores ({m['cpu']})",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)

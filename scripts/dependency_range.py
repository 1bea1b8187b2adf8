"""Prove one end of the supported range of walletpool's runtime dependencies.

    .venv/bin/python scripts/dependency_range.py lowest [--python PY] [-- PYTEST ARGS]
    .venv/bin/python scripts/dependency_range.py newest [--python PY] [-- PYTEST ARGS]

`lowest` installs each runtime dependency (pyproject's `dependencies` and the `metrics`
extra) at exactly the lower bound pyproject states; `newest` installs the newest release
of each on the index today. The test tools stay at the lock's versions, so that what
moves is what a user's install can move. Each end gets a venv of its own (.venv-lowest,
.venv-newest), prints the versions it installed, and runs the client-facing tests on one
server. When they fail, each dependency that differs from the lock is tried alone on the
lock's versions of the rest, and the ones that break the failing tests on their own are
named: "redis 8.2.0 (the lock has 8.1.0) breaks: ...". Exit 0 when the tests pass.
Standard library and uv only (the test extra's uv, beside this Python)."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: mypy's dependency brings it
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
UV = str(Path(sys.executable).parent / "uv")
os.environ["UV_PYTHON_DOWNLOADS"] = "never"  # the Pythons on the machine, never a download
CLIENT_FACING = [
    "test_allocate", "test_release", "test_extend", "test_add", "test_import", "test_retire",
    "test_reap", "test_async", "test_clients", "test_connect", "test_settings", "test_warnings",
    "test_waiting", "test_events", "test_bad_input", "test_validation", "test_fallback",
    "test_outage", "test_backend", "test_sync", "test_heal", "test_reconcile", "test_migrations",
    "test_cli", "test_metrics", "test_logs", "test_secrets", "test_tls", "test_replicas",
    "test_coalesce",
]
"""What a user's code touches: both clients, their errors and settings, coalescing (whose
batch replies carry each caller's error inside an array: the parser must hand it over),
the reserve in the database, the syncer, the CLI and the metrics."""
NAME_RE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def runtime_requirements() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [*project["dependencies"], *project["optional-dependencies"]["metrics"]]


def lower_bound(requirement: str) -> str:
    """'redis>=5.0.1' -> 'redis==5.0.1' (extras kept: 'psycopg[binary]==3.1')."""
    found = re.fullmatch(r"\s*([A-Za-z0-9._-]+(?:\[[^\]]*\])?)\s*>=\s*([^,;\s]+).*", requirement)
    if found is None:
        raise SystemExit(f"dependency-range: {requirement!r} states no lower bound (>=)")
    return f"{found[1]}=={found[2]}"


def base_name(requirement: str) -> str:
    match = NAME_RE.match(requirement.strip())
    assert match is not None, requirement
    return canonical(match[1])


def lock_closure(roots: Iterable[str]) -> set[str]:
    """Every package the lock says the runtime dependencies pull in, with their extras."""
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    graph: dict[str, set[str]] = {}
    for package in lock["package"]:
        edges = graph.setdefault(canonical(package["name"]), set())
        edges.update(canonical(d["name"]) for d in package.get("dependencies", []))
        for extra in package.get("optional-dependencies", {}).values():
            edges.update(canonical(d["name"]) for d in extra)
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(graph.get(name, ()))
    return seen


def lock_pins() -> dict[str, list[str]]:
    """The lock's exact versions for the test extra, by package (several lines where the
    version depends on the Python)."""
    out = run_out([UV, "export", "--frozen", "--no-hashes", "--no-emit-project",
                   "--extra", "test", "--quiet"])
    pins: dict[str, list[str]] = {}
    for line in out.splitlines():
        if line and not line.startswith((" ", "#", "-")):
            pins.setdefault(base_name(line), []).append(line.strip())
    return pins


def version_for(lines: list[str], python: str) -> str | None:
    """The version the lock pins (lines 'name==1.0 ; marker') for this Python."""
    from packaging.markers import Marker  # pytest's dependency

    major_minor = ".".join(python.split(".")[:2])
    env = {"python_full_version": python, "python_version": major_minor}
    for line in lines:
        pin, _, marker = line.partition(";")
        if not marker.strip() or Marker(marker.strip()).evaluate(env):
            return pin.split("==", 1)[1].strip()
    return None


def run_out(command: Sequence[str]) -> str:
    return subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True).stdout


def install(venv: Path, python: str, requirements: list[str], constraints: list[str],
            refresh: Sequence[str] = ()) -> dict[str, str]:
    """A fresh venv with walletpool (editable, the test extra) on these terms; returns
    the versions installed, by package."""
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([UV, "venv", "--quiet", "--python", python, str(venv)], cwd=ROOT, check=True)
    folder = venv / ".range"
    folder.mkdir()
    (folder / "constraints.txt").write_text("\n".join(constraints) + "\n")
    (folder / "requirements.txt").write_text("\n".join(requirements) + "\n")
    command = [UV, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"),
               "-e", ".[test]", "-r", str(folder / "requirements.txt"),
               "-c", str(folder / "constraints.txt")]
    for name in refresh:
        command += ["--refresh-package", name]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"dependency-range: these versions do not install together:\n"
                         f"{chr(10).join(requirements)}\n{done.stderr.strip()}")
    frozen = run_out([UV, "pip", "freeze", "--python", str(venv / "bin" / "python")])
    return {base_name(line): line.split("==", 1)[1] for line in frozen.splitlines()
            if "==" in line}


def run_tests(venv: Path, tests: Sequence[str], extra: Sequence[str],
              cache: Path) -> int:
    command = [str(venv / "bin" / "python"), "-m", "pytest", "-q", "-o", f"cache_dir={cache}",
               *tests, *extra]
    env = {**os.environ, "WALLETPOOL_TEST_SERVERS": "1"}  # one server: the first found
    return subprocess.run(command, cwd=ROOT, env=env).returncode


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("end", choices=["lowest", "newest"])
    parser.add_argument("--python", default=sys.executable,
                        help="the interpreter of the venv (default: this one)")
    argv = list(sys.argv[1:] if argv is None else argv)
    split = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:split])
    args.pytest_args = argv[split + 1:]  # after --: more pytest arguments
    started = time.monotonic()

    runtime = runtime_requirements()
    names = [base_name(r) for r in runtime]
    closure = lock_closure(names)
    pins = lock_pins()
    tools = [line for name, lines in pins.items() if name not in closure for line in lines]
    if args.end == "lowest":
        chosen = [lower_bound(r) for r in runtime]
        refresh: list[str] = []
    else:
        chosen = list(runtime)
        refresh = names
    venv = ROOT / f".venv-{args.end}"
    versions = install(venv, args.python, chosen, tools, refresh)
    python = run_out([str(venv / "bin" / "python"), "-c",
                      "import platform; print(platform.python_version())"]).strip()
    lock_version = {name: version for name, lines in pins.items()
                    if (version := version_for(lines, python)) is not None}
    print(f"dependency-range: the {args.end} end, on Python {python} "
          f"(installed in {time.monotonic() - started:.0f} s):")
    for name in names:
        mark = "" if versions[name] == lock_version.get(name) else \
            f"   (the lock has {lock_version.get(name)})"
        print(f"  {name:<18} {versions[name]}{mark}")
    sys.stdout.flush()

    tests = [f"tests/{name}.py" for name in CLIENT_FACING]
    cache = venv / ".range" / "pytest-cache"
    if run_tests(venv, tests, args.pytest_args, cache) == 0:
        print(f"dependency-range: the {args.end} end passes "
              f"({time.monotonic() - started:.0f} s)")
        return 0

    # Which dependency broke it: each one that moved, alone, on the lock's versions.
    moved = [n for n in names if versions[n] != lock_version.get(n)]
    print(f"dependency-range: the {args.end} end FAILS; trying each of {', '.join(moved)} "
          "alone on the lock's versions of the rest", flush=True)
    culprits = []
    for name in moved:
        companions = lock_closure([name]) - lock_closure(n for n in names if n != name)
        rest = [line for n, lines in pins.items() if n not in companions for line in lines]
        trial = ROOT / ".venv-range-trial"
        install(trial, args.python, [f"{name}=={versions[name]}"], rest)
        trial_cache = trial / ".range" / "pytest-cache"  # the first run's failures, afresh
        shutil.copytree(cache, trial_cache)
        if run_tests(trial, ["--last-failed", *tests], args.pytest_args, trial_cache) != 0:
            culprits.append(name)
        shutil.rmtree(trial, ignore_errors=True)
    for name in culprits:
        print(f"dependency-range: {name} {versions[name]} (the lock has "
              f"{lock_version.get(name)}) breaks the tests that failed above")
    if not culprits:
        print("dependency-range: no one dependency breaks them alone: the versions above "
              f"together do ({', '.join(f'{n} {versions[n]}' for n in moved)})")
    return 1


if __name__ == "__main__":
    sys.exit(main())

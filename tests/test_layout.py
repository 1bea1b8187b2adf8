"""The shape of the package: no import cycle between walletpool's modules (lazy and
type-only imports count too), the engine does no I/O, and the 0.1 import paths still
work."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "walletpool"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports_of(name: str) -> set[str]:
    """walletpool modules that module `name` imports, anywhere in its body."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # `from a import b` imports module a.b when there is one, else module a
            subs = {f"{target}.{alias.name}" for alias in node.names} & MODULES.keys()
            found.update(subs or {target})
    return {m for m in found if m in MODULES and m != name}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def package_graph() -> dict[str, set[str]]:
    # a package's __init__ re-exports its children; importing a child does not run a
    # cycle through it, so edges into a parent package from its own children don't count
    graph = {name: imports_of(name) for name in MODULES}
    return {name: {m for m in targets if not name.startswith(m + ".")}
            for name, targets in graph.items()}


def test_no_module_imports_itself_back() -> None:
    assert cycles(package_graph()) == []


def test_the_cycle_check_sees_a_cycle() -> None:
    graph = package_graph()
    graph["walletpool.engine.operations"].add("walletpool.client")
    assert any("walletpool.client" in c and "walletpool.engine.operations" in c
               for c in cycles(graph))


def test_the_engine_does_no_io() -> None:
    """engine/ builds calls and decodes replies; only the clients talk to servers."""
    for name in MODULES:
        if name.startswith("walletpool.engine"):
            reached = imports_of(name)
            assert not reached & {"walletpool.client", "walletpool.aio", "walletpool.reserve.lane",
                                  "walletpool.reserve.queries", "walletpool.syncer"}, name
            source = MODULES[name].read_text()
            assert "sqlalchemy" not in source and "execute_command(" not in source, name


@pytest.mark.parametrize(("path", "name"), [
    ("walletpool.client", "WalletPool"), ("walletpool.client", "Pipeline"),
    ("walletpool.syncer", "Syncer"), ("walletpool.syncer", "lag"),
    ("walletpool.dev.redis_server", "RedisServer"), ("walletpool.dev.redis_server", "free_port"),
    ("walletpool.dev.postgres_server", "PostgresServer"),
    ("walletpool.engine.scripts", "script"),
    ("walletpool.logs", "configure_logging"), ("walletpool.errors", "LeaseLost"),
    ("walletpool.keys", "pool_keys"), ("walletpool.store.engine", "create_engine"),
    ("walletpool.store.migrations", "upgrade"), ("walletpool.settings", "Settings"),
    ("walletpool", "KEEP"), ("walletpool", "register_network"),
])
def test_the_documented_import_paths_work(path: str, name: str) -> None:
    assert getattr(importlib.import_module(path), name) is not None


@pytest.mark.parametrize("alias", ["walletpool.pool", "walletpool.sync", "walletpool.server",
                                   "walletpool.scripts", "walletpool.store.server"])
def test_no_alias_module_of_an_unpublished_version_is_left(alias: str) -> None:
    """0.1.0 was never published: its import paths had no user to keep them for."""
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module(alias)


def test_the_package_ships_its_type_information() -> None:
    assert (PACKAGE / "py.typed").is_file()


def test_every_invariant_cited_is_one_the_design_document_numbers() -> None:
    design = (ROOT / "docs" / "design.md").read_text()
    numbered = set(re.findall(r"^(\d+)\. \*\*", design, re.M))
    assert numbered == {str(n) for n in range(1, 10)}
    sources = [*PACKAGE.rglob("*.py"), *PACKAGE.rglob("*.lua"), *(ROOT / "tests").glob("*.py"),
               ROOT / "README.md", *(ROOT / "docs").rglob("*.md")]
    for path in sources:
        text = path.read_text()
        assert "DESIGN.md" not in text or path.name == "test_layout.py", path
        for cited in re.findall(r"[Ii]nvariants? (\d+)", text):
            assert cited in numbered, f"{path.name} cites invariant {cited}"

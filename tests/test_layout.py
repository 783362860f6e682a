"""The layout stays readable: no import circles, dependencies one way, small modules.

The graph is read with ``ast`` from the source, every import counted: at module level,
inside functions, and under ``TYPE_CHECKING`` (a circle hidden in a function is still a
circle a reader has to untangle).
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

PACKAGES = ("askdb", "bot", "nlsql", "training")
MAX_NLSQL_LINES = 400


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for package in PACKAGES for p in (REPO / package).rglob("*.py")}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules ``name`` imports: ``from pkg import sub`` counts as ``pkg.sub``
    when that is a module, else as ``pkg`` (the package's face)."""
    is_package = path.name == "__init__.py"
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if sub in known:
                    out.add(sub)
                elif target in known:
                    out.add(target)
    out.discard(name)
    return out


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, known) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_circle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_relative_imports_resolve_to_modules():
    graph = _graph()
    assert "nlsql.guard.context" in graph["nlsql.guard.facade"]
    assert "nlsql.errors" in graph["nlsql.guard.facade"]  # from ..errors import
    assert "nlsql.guard" in graph["nlsql.db.execute"]  # through the package's face


def test_no_import_circles():
    assert _cycles(_graph()) == []


def test_dependencies_point_one_way():
    """bot -> nlsql <- training; nlsql never imports the bot, training or the CLI."""
    for name, targets in _graph().items():
        top = name.split(".")[0]
        reached = {t.split(".")[0] for t in targets}
        if top == "nlsql":
            assert reached <= {"nlsql"}, f"{name} imports {sorted(targets)}"
        if top == "bot":
            assert "training" not in reached and "askdb" not in reached, name
        if top == "training":
            assert "bot" not in reached and "askdb" not in reached, name


def test_nlsql_modules_stay_small():
    long = {str(p.relative_to(REPO)): n for p in (REPO / "nlsql").rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_NLSQL_LINES}
    assert long == {}


def test_guard_and_models_are_packages_with_a_face():
    import nlsql.guard
    import nlsql.models

    assert (REPO / "nlsql" / "guard" / "lists.toml").is_file()
    for name in nlsql.guard.__all__:
        assert hasattr(nlsql.guard, name)
    for name in nlsql.models.__all__:
        assert hasattr(nlsql.models, name)

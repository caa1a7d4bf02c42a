"""The explain package imports without cycles: every module under xaicli/ imports, and an AST walk over
every `import` and `from` statement (those inside functions too) finds no cycle through xaicli.explain."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "xaicli"
EXPLAIN = "xaicli.explain"
# The tasks' explain() methods import explain.classifier / explain.gan by design (dispatch by task,
# DESIGN.md section 2); the loop they close (explain.gan -> runs.restore -> tasks -> tasks.gan ->
# explain.gan) goes through the task registry, outside this package: see _cycles_through_explain.
DISPATCH_EDGES = {("xaicli.tasks.classifier", "xaicli.explain.classifier"), ("xaicli.tasks.gan", "xaicli.explain.gan")}


def _modules() -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is a package's __init__) for every .py file under xaicli/."""
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return out


def import_graph() -> dict[str, set[str]]:
    """Module -> the xaicli modules it imports anywhere in its body (module level or inside functions)."""
    modules = _modules()

    def known(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, (path, is_package) in modules.items():
        package = name if is_package else name.rpartition(".")[0]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found.update(filter(None, (known(a.name) for a in node.names)))
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                for alias in node.names:  # `from pkg import module` names the module itself
                    full = f"{base}.{alias.name}"
                    target = full if full in modules else known(base)
                    if target:
                        found.add(target)
        graph[name] = found - {name}
    return graph


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of more than one module (each one holds a cycle)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_every_module_imports():
    names = sorted(_modules())
    assert "xaicli.explain.registry" in names and len(names) > 30
    for name in names:
        if name == "xaicli.__main__":
            continue  # runs the CLI
        importlib.import_module(name)


def test_the_graph_sees_imports_inside_functions():
    graph = import_graph()
    assert "xaicli.explain.command" in graph["xaicli.cli"]  # imported inside a command's function only
    assert "xaicli.explain.registry" in graph["xaicli.catalog"]


def test_explain_package_has_no_import_cycle():
    graph = import_graph()
    inside = {m: {t for t in targets if t.startswith(EXPLAIN)} for m, targets in graph.items() if m.startswith(EXPLAIN)}
    assert strongly_connected(inside) == []


def test_no_import_cycle_passes_through_explain():
    """Paths through other packages count too, except the tasks' dispatch into explain (see DISPATCH_EDGES)."""
    graph = {m: {t for t in targets if (m, t) not in DISPATCH_EDGES} for m, targets in import_graph().items()}
    cycles = [c for c in strongly_connected(graph) if any(m.startswith(EXPLAIN) for m in c)]
    assert cycles == []


@pytest.mark.parametrize("cycle", [["a", "b"], ["a", "b", "c"]])
def test_the_cycle_finder_finds_cycles(cycle):
    graph = {m: {cycle[(i + 1) % len(cycle)]} for i, m in enumerate(cycle)}
    graph["d"] = {"a"}
    assert strongly_connected(graph) == [sorted(cycle)]

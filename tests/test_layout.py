"""The package's shape: no import cycles (deferred imports included), every module imports, small
modules, a lazy public API."""

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "xaicli"
MAX_LINES = 400


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
    assert "xaicli.explain.command" in graph["xaicli.api"]  # imported inside a function only
    assert "xaicli.runs.files" in graph["xaicli.training.loop"]


@pytest.mark.parametrize("cycle", [["a", "b"], ["a", "b", "c"]])
def test_the_cycle_finder_finds_cycles(cycle):
    graph = {m: {cycle[(i + 1) % len(cycle)]} for i, m in enumerate(cycle)}
    graph["d"] = {"a"}
    assert strongly_connected(graph) == [sorted(cycle)]


def test_no_import_cycles_even_through_deferred_imports():
    """Registries load their modules by name (xaicli.registry.Registry(modules=...)): that is the one way
    a module reaches the ones that register into it without a cycle."""
    assert strongly_connected(import_graph()) == []
def test_no_module_passes_400_lines():
    long = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_the_public_api_is_documented_and_lazy():
    code = ("import sys, pydoc, xaicli; text = pydoc.render_doc(xaicli, renderer=pydoc.plaintext); "
            "print('torch' in sys.modules); print(text)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    torch_loaded, text = out.split("\n", 1)
    assert torch_loaded == "False"
    for name in ("load_config", "train", "restore", "evaluate", "sample", "explain", "attribute", "registries"):
        assert f"{name}(" in text, name

"""The project's import graph: no cycle between files, and the HTTP edge imported only by views.

Pure static analysis (ast), no stack: every first-party module is read,
imports inside functions included, since a function-level import is how a
cycle hides (it works until someone moves it to the top).
"""

import ast
import functools
from pathlib import Path

import pytest

pytestmark = pytest.mark.fast  # pure logic: `make test-fast`

ROOT = Path(__file__).resolve().parent.parent
SKIPPED_DIRS = {".venv", "var", "node_modules", "__pycache__", ".git"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def first_party_files() -> dict[str, Path]:
    """Map every first-party module name to its file (packages to their __init__.py)."""
    modules: dict[str, Path] = {}
    for path in ROOT.rglob("*.py"):
        relative = path.relative_to(ROOT).parts
        if SKIPPED_DIRS.intersection(relative) or "-" in path.stem:
            continue
        modules[module_name(path)] = path
    return modules


def imported_modules(path: Path, name: str, modules: dict[str, Path]) -> set[str]:
    """Return the first-party modules `path` imports, anywhere in it (functions included)."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = name.split(".") if is_package else name.split(".")[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join([*package, base] if base else package)
            # `from pkg import mod` imports the module pkg.mod; `from mod import name` only mod.
            targets = [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in modules]
            targets.append(base)
        for target in targets:
            # The nearest first-party module: `import a.b.c` runs a.b.c (and its parents' __init__).
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


@functools.cache
def import_graph() -> dict[str, set[str]]:
    modules = first_party_files()
    return {name: imported_modules(path, name, modules) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Return the strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, list[str]]] = [(root, sorted(graph[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, pending = work[-1]
            if pending:
                child = pending.pop()
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, sorted(graph.get(child, set()))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
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
    return found


def test_the_graph_finds_a_cycle_it_is_given() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_imports_inside_functions(tmp_path: Path) -> None:
    source = tmp_path / "mod.py"
    source.write_text("def f():\n    from pkg import sub\n    import other.deep\n")
    modules = {"pkg": source, "pkg.sub": source, "other": source, "mod": source}
    assert imported_modules(source, "mod", modules) == {"pkg", "pkg.sub", "other"}


def test_no_import_cycle_between_files() -> None:
    graph = import_graph()
    assert len(graph) > 200  # the walk found the project, not an empty folder
    assert cycles(graph) == []


def views_module(name: str) -> bool:
    """Say whether `name` is an HTTP view module (the only place the HTTP edge belongs), or a test."""
    return name.startswith("tests.") or name.rpartition(".")[2] == "views"


@pytest.mark.parametrize("edge", ["instagram.api"])
def test_only_views_import_the_http_edge(edge: str) -> None:
    graph = import_graph()
    importers = sorted(name for name, imports in graph.items() if edge in imports)
    assert "photos.views" in importers  # the check looks at real imports
    assert [name for name in importers if not views_module(name)] == []

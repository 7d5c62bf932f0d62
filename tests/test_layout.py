"""The package's shape (issue 9): small modules, imports in one direction, no file cycles.

Module-level imports only: an import inside a function runs when it is needed (to keep
``import vidgate`` fast) and is not part of the layering.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "vidgate"
MAX_LINES = 500


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in SRC.rglob("*.py")}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The vidgate modules ``name`` imports at module level (outside TYPE_CHECKING)."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("vidgate")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            if not target.startswith("vidgate"):
                continue
            found.add(target)
            # ``from . import x`` may name a submodule.
            found |= {f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in known}
    return {m for m in found if m in known and m != name}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, known) for name, path in modules.items()}


def test_no_module_is_over_the_limit() -> None:
    long = {
        name: n
        for name, path in _modules().items()
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}, f"modules over {MAX_LINES} lines: {long}"


def test_only_adapters_import_the_adapter_base() -> None:
    offenders = sorted(
        name
        for name, deps in _graph().items()
        if "vidgate.providers._base" in deps and not name.startswith("vidgate.providers")
    )
    assert offenders == []


@pytest.mark.parametrize(
    "module", ["vidgate._client", "vidgate._client_core", "vidgate._sync_client", "vidgate.gateway"]
)
def test_the_sdk_and_the_gateway_never_import_the_renderer(module: str) -> None:
    graph = _graph()
    seen: set[str] = set()
    todo = [m for m in graph if m == module or m.startswith(module + ".")]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        todo.extend(graph.get(current, ()))
    assert "vidgate.local.render" not in seen


def test_nothing_outside_the_engine_names_the_renderer_even_lazily() -> None:
    """Function-level imports count here: thumbnails come from ``_media``, renders from the
    local engine's own worker."""
    users = sorted(
        _module_name(path)
        for path in SRC.rglob("*.py")
        if "local.render" in path.read_text() and "local" not in path.relative_to(SRC).parts[:1]
    )
    assert users == []


def test_there_are_no_import_cycles_between_files() -> None:
    graph = _graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph[node]):
            # A package's __init__ importing its own submodules is how packages work.
            if node != "vidgate" and dep.startswith(node + "."):
                continue
            if state.get(dep) == 1:
                cycles.append([*stack[stack.index(dep) :], dep])
            elif dep not in state:
                visit(dep)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert cycles == []

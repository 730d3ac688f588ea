"""The package's layout shows the architecture: sub-packages in the order of the data flow, and no
import cycle between modules or between sub-packages (imports inside functions included)."""

from __future__ import annotations

import ast
from pathlib import Path

import jdl

PACKAGE = Path(jdl.__file__).resolve().parent
# The order of the layers: a sub-package may import only itself, those before it and the shared modules.
LAYERS = ("upload", "cohort", "stats", "report", "run", "synth")
SHARED = {"jdl", "jdl.contract", "jdl.words", "jdl.atomic", "jdl.paths", "jdl.window"}


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(("jdl", *path.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")
        found[name] = path
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the jdl modules it imports, anywhere in its code."""
    known = modules()
    graph = {name: set() for name in known}
    for name, path in known.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "jdl":
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    graph[name].add(full if full in known else node.module)
            elif isinstance(node, ast.Import):
                graph[name] |= {a.name for a in node.names if a.name.split(".")[0] == "jdl"}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in graph:
                continue
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 and parts[1] in LAYERS else None


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_module_imports_itself_back():
    assert find_cycle(import_graph()) is None


def test_each_sub_package_imports_only_earlier_layers():
    wrong = []
    for module, imported in import_graph().items():
        here = layer(module)
        if here is None:
            continue
        for target in imported:
            there = layer(target)
            if there is None:
                assert target in SHARED or target.startswith(tuple(SHARED - {"jdl"})), \
                    f"{module} imports {target}, which is above the layers"
            elif LAYERS.index(there) > LAYERS.index(here):
                wrong.append(f"{module} -> {target}")
    assert wrong == []


def test_the_sub_packages_are_the_documented_ones():
    found = {path.parent.name for path in PACKAGE.glob("*/__init__.py")}
    assert found == set(LAYERS)
    for name in LAYERS:
        assert f"``jdl.{name}``" in jdl.__doc__

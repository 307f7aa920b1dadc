"""ARCHITECTURE.md stays true: it names every module, and the import graph — every import,
at module level, inside functions and under ``TYPE_CHECKING`` — follows the layers it
lists: no package imports a package above it, and no two modules import each other in a
circle. What is not yet so is listed below, to shrink: a listed edge that disappears fails
the test too, so the list stays exact."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import mlstack_env

PACKAGE = Path(mlstack_env.__file__).parent
ARCHITECTURE = PACKAGE.parent / "ARCHITECTURE.md"

# Upward imports not yet moved (importing module -> the package above it), issue 23.
UPWARD_TO_CLEAR: set[tuple[str, str]] = set()

# Modules that import each other (directly or round a circle), not yet untied.
CYCLES_TO_CLEAR: set[frozenset[str]] = set()


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _name(path: Path) -> str:
    name = ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
    return name.removesuffix(".__init__")


def _imports(path: Path) -> set[str]:
    """Every mlstack_env module ``path`` imports, wherever the import statement sits."""
    known = {_name(p) for p in _modules()}
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import"
            # `from package import name` imports the submodule `name`, or takes `name` from
            # the package's __init__.
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub.removeprefix("mlstack_env.") in known else node.module or "")
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {m.removeprefix("mlstack_env.") for m in found
            if m.startswith("mlstack_env.") and m.removeprefix("mlstack_env.") in known}


def _graph() -> dict[str, set[str]]:
    return {_name(p): _imports(p) - {_name(p)} for p in _modules()}


def _layers() -> list[set[str]]:
    """The layer list in ARCHITECTURE.md, bottom first: ``Layers: a b < c < …``."""
    text = ARCHITECTURE.read_text(encoding="utf-8")
    match = re.search(r"^Layers, bottom first: (.+)$", text, re.M)
    assert match, "ARCHITECTURE.md lists its layers on a line 'Layers, bottom first: …'"
    return [set(re.findall(r"`(\w+)(?:/|\.py)?`", layer)) for layer in match.group(1).split("<")]


def _top(module: str) -> str:
    return module.split(".", maxsplit=1)[0]


def test_architecture_names_every_module() -> None:
    text = ARCHITECTURE.read_text(encoding="utf-8")
    missing = [str(p.relative_to(PACKAGE)) for p in _modules()
               if str(p.relative_to(PACKAGE)) not in text
               and not (p.name == "__init__.py" and f"{p.parent.name}/" in text)]
    assert missing == []


def test_every_package_has_a_layer() -> None:
    placed = set().union(*_layers())
    assert sorted({_top(m) for m in _graph()} - placed - {"__init__", "__main__"}) == []


def test_no_package_imports_a_layer_above_it() -> None:
    rank = {unit: i for i, layer in enumerate(_layers()) for unit in layer}
    upward = {(module, _top(target))
              for module, targets in _graph().items() for target in targets
              if _top(module) in rank and _top(target) in rank
              and rank[_top(target)] > rank[_top(module)]}
    assert sorted(upward - UPWARD_TO_CLEAR) == [], "imports up the layers"
    assert sorted(UPWARD_TO_CLEAR - upward) == [], "cleared: drop from UPWARD_TO_CLEAR"


def _cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Strongly connected components of more than one node (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(frozenset(component))
    return found


def test_no_two_modules_import_each_other() -> None:
    cycles = set(_cycles(_graph()))
    assert sorted(map(sorted, cycles - CYCLES_TO_CLEAR)) == []
    assert sorted(map(sorted, CYCLES_TO_CLEAR - cycles)) == [], "cleared: drop from the list"


def test_no_cycle_between_packages_beside_the_listed_edges() -> None:
    packages: dict[str, set[str]] = defaultdict(set)
    for module, targets in _graph().items():
        for target in targets:
            if _top(module) != _top(target) and (module, _top(target)) not in UPWARD_TO_CLEAR:
                packages[_top(module)].add(_top(target))
    assert _cycles(packages) == []


def test_the_graph_sees_imports_inside_functions() -> None:
    # store/lookup.py imports the rest of the store only inside a function: the test
    # must see it.
    assert "store.generations" in _imports(PACKAGE / "store" / "lookup.py")

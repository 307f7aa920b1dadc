"""ARCHITECTURE.md stays true: it names every module, and no module reaches "up" the
chain profile → lock → store → env → activation (the CLI on top)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import mlstack_env

PACKAGE = Path(mlstack_env.__file__).parent
ARCHITECTURE = PACKAGE.parent / "ARCHITECTURE.md"

# Module prefix -> the packages it must not import (at any depth, lazily or not).
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "hardware": ("resolve", "store", "activation", "create", "cli", "doctor", "system"),
    "catalog": ("resolve", "store", "activation", "create", "cli", "doctor", "system",
                "hardware"),
    "lockfile": ("resolve", "store", "activation", "create", "cli"),
    "resolve": ("store", "activation", "create", "cli", "doctor"),
    "store": ("resolve", "create", "cli", "doctor"),
    "activation": ("resolve", "create", "cli", "doctor"),
    "gpu": ("resolve", "store", "activation", "create", "cli"),
}


# Shared primitives a lower layer may use: the flock helpers (resolve/lockwrite.py holds a
# project's lock file with them).
ALLOWED = ("store.locks",)


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {m.removeprefix("mlstack_env.") for m in found if m.startswith("mlstack_env.")}


def test_architecture_names_every_module() -> None:
    text = ARCHITECTURE.read_text(encoding="utf-8")
    missing = [str(p.relative_to(PACKAGE)) for p in _modules()
               if str(p.relative_to(PACKAGE)) not in text
               and not (p.name == "__init__.py" and f"{p.parent.name}/" in text)]
    assert missing == []


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_reaches_up_the_chain(path: Path) -> None:
    name = ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
    if name == "__main__":
        return
    rules = [bad for prefix, bad in FORBIDDEN.items()
             if name == prefix or name.startswith(prefix + ".")]
    if not name.startswith("cli"):
        rules.append(("cli",))
    wrong = sorted(m for m in _imports(path) for bad in rules for b in bad
                   if (m == b or m.startswith(b + ".")) and m not in ALLOWED)
    assert wrong == [], f"{name} imports {wrong}"

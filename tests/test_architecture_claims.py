"""ARCHITECTURE.md's "one place" claims, checked over the source with ``ast``.

Each test reads the modules the page names for a rule (where the page lists them) and
checks that the code does the thing nowhere else: a new module that runs a process,
renames a file, walks up to ``mlstack.toml``, spells the env-name pattern, exits with a
bare number or raises the root error fails here until the page names it.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Collection
from functools import cache
from pathlib import Path

import pytest

import mlstack_env

PACKAGE = Path(mlstack_env.__file__).parent
ARCHITECTURE = PACKAGE.parent / "ARCHITECTURE.md"


@cache
def _sources() -> dict[str, ast.Module]:
    """Every module of the package, by its path under ``mlstack_env/`` (``store/gc.py``)."""
    return {str(p.relative_to(PACKAGE)): ast.parse(p.read_text(encoding="utf-8"))
            for p in sorted(PACKAGE.rglob("*.py")) if "__pycache__" not in p.parts}


def _doc() -> str:
    return ARCHITECTURE.read_text(encoding="utf-8")


def _named_in(passage: str) -> set[str]:
    """The modules a passage of the page names (backticked ``folder/name.py``, ``uv.py``)."""
    return set(re.findall(r"`((?:\w+/)*\w+\.py)", passage))


def _passage(start: str, end: str) -> str:
    """The page's text from ``start`` up to the next ``end``: one claim's list."""
    text = _doc()
    at = text.find(start)
    assert at >= 0, f"ARCHITECTURE.md no longer says {start!r}"
    stop = text.find(end, at + len(start))
    return text[at:stop if stop >= 0 else len(text)]


def _dotted(node: ast.AST) -> str:
    """``os.replace`` for an attribute chain, ``name`` for a name, else ''."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else f"?.{node.attr}"
    return ""


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node outside ``if TYPE_CHECKING:`` blocks (what runs)."""
    found: list[ast.AST] = []
    todo = [tree]
    while todo:
        node = todo.pop()
        found.append(node)
        for child in ast.iter_child_nodes(node):
            if (isinstance(child, ast.If) and isinstance(child.test, ast.Name)
                    and child.test.id == "TYPE_CHECKING"):
                todo.extend(child.orelse)
                continue
            todo.append(child)
    return found


# --- processes: uv.py is the one place that runs uv --------------------------------------

_STARTERS = {"os.system", "os.popen", "os.fork", "os.forkpty"}
_STARTER_PREFIXES = ("os.exec", "os.spawn", "os.posix_spawn")


def _starts_processes(tree: ast.Module) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name == "subprocess" for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and node.module == "subprocess":
            return True
        if isinstance(node, ast.Call):
            name = _dotted(node.func)
            if name in _STARTERS or name.startswith(_STARTER_PREFIXES):
                return True
    return False


def test_only_the_modules_the_page_lists_start_processes() -> None:
    # "uv.py is the one place that runs uv": a module that ran uv would start a process,
    # and the page says what each module that starts one runs.
    listed = _named_in(_passage("- **Processes**", "\n- "))
    assert "uv.py" in listed
    starters = {name for name, tree in _sources().items() if _starts_processes(tree)}
    assert sorted(starters - listed) == [], "starts a process: name it under Processes"
    assert sorted(listed - starters) == [], "starts none any more: drop it from Processes"


# --- renames: core/userfile.write_atomic is the one atomic writer ------------------------


def _renames(tree: ast.Module) -> bool:
    """``os.replace``/``os.rename``, or ``Path.replace(target)``/``Path.rename(target)``
    (one argument: ``str.replace`` takes two, ``dataclasses.replace`` takes keywords)."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func)
        if name in ("os.replace", "os.rename", "os.renames"):
            return True
        if (name.endswith((".replace", ".rename")) and not name.startswith("dataclasses.")
                and len(node.args) == 1 and not node.keywords):
            return True
    return False


def test_only_the_writer_and_the_modules_the_page_lists_rename() -> None:
    listed = _named_in(_passage("keep their own temporary and rename", "|"))
    renamers = {name for name, tree in _sources().items() if _renames(tree)}
    assert "core/userfile.py" in renamers
    assert sorted(renamers - listed - {"core/userfile.py"}) == [], (
        "renames into place: use core/userfile.write_atomic, or name the module in "
        "core/userfile.py's row of ARCHITECTURE.md")
    assert sorted(listed - renamers) == [], "renames nothing any more: drop it from the row"


# --- core/projectdir.py: the one walk up to mlstack.toml ---------------------------------

_PROJECT_FILES = {"mlstack.toml", "mlstack.lock"}


def _functions(tree: ast.Module) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]


def _names_a_project_file(node: ast.AST) -> bool:
    return any((isinstance(n, ast.Name) and n.id in ("MANIFEST_NAME", "LOCK_NAME"))
               or (isinstance(n, ast.Attribute) and n.attr in ("MANIFEST_NAME", "LOCK_NAME"))
               or (isinstance(n, ast.Constant) and n.value in _PROJECT_FILES)
               for n in ast.walk(node))


def _walks_up(node: ast.AST) -> bool:
    return any(isinstance(n, ast.While)
               or (isinstance(n, ast.Attribute) and n.attr == "parents")
               or (isinstance(n, ast.Call) and _dotted(n.func).endswith("path.dirname"))
               for n in ast.walk(node))


def test_only_projectdir_walks_up_to_a_project_file() -> None:
    walkers = sorted(f"{name}:{fn.name}" for name, tree in _sources().items()
                     for fn in _functions(tree)
                     if _names_a_project_file(fn) and _walks_up(fn))
    # find_upward walks, taking the names; find_manifest names mlstack.toml, walking
    # through it: a function that does both walks up on its own.
    assert walkers == [], "find the folder with core/projectdir.find_upward"


def test_the_walk_up_is_where_the_page_says() -> None:
    found = [fn.name for fn in _functions(_sources()["core/projectdir.py"]) if _walks_up(fn)]
    assert found == ["find_upward"]
    assert "**the one project discovery**: `find_upward`" in _doc()


# --- core/envname.py: the one name rule --------------------------------------------------

_NAME_RULE = "[A-Za-z0-9][A-Za-z0-9._-]{0,63}"


def test_only_envname_spells_the_name_rule() -> None:
    spelled = sorted(name for name, tree in _sources().items()
                     for n in ast.walk(tree)
                     if isinstance(n, ast.Constant) and isinstance(n.value, str)
                     and _NAME_RULE in n.value and not _is_docstring(tree, n))
    assert spelled == ["core/envname.py"], "import NAME_PATTERN from core/envname.py"
    assert "**the one name rule**" in _passage("`core/envname.py`", "\n")


def _is_docstring(tree: ast.Module, node: ast.Constant) -> bool:
    holders = [tree, *(n for n in ast.walk(tree)
                       if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef))]
    return any(h.body and isinstance(h.body[0], ast.Expr) and h.body[0].value is node
               for h in holders)


# --- ExitCode: every exit status from the one table --------------------------------------

_EXITS = ("sys.exit", "SystemExit", "typer.Exit", "Exit", "os._exit", "click.exceptions.Exit")


def _int(node: ast.AST | None) -> bool:
    return (isinstance(node, ast.Constant) and isinstance(node.value, int)
            and not isinstance(node.value, bool))


def _bare_exit_codes(name: str, tree: ast.Module) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            args = [*node.args, *(k.value for k in node.keywords if k.arg == "code")]
            if _dotted(node.func) in _EXITS and any(_int(a) for a in args):
                found.append(f"{name}:{node.lineno}")
            found += [f"{name}:{node.lineno}" for k in node.keywords
                      if k.arg == "exit_code" and _int(k.value)]
    if name.startswith("cli/") or _is_script(tree):  # a body returns its exit status
        for fn in _functions(tree):
            returns = ast.unparse(fn.returns) if fn.returns is not None else ""
            if re.search(r"\bint\b", returns):
                found += [f"{name}:{n.lineno}" for n in ast.walk(fn)
                          if isinstance(n, ast.Return) and _int(n.value)]
    return found


def _is_script(tree: ast.Module) -> bool:
    """Whether the module runs as a program (``if __name__ == "__main__":``)."""
    return any(isinstance(s, ast.If) and "__name__" in ast.unparse(s.test) for s in tree.body)


def test_every_exit_status_comes_from_the_exit_code_table() -> None:
    allowed = _named_in(_passage("A bare `0`", "\n\n"))
    assert allowed, "ARCHITECTURE.md names where a bare exit status is allowed"
    bare = [site for name, tree in _sources().items() if name not in allowed
            for site in _bare_exit_codes(name, tree)]
    assert bare == [], "exit with core.errors.ExitCode, not a number"
    unused = sorted(n for n in allowed if not _bare_exit_codes(n, _sources()[n]))
    assert unused == [], "no bare exit status there any more: drop it from the page"


# --- standard library only ---------------------------------------------------------------

_STDLIB = set(sys.stdlib_module_names)
_FAST = {"cli/options.py", "cli/fast.py", "cli/fastspec.py", "core/record.py",
         "core/projectdir.py", "core/metadata.py"}


def _runtime_imports(tree: ast.Module) -> set[str]:
    found: set[str] = set()
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
            if node.module == "mlstack_env":
                found.update(f"mlstack_env.{a.name}" for a in node.names)
            else:
                found.add(node.module or "")
    return found


@pytest.mark.parametrize(("module", "ours"), [
    # copied beside a recipe and run by the image's Python: nothing of mlstack
    ("rocmwheels/selectorunpack.py", set()),
    # the fast path: not even typing
    ("cli/options.py", {"mlstack_env.core.record"}),
    ("cli/fast.py", {"mlstack_env.cli.fastspec", "mlstack_env.cli.progress"}),
    ("cli/fastspec.py", set()),
    ("core/record.py", set()),
    ("core/projectdir.py", {"mlstack_env.core", "mlstack_env.core.errors"}),
    ("core/metadata.py", set()),
    # a page read for any downloader: no urllib3, nothing of the lock
    ("fetch/indexpages.py", {"mlstack_env.__version__", "mlstack_env.core.errors",
                             "mlstack_env.core.envvars"}),
])
def test_standard_library_only(module: str, ours: set[str]) -> None:
    imported = _runtime_imports(_sources()[module])
    foreign = {m for m in imported
               if (m.split(".")[0] not in _STDLIB or (module in _FAST and m == "typing"))
               and m not in ours}
    assert sorted(foreign) == []
    assert module in _doc()


def test_the_hot_path_modules_import_no_pathlib_re_or_typing_at_load() -> None:
    for module in ("store/lookup.py", "core/projectdir.py", "core/paths.py",
                   "activation/data.py", "core/envname.py"):
        tree = _sources()[module]
        top = _runtime_imports(ast.Module(
            body=[s for s in tree.body if isinstance(s, ast.Import | ast.ImportFrom)],
            type_ignores=[]))
        assert sorted(top & {"pathlib", "re", "typing"}) == [], module


# --- packages that define no names -------------------------------------------------------


@pytest.mark.parametrize("package", ["store", "resolve", "activation"])
def test_these_packages_define_no_names(package: str) -> None:
    body = _sources()[f"{package}/__init__.py"].body
    rest = [s for s in body[1:] if not (isinstance(s, ast.ImportFrom)
                                        and s.module == "__future__")]
    assert isinstance(body[0], ast.Expr) and rest == []
    assert f"`mlstack_env.{package}`" in _doc()


# --- errors: the root class only where the page says -------------------------------------


def _uses_the_root_error(tree: ast.Module) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _dotted(node.func) == "MlstackError":
            return True
        if isinstance(node, ast.ClassDef) and any(_dotted(b) == "MlstackError"
                                                 for b in node.bases):
            return True
        if isinstance(node, ast.ExceptHandler) and node.type is not None and any(
                _dotted(n) == "MlstackError" for n in ast.walk(node.type)):
            return True
    return False


def test_the_root_error_is_raised_and_caught_only_where_the_page_says() -> None:
    # The modules the Errors section names: the printer, the catches it names, uv.py's
    # UvError, and those not yet converted to a kind.
    allowed = _named_in(_passage("## Errors", "\n## ")) | {"core/errors.py"}
    users = {name for name, tree in _sources().items() if _uses_the_root_error(tree)}
    assert sorted(users - allowed) == [], "raise or catch a kind of core/errors.py"


# --- core/userfile.py: the one reader of TOML a user hands mlstack -----------------------

_TOML_PARSERS = {"tomllib.load", "tomllib.loads", "tomlkit.parse", "tomlkit.loads",
                 "tomlkit.load"}


def _callers(functions: Collection[str]) -> set[str]:
    """The modules that call one of ``functions`` (dotted, as written)."""
    return {name for name, tree in _sources().items()
            if any(isinstance(n, ast.Call) and _dotted(n.func) in functions
                   for n in ast.walk(tree))}


def _exactly_listed(home: str, callers: set[str], listed: set[str], *, use: str,
                    stale: str) -> None:
    """``home`` does it, and besides it exactly the ``listed`` modules do."""
    assert home in callers
    assert sorted(callers - listed - {home}) == [], use
    assert sorted(listed - callers) == [], stale


def test_only_userfile_and_the_modules_the_page_lists_parse_toml() -> None:
    listed = _named_in(_passage("TOML parsed anywhere else", ". Only these modules keep"))
    _exactly_listed("core/userfile.py", _callers(_TOML_PARSERS), listed,
                    use="read a user's TOML with core/userfile.py's readers",
                    stale="parses no TOML any more: drop it from the row")


# --- core/locks.py: the flock of envs, entries, the store and a project's lock ---------


def test_only_locks_and_the_modules_the_page_lists_call_flock() -> None:
    listed = _named_in(_passage("Only these modules call `flock` on their own", ";"
                                " `store/files.py` also holds"))
    _exactly_listed("core/locks.py", _callers({"fcntl.flock", "fcntl.lockf"}), listed,
                    use="lock with core/locks.py (file_lock, try_lock_dir)",
                    stale="no flock there any more: drop it from the row")


# --- cli/options.py: --json declared once ------------------------------------------------


def test_json_is_declared_once() -> None:
    declared = sorted(f"{name}:{n.lineno}" for name, tree in _sources().items()
                      if name.startswith("cli/") and name != "cli/fastspec.py"
                      for n in ast.walk(tree)
                      if isinstance(n, ast.Call) and any(
                          isinstance(a, ast.Constant) and a.value == "--json" for a in n.args))
    assert [d.split(":")[0] for d in declared] == ["cli/options.py"], declared
    assert "`--json` (`JSON`" in _doc()

"""The typer-free path of the commands that do no resolving (``mlstack_env.cli.lean``).

For each form the fast path takes, it must print what typer's path prints, byte for byte;
every other form must go to typer; and the fast path must not load typer, rich or the
TOML writer (``-X importtime``, in a process of its own).
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Annotated, Any, get_args, get_type_hints

import pytest

from mlstack_env.cli import fast
from tests.conftest import run_mlstack
from tests.envfixtures import team_lock
from tests.wheelindex import WheelIndex, write_project

pytest_plugins = ["tests.wheelindex"]

Result = tuple[int, str, str]

# Progress lines time their steps ("done in 0.01 s"); two runs of the same command may
# differ there and only there.
_DURATION = re.compile(r"\bin \d+\.\d+ s\b")


def _result(r: subprocess.CompletedProcess[str]) -> Result:
    return r.returncode, r.stdout, _DURATION.sub("in T s", r.stderr)


@pytest.fixture
def world(mirrored: WheelIndex, fake_machine: Callable[[str], Path],
          tmp_path: Path) -> Iterator[Path]:
    """A 7900 XTX with env ``demo`` made from the team lock, and a project whose
    ``mlstack.lock`` is fresh; yields the project directory."""
    fake_machine("7900xtx")
    lock = team_lock(tmp_path / "team.lock")
    made = run_mlstack("env", "create", "demo", "--lock", str(lock))
    assert made.returncode == 0, made.stderr
    project = tmp_path / "project"
    write_project(project, profiles={"ml": ["torch"]}, targets=["rocm6.4:gfx1100"])
    locked = run_mlstack("lock", cwd=project)
    assert locked.returncode == 0, locked.stderr
    yield project


def _fast(monkeypatch: pytest.MonkeyPatch, *args: str, cwd: Path | None = None) -> Result:
    """``mlstack ARGS`` that must not reach typer."""
    import mlstack_env.cli.entry

    def no_typer(argv: list[str]) -> int:
        raise AssertionError(f"typer ran for {argv}")

    with monkeypatch.context() as m:
        m.setattr(mlstack_env.cli.entry, "_run_app", no_typer)
        r = run_mlstack(*args, cwd=cwd)
    return _result(r)


def _typer(monkeypatch: pytest.MonkeyPatch, *args: str, cwd: Path | None = None) -> Result:
    """``mlstack ARGS`` through the typer app, the fast path switched off."""
    with monkeypatch.context() as m:
        m.setattr(fast, "FAST", {})
        r = run_mlstack(*args, cwd=cwd)
    return _result(r)


READS = [
    ("env", "list"),
    ("env", "list", "--json"),
    ("-q", "env", "list"),
    ("env", "info", "demo"),
    ("env", "info", "demo", "--json"),
    ("env", "info", "--json", "demo"),
    ("env", "info", "nosuch"),
    ("env", "info", "nosuch", "--json"),
    ("env", "info", "bad/name"),
    ("profile", "list"),
    ("profile", "list", "--json"),
]


@pytest.mark.parametrize("args", READS, ids=" ".join)
def test_reads_print_what_typer_prints(args: tuple[str, ...], world: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    assert _fast(monkeypatch, *args) == _typer(monkeypatch, *args)


@pytest.mark.parametrize("args", [("lock",), ("lock", "--check"), ("lock", "--json"),
                                  ("lock", "--check", "--json"), ("lock", "-q"),
                                  ("lock", "ml", "--target", "rocm6.4:gfx1100"),
                                  ("lock", "nosuch")], ids=" ".join)
def test_a_no_op_lock_prints_what_typer_prints(args: tuple[str, ...], world: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    fast = _fast(monkeypatch, *args, cwd=world)
    assert fast == _typer(monkeypatch, *args, cwd=world)
    assert fast[0] == (1 if "nosuch" in args else 0)


def test_an_up_to_date_project_create_prints_what_typer_prints(
        world: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``env create`` in a project (no ``--lock``) takes the fast path too."""
    first = _fast(monkeypatch, "env", "create", "ml", "--json", cwd=world)
    assert first[0] == 0, first[2]
    again = _fast(monkeypatch, "env", "create", "ml", cwd=world)
    assert again == _typer(monkeypatch, "env", "create", "ml", cwd=world)
    assert again[0] == 0


def test_a_stale_lock_check_fails_alike(world: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_project(world, profiles={"ml": ["torch", "numpy"]}, targets=["rocm6.4:gfx1100"])
    fast = _fast(monkeypatch, "lock", "--check", cwd=world)
    assert fast == _typer(monkeypatch, "lock", "--check", cwd=world)
    assert fast[0] == 1 and "is not up to date" in fast[2]


@pytest.mark.parametrize("extra", [(), ("--json",), ("-q",), ("-n", "x", "--json")],
                         ids=lambda e: " ".join(e) or "plain")
def test_a_store_hit_create_prints_what_typer_prints(
        extra: tuple[str, ...], world: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    lock = str(tmp_path / "team.lock")
    args = ("env", "create", "demo", "--lock", lock, "--name", "again", *extra)
    name = "x" if "-n" in extra else "again"
    fast = _fast(monkeypatch, *args)
    assert fast[0] == 0, fast[2]
    assert run_mlstack("env", "remove", name).returncode == 0
    assert fast == _typer(monkeypatch, *args)


TYPERS = [
    ("env", "list", "--help"),
    ("env", "list", "extra"),
    ("env", "list", "--jsn"),
    ("env", "info"),
    ("env", "info", "a", "b"),
    ("env", "info", "demo", "-v"),
    ("env", "create", "--lock"),
    ("env", "create", "--lock", "-x"),
    ("env", "create", "--lock=L"),
    ("env", "create", "a", "b", "--lock", "L"),
    ("profile", "list", "--project", "."),
    ("lock", "--", "x"),
    ("lock", "-o", "out.lock"),  # typer checks it is no directory
    ("lock", "--export-pylock", "dir"),
    ("lock", "-Uq"),
]


@pytest.mark.parametrize("args", TYPERS, ids=" ".join)
def test_other_forms_go_to_typer(args: tuple[str, ...]) -> None:
    assert fast.run_fast(list(args)) is None


@pytest.mark.parametrize("args", [("env", "list", "--help"), ("env", "info"),
                                  ("env", "create", "--lock"), ("lock", "--chek")],
                         ids=" ".join)
def test_help_and_usage_errors_are_typers(args: tuple[str, ...], world: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    r = run_mlstack(*args, cwd=world)
    assert _result(r) == _typer(monkeypatch, *args, cwd=world)
    assert ("Usage: mlstack" in r.stdout) == ("--help" in args)


# Start-up: which heavy modules each fast command loads (a process of its own).
HEAVY = ("typer", "click", "rich", "tomlkit")


def _imported(args: list[str], cwd: Path | None = None,
              env: dict[str, str] | None = None, argv0: str | None = None,
              expect: str = "") -> set[str]:
    """The modules ``mlstack ARGS`` loads, run by ``argv0`` if given (the script's path:
    hints then name it, core/progname.py); its stdout must hold ``expect``."""
    import os

    code = "import sys; from mlstack_env.cli import main; sys.exit(main())"
    if argv0 is not None:
        code = f"import sys; sys.argv[0] = {argv0!r}; {code}"
    r = subprocess.run([sys.executable, "-X", "importtime", "-c", code, *args], cwd=cwd,
                       capture_output=True, text=True, check=False, timeout=120,
                       env={**os.environ, **(env or {})})
    assert r.returncode == 0, r.stderr
    assert expect in r.stdout
    return {line.rsplit("|", 1)[1].strip() for line in r.stderr.splitlines()
            if line.startswith("import time:") and "|" in line}


def _heavy(modules: set[str]) -> set[str]:
    return {m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY)}


@pytest.mark.parametrize("args", [["env", "list"], ["env", "list", "--json"],
                                  ["env", "info", "demo"], ["profile", "list"],
                                  ["profile", "list", "--json"], ["lock"], ["lock", "--check"],
                                  ["env", "create", "demo", "--lock", "LOCK", "-q"],
                                  ["env", "create", "demo", "--lock", "LOCK", "--json"]],
                         ids=" ".join)
def test_fast_commands_load_no_typer_rich_or_tomlkit(args: list[str], world: Path,
                                                     tmp_path: Path) -> None:
    args = [str(tmp_path / "team.lock") if a == "LOCK" else a for a in args]
    modules = _imported(args, cwd=world)
    assert "mlstack_env.cli.fast" in modules  # the log is the real one
    assert _heavy(modules) == set()


def test_rich_loads_only_to_style_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Off a terminal the plain console writes what rich would, byte for byte."""
    from mlstack_env.cli.plain import PlainConsole, console, rich_console

    class Pipe(io.StringIO):
        def isatty(self) -> bool:
            return False

    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    monkeypatch.setenv("COLUMNS", "40")
    texts = ["plain", "x" * 39, "x" * 41, "a\tb", "tab\there and there", "κόσμος", "日本語",
             "café — ok", "a :thumbs_up: b", "at 2026-11-30T18:17:00Z", "x :+1: y",
             "rocm6.4:gfx1100 and a:b", "[bold]x[/bold]",
             "esc \x1b[31m red", "two\nlines", "", "trailing  "]
    for text in texts:
        for soft_wrap in (False, True):
            outs = []
            for make in (console, rich_console):
                monkeypatch.setattr(sys, "stdout", Pipe())
                make().print(text, soft_wrap=soft_wrap)
                make().print(text, soft_wrap=soft_wrap, markup=False, highlight=False)
                make().print(text, style="red", soft_wrap=soft_wrap, markup=False,
                             highlight=False, emoji=False)
                make().out(text, highlight=False)
                outs.append(sys.stdout.getvalue())
            assert outs[0] == outs[1], (text, soft_wrap)
    monkeypatch.setattr(sys, "stdout", Pipe())
    assert isinstance(console(), PlainConsole)
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert not isinstance(console(), PlainConsole)


@pytest.mark.parametrize(("args", "absent"), [
    (["env", "list"], ("packaging", "mlstack_env.uv", "mlstack_env.hardware",
                       "mlstack_env.lockfile")),
    # info reads the generation's lock (which ROCm the env runs on), not the machine.
    (["env", "info", "demo", "--json"], ("packaging.requirements", "packaging.tags",
                                         "mlstack_env.uv", "mlstack_env.hardware",
                                         "mlstack_env.resolve")),
    # A store hit reads a lock and detects the machine, but parses no requirement and
    # runs nothing: no uv, no subprocess, no logging, no tempfile; and it defines no
    # dataclass (core/record.py) and removes nothing (shutil). Its ROCm and torch
    # versions are release numbers: no packaging.version (catalog.rocm_release, release_numbers).
    (["env", "create", "demo", "--lock", "LOCK", "--name", "hit", "--json"],
     ("packaging", "mlstack_env.resolve",
      "mlstack_env.manifest.profiles", "mlstack_env.uv", "mlstack_env.actions.tree", "subprocess",
      "logging", "tempfile", "platform", "mlstack_env.fetch.download", "urllib3",
      "dataclasses", "inspect", "shutil", "threading")),
    # A store miss (--reinstall builds again) runs uv, but checks what uv installed from
    # the dist-info names: no METADATA parser, no packaging beyond its version module.
    # (The email package does load: http.client imports it, to read the mirrors' pages.)
    (["env", "create", "demo", "--lock", "LOCK", "--name", "miss", "--reinstall", "--json"],
     ("mlstack_env.store.verify", "packaging.tags", "packaging.utils",
      "packaging.requirements", "mlstack_env.resolve", "mlstack_env.manifest.profiles", "typer",
      "rich", "tomlkit")),
], ids=lambda v: " ".join(v) if isinstance(v, list) else "")
def test_reads_and_store_hits_skip_what_they_do_not_use(
        args: list[str], absent: tuple[str, ...], world: Path, tmp_path: Path) -> None:
    args = [str(tmp_path / "team.lock") if a == "LOCK" else a for a in args]
    modules = _imported(args)
    assert "mlstack_env.cli.fast" in modules
    assert {m for m in modules if any(m == a or m.startswith(a + ".") for a in absent)} == set()


def test_an_up_to_date_create_loads_no_version_parser_remover_or_activation(
        world: Path, tmp_path: Path) -> None:
    """An up-to-date create prints the env as it is: it writes no activation scripts
    (store/create.activation_writer loads them only to write a generation), compares its
    versions as release numbers (no packaging), reads os-release without shlex
    (hardware/osinfo.py), and names the script that ran it in its hint without shutil's
    ``which`` (with zlib, bz2 and lzma: core/progname.py)."""
    script = str(tmp_path / "bin" / "mlstack")  # off PATH: the hint names this path
    modules = _imported(["env", "create", "demo", "--lock", str(tmp_path / "team.lock")],
                        argv0=script, expect=f"use it:    {script} env shell demo")
    absent = ("packaging", "shutil", "zlib", "bz2", "lzma", "shlex",
              "mlstack_env.activation.scripts", "mlstack_env.uv", "subprocess", "tempfile",
              "dataclasses", "typer", "rich")
    assert {m for m in modules if any(m == a or m.startswith(a + ".") for a in absent)} == set()


# Run in the child before mlstack: records each module of mlstack_env that imports one of
# the watched modules (at import or in a function), loaded already or not.
_WATCH_IMPORTS = """
import builtins, json, sys
watched, seen, real = set(sys.argv[1].split(",")), set(), builtins.__import__
def hook(name, globals=None, locals=None, fromlist=(), level=0):
    caller = (globals or {}).get("__name__", "")
    if name.split(".")[0] in watched and caller.startswith("mlstack_env"):
        seen.add(f"{caller} imports {name}")
    return real(name, globals, locals, fromlist, level)
builtins.__import__ = hook
from mlstack_env.cli import main
sys.argv = ["mlstack", *sys.argv[2:]]
code = main(sys.argv[1:])  # with its arguments: main() itself would end the process
print(json.dumps(sorted(seen)), file=sys.stderr)
sys.exit(code)
"""


@pytest.mark.parametrize("args", [["env", "create", "demo", "--lock", "LOCK"],
                                  ["env", "create", "demo", "--lock", "LOCK", "-n", "hit",
                                   "--json"]], ids=" ".join)
def test_a_store_hit_and_an_up_to_date_create_import_no_typing(
        args: list[str], world: Path, tmp_path: Path) -> None:
    """Annotations only: mlstack's modules on these paths take typing's names under
    ``TYPE_CHECKING = False`` (typing is 1.5 ms to import), and parse URL templates
    without the string module. (tomllib still loads typing where the TOML memo misses.)"""
    import json
    import os

    args = [str(tmp_path / "team.lock") if a == "LOCK" else a for a in args]
    r = subprocess.run([sys.executable, "-c", _WATCH_IMPORTS, "typing,string", *args],
                       capture_output=True, text=True, check=False, timeout=120,
                       env=dict(os.environ))
    assert r.returncode == 0, r.stderr
    assert '"store_key"' in r.stdout or "is up to date" in r.stdout  # the real paths
    assert json.loads(r.stderr.splitlines()[-1]) == []


def test_a_store_miss_with_every_file_cached_loads_no_downloader(world: Path,
                                                                 tmp_path: Path) -> None:
    """A store miss whose files are all in the download cache (the entry removed by gc,
    the cache kept) runs uv, but starts no download: no HTTP client (urllib3, ssl, the
    transfer threads), no locator; and it hashes no cached file, defines no dataclass
    (fetch/wants.py's classes are records), removes no tree (shutil, with bz2 and lzma),
    writes no temporary with tempfile, and starts uv without subprocess (and the
    selectors and locale it loads: uv.py's posix_spawn)."""
    assert run_mlstack("env", "remove", "demo").returncode == 0
    assert run_mlstack("gc").returncode == 0
    modules = _imported(["env", "create", "demo", "--lock", str(tmp_path / "team.lock"),
                         "--json"])
    assert {"mlstack_env.uv", "mlstack_env.fetch.download"} <= modules  # a real miss
    absent = ("urllib3", "ssl", "http", "email", "socket", "concurrent",
              "mlstack_env.fetch.httpclient", "mlstack_env.fetch.transfer",
              "mlstack_env.fetch.locate", "mlstack_env.fetch.indexpages", "hashlib",
              "dataclasses", "inspect", "shutil", "bz2", "lzma", "tempfile", "logging",
              "mlstack_env.resolve", "mlstack_env.store.verify", "typer", "rich", "tomlkit",
              "subprocess", "selectors", "locale")
    assert {m for m in modules if any(m == a or m.startswith(a + ".") for a in absent)} == set()


def test_a_no_op_lock_imports_no_resolver(world: Path) -> None:
    """Nothing to resolve: the resolver proper (one entry's resolution, the CUDA check,
    uv's compile run, uv itself) stays unloaded."""
    modules = _imported(["lock"], cwd=world)
    assert "mlstack_env.resolve.locking" in modules  # the log is the real one
    absent = ("mlstack_env.resolve.entry", "mlstack_env.resolve.cudacheck",
              "mlstack_env.resolve.uvcompile", "mlstack_env.uv", "tempfile")
    assert {m for m in modules if m in absent} == set()


# The fast path's table is generated from the typer declaration, and each body takes its
# command's parameters: one declaration of every option.


def test_the_fast_table_is_generated_from_the_declaration() -> None:
    from mlstack_env.cli import fastgen

    written = Path(fastgen.__file__).with_name("fastspec.py").read_text(encoding="utf-8")
    assert written == fastgen.source(), "run `python -m mlstack_env.cli.fastgen`"


@pytest.mark.parametrize("words", list(fast.FAST), ids=" ".join)
def test_each_body_takes_its_commands_parameters(words: tuple[str, ...]) -> None:
    import inspect
    from importlib import import_module

    from mlstack_env.cli import fastgen

    def load(dotted: str) -> Any:
        module, name = dotted.rsplit(".", 1)
        return getattr(import_module(f"mlstack_env.cli.{module}"), name)

    command = fastgen.command_at(words)
    body, options_class = fast.FAST[words][:2]
    declared = {p.name: p.default for p in command.params}
    if options_class is None:  # the body takes the parameters
        taken = {n: None if p.default is p.empty else p.default  # required: click's None
                 for n, p in inspect.signature(load(body)).parameters.items()}
    else:  # the body takes one object of the options class, whose fields are the params
        [only] = inspect.signature(load(body)).parameters.values()
        assert only.annotation == options_class.rsplit(".", 1)[1]
        taken = {f.name: None if f.default is MISSING else f.default
                 for f in fields(load(options_class))}
    assert declared == taken


def test_every_option_the_table_takes_is_declared_alike() -> None:
    """Each spelling in the table is an option typer declares, setting the same
    parameter; a flag in one is a flag in the other."""
    from mlstack_env.cli import fastgen

    for words, (_body, _class, options, _args, _required) in fast.FAST.items():
        params = {opt: p for p in fastgen.command_at(words).params for opt in p.opts}
        for spelling, (name, kind) in options.items():
            assert params[spelling].name == name
            assert (kind == "flag") == bool(getattr(params[spelling], "is_flag", False))


@pytest.mark.parametrize(("args", "values"), [
    (["env", "create", "p", "--lock", "L", "-n", "x", "--offline"],
     {"profile": "p", "lock_file": Path("L"), "name": "x", "offline": True}),
    (["lock", "a", "b", "-t", "cpu", "--target", "rocm6.4:gfx1100", "-P", "x", "-U"],
     {"profiles": ["a", "b"], "target": ["cpu", "rocm6.4:gfx1100"], "upgrade_package": ["x"],
      "upgrade": True}),
    (["env", "info", "--json", "demo"], {"name": "demo", "as_json": True}),
], ids=lambda v: " ".join(v) if isinstance(v, list) else "")
def test_the_fast_parser_gives_what_typer_gives(args: list[str],
                                                values: dict[str, object]) -> None:
    """Parsed through the table, the values are the ones typer hands the callback."""
    words = next(w for w in fast.FAST if tuple(args[: len(w)]) == w)
    parsed = fast.parse(fast.FAST[words], args[len(words):])
    assert parsed == values
    context = fastgen_context(words, args[len(words):])
    # typer turns a path's text into a Path in its callback, after click.
    assert {k: context[k] for k in values} == {
        k: str(v) if isinstance(v, Path) else v for k, v in values.items()}


def fastgen_context(words: tuple[str, ...], args: list[str]) -> dict[str, object]:
    from mlstack_env.cli import fastgen

    command = fastgen.command_at(words)
    ctx = command.make_context(" ".join(words), list(args))
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in ctx.params.items()}


@pytest.mark.parametrize("columns", ["80", "200", "79", "60"])
def test_root_help_prints_what_typer_prints(columns: str,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast path prints the help generated from the declaration where the width
    is the one it was generated for, and leaves narrower terminals to typer."""
    monkeypatch.setenv("COLUMNS", columns)
    for args in (("--help",), ()):
        fast_run = run_mlstack(*args)
        assert _result(fast_run) == _typer(monkeypatch, *args)
        assert fast_run.stdout.startswith("Usage: mlstack [OPTIONS] COMMAND")
    assert (fast.run_fast(["--help"]) is None) == (int(columns) < 80)


def test_help_loads_no_command_module() -> None:
    """``mlstack --help`` on a narrow terminal (typer's path) lists every command from
    the declaration's summaries."""
    modules = _imported(["--help"], env={"COLUMNS": "60"})
    assert "mlstack_env.cli.app" in modules
    loaded = {m for m in modules if m.startswith("mlstack_env.cli.")}
    assert loaded <= {"mlstack_env.cli.entry", "mlstack_env.cli.app",
                      "mlstack_env.cli.helptext", "mlstack_env.cli.fast",
                      "mlstack_env.cli.fastspec", "mlstack_env.cli.output",
                      "mlstack_env.cli.plain", "mlstack_env.cli.progress",
                      "mlstack_env.cli.report"}, loaded
    assert _heavy(modules) <= {m for m in modules if m.startswith(("typer", "click"))}


@pytest.mark.parametrize("words", [["lock"], ["env", "verify"], ["diff"], ["tree"]],
                         ids=" ".join)
def test_a_commands_help_loads_its_own_module_only(words: list[str]) -> None:
    modules = _imported([*words, "--help"])
    own = f"mlstack_env.cli.{words[0]}"
    assert own in modules
    others = {f"mlstack_env.cli.{m}" for m in ("init", "detect", "doctor", "system",
                                                "bundle", "export", "cache", "add")}
    assert modules & others == set()


@pytest.mark.parametrize("args", [["diff", "LOCK", "project/mlstack.lock"],
                                  ["tree", "demo"],
                                  ["tree", "--lock", "LOCK", "--target", "rocm6.4:gfx1100"]],
                         ids=" ".join)
def test_diff_and_tree_load_no_rich_off_a_terminal(args: list[str], world: Path,
                                                   tmp_path: Path) -> None:
    args = [str(tmp_path / "team.lock") if a == "LOCK" else a for a in args]
    modules = _imported(args, cwd=tmp_path)
    assert f"mlstack_env.cli.{args[0]}_results" in modules
    assert _heavy(modules) == set()  # no rich, and (the fast path) no typer


@pytest.mark.parametrize("args", [
    ("diff", "LOCK", "project/mlstack.lock"), ("diff", "LOCK", "project/mlstack.lock", "--json"),
    ("diff", "LOCK", "LOCK", "--exit-code"), ("diff", "nosuch.lock"),
    ("tree", "demo"), ("tree", "demo", "--json"), ("tree", "--lock", "LOCK", "--target",
                                                  "rocm6.4:gfx1100"),
    ("tree", "demo", "--lock", "LOCK"),
], ids=" ".join)
def test_diff_and_tree_print_what_typer_prints(args: tuple[str, ...], world: Path,
                                               tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    args = tuple(str(tmp_path / "team.lock") if a == "LOCK" else a for a in args)
    fast_run = _fast(monkeypatch, *args, cwd=tmp_path)
    assert fast_run == _typer(monkeypatch, *args, cwd=tmp_path)


def test_wide_root_help_loads_no_typer() -> None:
    modules = _imported(["--help"], env={"COLUMNS": "100"})
    assert "mlstack_env.cli.fastspec" in modules
    assert _heavy(modules) == set()


def test_an_options_class_is_its_commands_parameters() -> None:
    """A command declared with an options class (``cli/signature.takes``) has exactly
    the class's fields as parameters, in their order, with their defaults, spellings
    and help: the class is the one declaration typer reads."""
    from mlstack_env.cli.app import full_command
    from mlstack_env.cli.options import Opt

    def commands(group: Any, path: str) -> Iterator[tuple[str, Any]]:
        for name, command in getattr(group, "commands", {}).items():
            yield f"{path} {name}".strip(), command
            yield from commands(command, f"{path} {name}")

    declared = []
    for path, command in commands(full_command(), ""):
        cls = getattr(command.callback, "options", None)
        if cls is None:
            continue
        declared.append(path)
        hints = get_type_hints(cls, localns={"Annotated": Annotated}, include_extras=True)
        assert [p.name for p in command.params] == [f.name for f in fields(cls)], path
        for param, field in zip(command.params, fields(cls), strict=True):
            spec = get_args(hints[field.name])[1]
            assert param.default == (None if field.default is MISSING else field.default)
            assert param.required == (field.default is MISSING)
            assert param.help == spec.info["help"]
            if isinstance(spec, Opt):
                assert sorted(param.opts) == sorted(spec.decls), path
    assert sorted(declared) == ["env create", "export", "init", "lock"]

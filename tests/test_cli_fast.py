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
from pathlib import Path

import pytest

from mlstack_env.cli import lean
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
    import mlstack_env.cli

    def no_typer(argv: list[str]) -> int:
        raise AssertionError(f"typer ran for {argv}")

    with monkeypatch.context() as m:
        m.setattr(mlstack_env.cli, "_run_app", no_typer)
        r = run_mlstack(*args, cwd=cwd)
    return _result(r)


def _typer(monkeypatch: pytest.MonkeyPatch, *args: str, cwd: Path | None = None) -> Result:
    """``mlstack ARGS`` through the typer app, the fast path switched off."""
    with monkeypatch.context() as m:
        m.setattr(lean, "FAST", {})
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
                                  ("lock", "--check", "--json"), ("lock", "-q")], ids=" ".join)
def test_a_no_op_lock_prints_what_typer_prints(args: tuple[str, ...], world: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    fast = _fast(monkeypatch, *args, cwd=world)
    assert fast == _typer(monkeypatch, *args, cwd=world)
    assert fast[0] == 0


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
    ("env", "create", "demo"),
    ("env", "create", "--lock"),
    ("env", "create", "--lock", "L", "--target", "cpu"),
    ("env", "create", "--lock=L"),
    ("env", "create", "a", "b", "--lock", "L"),
    ("profile", "list", "--project", "."),
    ("lock", "ml"),
    ("lock", "--python", "3.12"),
    ("lock", "--", "x"),
]


@pytest.mark.parametrize("args", TYPERS, ids=" ".join)
def test_other_forms_go_to_typer(args: tuple[str, ...]) -> None:
    assert lean.run_fast(list(args)) is None


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


def _imported(args: list[str], cwd: Path | None = None) -> set[str]:
    code = "import sys; from mlstack_env.cli import main; sys.exit(main())"
    r = subprocess.run([sys.executable, "-X", "importtime", "-c", code, *args], cwd=cwd,
                       capture_output=True, text=True, check=False, timeout=120)
    assert r.returncode == 0, r.stderr
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
    assert "mlstack_env.cli.lean" in modules  # the log is the real one
    assert _heavy(modules) == set()


def test_rich_loads_only_to_style_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Off a terminal the plain console writes what rich would, byte for byte."""
    from mlstack_env.cli.output import console, rich_console
    from mlstack_env.cli.plain import PlainConsole

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
    # runs nothing: no uv, no subprocess, no logging, no tempfile.
    (["env", "create", "demo", "--lock", "LOCK", "--name", "hit", "--json"],
     ("packaging.requirements", "packaging.tags", "mlstack_env.resolve",
      "mlstack_env.profiles", "mlstack_env.uv", "mlstack_env.tree", "subprocess",
      "logging", "tempfile", "platform", "mlstack_env.download", "urllib3")),
], ids=lambda v: " ".join(v) if isinstance(v, list) else "")
def test_reads_and_store_hits_skip_what_they_do_not_use(
        args: list[str], absent: tuple[str, ...], world: Path, tmp_path: Path) -> None:
    args = [str(tmp_path / "team.lock") if a == "LOCK" else a for a in args]
    modules = _imported(args)
    assert "mlstack_env.cli.lean" in modules
    assert {m for m in modules if any(m == a or m.startswith(a + ".") for a in absent)} == set()


def test_a_no_op_lock_imports_no_resolver(world: Path) -> None:
    """Nothing to resolve: the resolver proper (one entry's resolution, the CUDA check,
    uv's compile run, uv itself) stays unloaded."""
    modules = _imported(["lock"], cwd=world)
    assert "mlstack_env.resolve.locking" in modules  # the log is the real one
    absent = ("mlstack_env.resolve.entry", "mlstack_env.resolve.cudacheck",
              "mlstack_env.resolve.uvcompile", "mlstack_env.uv", "tempfile")
    assert {m for m in modules if m in absent} == set()

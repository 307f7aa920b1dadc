"""``mlstack env run`` through the real console script: variables, status, signals, errors."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.activation_envs import TOOL, VARIABLES, fake_venv, make_env
from tests.conftest import mlstack_exe

Cli = Callable[..., subprocess.CompletedProcess[str]]

_DUMP = "import json, os, sys; json.dump(dict(os.environ), sys.stdout)"


@pytest.fixture
def demo(tmp_path: Path, isolated: Path) -> Path:
    venv = fake_venv(tmp_path / "venv")
    make_env(isolated, "demo", VARIABLES, venv)
    return venv


def _one_error(r: subprocess.CompletedProcess[str]) -> tuple[str, str]:
    lines = r.stderr.splitlines()
    assert len(lines) == 2, r.stderr
    assert lines[0].startswith("error: ")
    assert lines[1].startswith("hint: ")
    return lines[0], lines[1]


def test_variables_reach_the_child_exactly(cli: Cli, demo: Path, tmp_path: Path) -> None:
    r = cli("env", "run", "demo", "--", sys.executable, "-c", _DUMP,
            env={"HIP_VISIBLE_DEVICES": "9"}, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    child = json.loads(r.stdout)
    for name, value in VARIABLES.items():
        assert child[name] == value, name
    assert child["VIRTUAL_ENV"] == str(demo)
    assert child["MLSTACK_ENV"] == "demo"
    assert child["PATH"].split(":")[0] == str(demo / "bin")
    assert not (tmp_path / "pwned").exists()


def test_commands_are_found_on_the_env_path(cli: Cli, demo: Path) -> None:
    r = cli("env", "run", "demo", "--", TOOL)
    assert (r.returncode, r.stdout) == (0, "from-the-venv\n")


def test_double_dash_is_optional(cli: Cli, demo: Path) -> None:
    r = cli("env", "run", "demo", "sh", "-c", 'printf "%s" "$HSA_OVERRIDE_GFX_VERSION"')
    assert (r.returncode, r.stdout) == (0, "11.0.0")


def test_arguments_reach_the_command_untouched(cli: Cli, demo: Path) -> None:
    args = ["--", "-v", "--help", "$(touch pwned)", "a b", ""]
    r = cli("env", "run", "demo", "--", sys.executable, "-c",
            "import json, sys; print(json.dumps(sys.argv[1:]))", *args)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == args


def test_help_meant_for_the_command_reaches_it(cli: Cli, demo: Path) -> None:
    # Without `--`, `--help` after the command is the command's own.
    r = cli("env", "run", "demo", "printf", "%s|", "--help")
    assert (r.returncode, r.stdout) == (0, "--help|")


def test_exit_status_passes_through(cli: Cli, demo: Path) -> None:
    r = cli("env", "run", "demo", "--", "sh", "-c", "exit 7")
    assert r.returncode == 7
    assert r.stderr == ""


def test_a_signal_passes_through(demo: Path) -> None:
    # mlstack execs the command: the process the caller waits for *is* the command,
    # so a command killed by SIGTERM is reported exactly as a shell would report it.
    r = subprocess.run([*mlstack_exe(), "env", "run", "demo", "--", "sh", "-c", "kill -TERM $$"],
                       capture_output=True, text=True, check=False, timeout=60)
    assert r.returncode == -signal.SIGTERM
    shell = subprocess.run(["sh", "-c", "kill -TERM $$"], check=False, timeout=60)
    assert r.returncode == shell.returncode


def test_the_command_replaces_mlstack(cli: Cli, demo: Path) -> None:
    # Same pid: no mlstack process stays between the caller and the command.
    r = subprocess.Popen([*mlstack_exe(), "env", "run", "demo", "--", "sh", "-c", "echo $$"],
                         stdout=subprocess.PIPE, text=True)
    out, _ = r.communicate(timeout=60)
    assert int(out) == r.pid


def test_unknown_env_lists_the_envs(cli: Cli, demo: Path) -> None:
    r = cli("env", "run", "nope", "--", "true")
    assert r.returncode == 1
    error, hint = _one_error(r)
    assert error == "error: no env named 'nope'"
    assert "demo" in hint
    assert "mlstack env create" in hint


def test_unknown_env_when_there_are_none(cli: Cli) -> None:
    r = cli("env", "run", "nope", "--", "true")
    assert r.returncode == 1
    _, hint = _one_error(r)
    assert "mlstack env create" in hint


def test_invalid_env_name(cli: Cli) -> None:
    r = cli("env", "run", "../etc", "--", "true")
    assert r.returncode == 1
    error, _ = _one_error(r)
    assert "invalid env name" in error


def test_command_not_found_is_127(cli: Cli, demo: Path) -> None:
    r = cli("env", "run", "demo", "--", "no-such-command-xyz")
    assert r.returncode == 127
    error, hint = _one_error(r)
    assert "no-such-command-xyz" in error
    assert str(demo / "bin") in hint


def test_not_executable_is_126(cli: Cli, demo: Path, tmp_path: Path) -> None:
    script = tmp_path / "not-executable"
    script.write_text("#!/bin/sh\n")
    r = cli("env", "run", "demo", "--", str(script))
    assert r.returncode == 126
    _one_error(r)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "missing the command to run"),
        (["--"], "missing the command to run"),
        (["demo"], "no command to run"),
        (["demo", "--"], "no command to run"),
        (["demo", "other", "--", "true"], "one env name before `--`, not 2"),
        (["--frobnicate", "demo", "true"], "unknown option"),
    ],
)
def test_usage_errors(cli: Cli, demo: Path, args: list[str], message: str) -> None:
    r = cli("env", "run", *args)
    assert r.returncode == 1
    error, hint = _one_error(r)
    assert message in error
    assert "mlstack env run [NAME]" in hint


@pytest.mark.parametrize(
    "args", [["--help"], ["-h"], ["demo", "--help"], ["demo", "-h"]]
)
def test_help(cli: Cli, args: list[str]) -> None:
    r = cli("env", "run", *args)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("usage: mlstack env run [NAME] [--] CMD [ARGS...]")


def test_env_help_lists_run(cli: Cli) -> None:
    r = cli("env", "--help")
    assert r.returncode == 0
    assert "run" in r.stdout
    assert "activate" in r.stdout
    assert "shell" in r.stdout


# Startup: the hot path imports no CLI framework, no TOML writer, no resolver, and not
# pathlib or typing (with what they import, a third of env run's start-up).
HEAVY = ("typer", "click", "rich", "tomlkit", "packaging", "uv", "platformdirs",
         "mlstack_env.store", "mlstack_env.lockfile", "mlstack_env.uv",
         "mlstack_env.manifest.profiles", "mlstack_env.manifest.project", "mlstack_env.cli.app",
         "pathlib", "typing", "shlex", "urllib")


def _imported(args: list[str]) -> set[str]:
    """Modules imported by ``mlstack ARGS`` (``-X importtime`` logs each one as it loads,
    so the log is complete even though the process then execs another program)."""
    code = "import sys; from mlstack_env.cli import main; sys.exit(main())"
    r = subprocess.run([sys.executable, "-X", "importtime", "-c", code, *args],
                       capture_output=True, text=True, check=False, timeout=60)
    assert r.returncode == 0, r.stderr
    return {line.rsplit("|", 1)[1].strip() for line in r.stderr.splitlines()
            if line.startswith("import time:") and "|" in line} - {"package"}


# The store's lookup of an env's current generation is the hot path itself (its package
# loads nothing); the rest of the store is not.
LIGHT = ("mlstack_env.store", "mlstack_env.store.lookup")


def _heavy(modules: set[str]) -> set[str]:
    return {m for m in modules if m not in LIGHT
            and any(m == h or m.startswith(h + ".") for h in HEAVY)}


def test_env_run_imports_nothing_heavy(demo: Path) -> None:
    modules = _imported(["env", "run", "demo", "--", "true"])
    assert "mlstack_env.activation.data" in modules  # the log is the real one
    assert _heavy(modules) == set()


@pytest.mark.parametrize("variable", ["XDG_DATA_HOME", "HOME"])
def test_env_run_in_the_default_home_imports_nothing_heavy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    # As users run it, without MLSTACK_HOME: on Linux the default home comes without
    # platformdirs and the pathlib it brings (core/paths.py).
    for name in ("MLSTACK_HOME", "MLSTACK_CONFIG", "XDG_DATA_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(variable, str(tmp_path))
    below = "" if variable == "XDG_DATA_HOME" else ".local/share"
    make_env(tmp_path / below / "mlstack", "demo", VARIABLES, fake_venv(tmp_path / "venv"))
    # exit status 0: the env was found there and the command ran
    modules = _imported(["env", "run", "demo", "--", sys.executable, "-c", "pass"])
    assert {"platformdirs", "pathlib"} <= set(HEAVY)
    assert _heavy(modules) == set()


def test_run_with_the_projects_default_env_imports_nothing_heavy(
    demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "mlstack.toml").write_text('default-env = "demo"\n')
    monkeypatch.chdir(tmp_path)
    modules = _imported(["run", "--", "true"])
    assert "tomllib" in modules  # it did read the manifest
    assert _heavy(modules) == {"typing"}  # tomllib's own import


def test_version_imports_nothing_heavy() -> None:
    modules = _imported(["--version"])
    assert "mlstack_env" in modules
    assert _heavy(modules) == set()


# Without NAME: the project's default-env, else the only env (issue 10, item 8).


def _which_env(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 0, r.stderr
    return str(json.loads(r.stdout)["MLSTACK_ENV"])


@pytest.mark.parametrize("command", [["env", "run"], ["run"]])
def test_no_name_uses_the_only_env(cli: Cli, demo: Path, command: list[str],
                                   tmp_path: Path) -> None:
    r = cli(*command, "--", "python3", "-c", _DUMP, cwd=tmp_path)
    assert _which_env(r) == "demo"
    # Without `--`: `python3` is not an env, so it is the command.
    r = cli(*command, "python3", "-c", _DUMP, cwd=tmp_path)
    assert _which_env(r) == "demo"


def test_no_name_uses_the_projects_default_env(
    cli: Cli, demo: Path, isolated: Path, tmp_path: Path
) -> None:
    make_env(isolated, "mine", {}, demo)
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / "mlstack.toml").write_text('default-env = "mine"\n\n[profiles.mine]\n'
                                          "packages = []\n")
    r = cli("run", "--", "python3", "-c", _DUMP, cwd=project / "src")
    assert _which_env(r) == "mine"
    # A NAME still wins, before `--` or as the first word when an env has that name.
    assert _which_env(cli("run", "demo", "--", "python3", "-c", _DUMP, cwd=project)) == "demo"
    assert _which_env(cli("env", "run", "demo", "python3", "-c", _DUMP, cwd=project)) == "demo"


def test_default_env_that_was_never_created(cli: Cli, demo: Path, tmp_path: Path) -> None:
    (tmp_path / "mlstack.toml").write_text('default-env = "ml"\n')
    r = cli("run", "--", "true", cwd=tmp_path)
    assert r.returncode == 1
    error, hint = _one_error(r)
    assert error == (f"error: the project's default-env 'ml' ({tmp_path / 'mlstack.toml'}) "
                     "has no env yet")
    assert "mlstack env create" in hint


def test_no_name_with_several_envs_lists_them(cli: Cli, demo: Path, isolated: Path,
                                              tmp_path: Path) -> None:
    make_env(isolated, "other", {}, demo)
    r = cli("run", "--", "true", cwd=tmp_path)
    assert r.returncode == 1
    error, hint = _one_error(r)
    assert error == "error: which env? there are 2: demo, other"
    assert "mlstack run NAME -- CMD" in hint


def test_a_mistyped_env_name_says_it_ran_in_the_default_env(cli: Cli, demo: Path,
                                                            tmp_path: Path) -> None:
    r = cli("run", "dmeo", "python3", cwd=tmp_path)
    assert r.returncode == 127
    error, hint = _one_error(r)
    assert error == "error: command not found in env 'demo': dmeo"
    assert "'dmeo' is not an env either" in hint


def test_run_help_is_the_env_run_usage(cli: Cli) -> None:
    r = cli("run", "--help")
    assert r.returncode == 0, r.stderr
    assert "mlstack run [NAME] [--] CMD" in r.stdout


def test_a_broken_manifest_is_named(cli: Cli, demo: Path, tmp_path: Path) -> None:
    (tmp_path / "mlstack.toml").write_text('default-env = "demo\n')
    r = cli("run", "--", "true", cwd=tmp_path)
    assert r.returncode == 1
    error, _ = _one_error(r)
    assert error.startswith(f"error: {tmp_path / 'mlstack.toml'}: cannot read default-env (")


def test_the_fast_paths_hold_is_the_lock_gc_honours(tmp_path: Path, isolated: Path) -> None:
    # cli/run keeps its own copy of the hold so `env run` never imports the store; it must
    # lock exactly what store.generations.hold locks, or gc removes a running generation.
    import os

    from mlstack_env.cli.run import hold
    from mlstack_env.core import paths
    from mlstack_env.store.generations import NamedEnv
    from mlstack_env.store.generations import hold as store_hold

    venv = fake_venv(tmp_path / "venv")
    old = make_env(isolated, "demo", VARIABLES, venv, generation=1)
    make_env(isolated, "demo", VARIABLES, venv, generation=2)
    env = NamedEnv("demo")
    assert env.path / paths.CURRENT == isolated / "envs" / "demo" / "current"
    first = env.generations()[0]
    assert first.path == old
    fd = hold(old, "demo")
    try:
        assert not env.remove_generation(first)  # held: gc keeps it
        shared = store_hold(first)  # both are shared holds: they coexist
        assert shared is not None
        os.close(shared)
    finally:
        os.close(fd)
    assert env.remove_generation(first)  # released: gc may remove it


def test_a_lock_stamp_is_written_only_when_it_would_change(tmp_path: Path) -> None:
    """An up-to-date create records the stamp it finds (a read, not a rename); a lock
    that changed since is recorded again, and `env run` then sees it as current."""
    from mlstack_env.store.lookup import LOCK_STAMP, lock_stamp_changed, write_lock_stamp

    lock, gen = tmp_path / "mlstack.lock", tmp_path / "gen-1"
    lock.write_text("one\n")
    gen.mkdir()
    write_lock_stamp(str(gen), str(lock))
    stamp = gen / LOCK_STAMP
    written = stamp.stat().st_ino
    write_lock_stamp(str(gen), str(lock))
    assert stamp.stat().st_ino == written  # not replaced
    assert lock_stamp_changed(str(gen)) is None
    lock.write_text("two, longer\n")
    assert lock_stamp_changed(str(gen)) == str(lock)
    stamp.write_bytes(b"\xff damaged")  # not UTF-8: written again, never an error
    write_lock_stamp(str(gen), str(lock))
    assert stamp.stat().st_ino != written
    assert lock_stamp_changed(str(gen)) is None

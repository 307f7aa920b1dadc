"""Shared fixtures: every test is isolated; fake machines; the real CLI entry point."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests import machines

# Variables from the developer's shell that would change what mlstack does.
_LEAKY_PREFIXES = ("UV_", "MLSTACK_", "HSA_", "HIP_", "ROCR_", "PYTORCH_", "MIOPEN_")
# CI: set by every CI service, and it makes env create refuse to change a project lock.
_LEAKY = ("ROCM_PATH", "ROCM_HOME", "VIRTUAL_ENV", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "CI")


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Own MLSTACK_HOME and config, no colour, a wide terminal, an empty machine."""
    for name in list(os.environ):
        if name.startswith(_LEAKY_PREFIXES) or name in _LEAKY:
            monkeypatch.delenv(name, raising=False)
    home = tmp_path / "mlstack-home"
    monkeypatch.setenv("MLSTACK_HOME", str(home))
    monkeypatch.setenv("MLSTACK_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("TERM", "dumb")
    empty = machines.build(tmp_path / "machine-default", [], rocm=None)
    monkeypatch.setenv("MLSTACK_ROOT", str(empty))
    from mlstack_env.catalog import gpu_table

    gpu_table.cache_clear()
    yield home


@pytest.fixture
def fake_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Path]:
    """``fake_machine("7900xtx")`` builds that machine and points MLSTACK_ROOT at it."""

    def make(name: str) -> Path:
        root = machines.MACHINES[name](tmp_path / f"machine-{name}")
        monkeypatch.setenv("MLSTACK_ROOT", str(root))
        return root

    return make


def mlstack_exe() -> list[str]:
    """The installed console script, as a user runs it."""
    script = Path(sys.executable).parent / "mlstack"
    return [str(script)] if script.exists() else [sys.executable, "-m", "mlstack_env"]


# Commands whose point is the process itself: `env run` execs the command in place of
# mlstack, `env shell` starts an interactive shell. They always run as a real process.
_PROCESS_COMMANDS = (["env", "run"], ["env", "shell"], ["run"], ["shell"])


def _needs_process(args: tuple[str, ...]) -> bool:
    cut = args.index("--") if "--" in args else len(args)
    words = [a for a in args[:cut] if not a.startswith("-")]
    return any(words[: len(cmd)] == cmd for cmd in _PROCESS_COMMANDS)


def run_mlstack(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
                input: str | None = None, timeout: float = 300,
                process: bool = False) -> subprocess.CompletedProcess[str]:
    """Run mlstack as a user would and return what it printed and its exit code.

    In-process (``mlstack_env.cli.main`` with this test's environment, working directory,
    stdin and captured stdout/stderr) unless ``process=True`` or the command is one whose
    point is the process (``env run``, ``env shell``): a process per call costs ~0.3 s of
    interpreter and import start-up and adds nothing to what most tests check.
    """
    if process or _needs_process(args):
        return _run_process(args, env=env, cwd=cwd, input=input, timeout=timeout)
    return _run_in_process(args, env=env, cwd=cwd, input=input)


def _run_process(args: tuple[str, ...], *, env: dict[str, str] | None, cwd: Path | None,
                 input: str | None, timeout: float) -> subprocess.CompletedProcess[str]:
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    return subprocess.run(
        [*mlstack_exe(), *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        input=input,
        timeout=timeout,
        check=False,
    )


def _run_in_process(args: tuple[str, ...], *, env: dict[str, str] | None, cwd: Path | None,
                    input: str | None) -> subprocess.CompletedProcess[str]:
    import io
    import logging

    from mlstack_env import uv
    from mlstack_env.catalog import gpu_table
    from mlstack_env.cli import main

    saved_env = dict(os.environ)
    saved_cwd = Path.cwd()
    saved_streams = sys.stdin, sys.stdout, sys.stderr
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    out, err = io.StringIO(), io.StringIO()
    try:
        if env:
            os.environ.update(env)
        if cwd is not None:
            os.chdir(cwd)
        sys.stdin = io.StringIO(input or "")
        sys.stdout, sys.stderr = out, err
        # What a new process would find anew: caches keyed on the environment.
        gpu_table.cache_clear()
        uv.version.cache_clear()  # `version()` means MLSTACK_UV's, which a call may change
        try:
            code: object = main(list(args))
        except SystemExit as e:
            code = e.code
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved_streams
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        root.handlers[:] = saved_handlers  # -v configures logging onto this call's stderr
        root.setLevel(saved_level)
    if code is None:
        code = 0
    if not isinstance(code, int):
        err.write(f"{code}\n")
        code = 1
    return subprocess.CompletedProcess(["mlstack", *args], code, out.getvalue(),
                                       err.getvalue())


@pytest.fixture
def cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    return run_mlstack


@pytest.fixture
def dead_index(monkeypatch: pytest.MonkeyPatch) -> str:
    """An index URL where nothing listens, with uv told not to retry (UV_HTTP_RETRIES=0,
    which mlstack passes through to uv): uv's default retries with back-off cost about 9 s
    per test and change nothing in the error it reports."""
    from tests.wheelindex import closed_port_url

    monkeypatch.setenv("UV_HTTP_RETRIES", "0")
    return closed_port_url()

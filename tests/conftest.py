"""Shared fixtures: every test is isolated; fake machines; the real CLI entry point."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests import machines

# PYTHONDONTWRITEBYTECODE (set in some workplaces) keeps .pyc files out of the source
# tree; without them every pytest worker recompiles every test and mlstack module at each
# run. Python's own answer to "not beside the sources" is a pycache prefix: the pytest
# processes keep their bytecode in one ignored folder, .pytest_cache/pycache, instead.
# Child processes keep the setting as it is (their bytecode would be a test's temporary
# packages, which nothing would ever delete from a prefix).
if sys.dont_write_bytecode and not sys.pycache_prefix:
    sys.pycache_prefix = str(Path(__file__).resolve().parent.parent / ".pytest_cache" / "pycache")
    sys.dont_write_bytecode = False

# Variables from the developer's shell that would change what mlstack does.
_LEAKY_PREFIXES = ("UV_", "MLSTACK_", "HSA_", "HIP_", "ROCR_", "PYTORCH_", "MIOPEN_")
# CI: set by every CI service, and it makes env create refuse to change a project lock.
_LEAKY = ("ROCM_PATH", "ROCM_HOME", "VIRTUAL_ENV", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "CI",
          # a proxy would be asked for the loopback servers' files too (download.py)
          "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy",
          "NETRC")


def pytest_report_header(config: pytest.Config) -> list[str]:
    """The real tier's components and their versions, when the run includes the tier
    (``-m real``, or CI, which runs everything but ``network``)."""
    markexpr = str(config.getoption("markexpr", "") or "")
    wanted = ("real" in markexpr and "not real" not in markexpr) or bool(os.environ.get("CI"))
    if not wanted or "not real" in markexpr:
        return []
    from tests.real.components import header

    return header()


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto`` (pyproject's addopts): two workers per CPU, at most 8. A test spends
    most of its time waiting for the processes it starts (uv, shells, mlstack itself) and
    for the loopback index, so one worker per CPU leaves the CPUs half idle; more than 8
    would spend more on each worker's start (collection, the session's wheel index) than
    they save. ``-n 0`` runs in one process (a debugger, one test)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(8, 2 * (cpus or 1)))


@pytest.fixture(scope="session")
def uv_interpreters(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What uv learnt about this machine's real Pythons (its ``interpreter-v*`` cache),
    kept for the session (per worker) and given by :func:`warm_interpreters` to the uv
    cache of each test that installs or resolves from the loopback index.

    uv asks an interpreter for its version, paths and tags the first time a cache sees it
    (a Python start, ~70 ms) and keys the answer by path and modification time. A user's
    cache knows their Pythons after the first command; a test's cache is new each time,
    so without this every test paid those starts again. Only interpreters outside the
    session's temporary tree are kept: a test's venvs and fake Pythons stay its own.
    """
    return tmp_path_factory.mktemp("uv-interpreters")


@pytest.fixture
def warm_interpreters(isolated: Path, uv_interpreters: Path) -> None:
    """This test's uv cache knows the machine's Pythons, as a user's does after their first
    command (the wheels, index pages and venvs stay the test's own). Used by the loopback
    index fixtures (tests/wheelindex.py); a test that checks MLSTACK_HOME stays empty
    does not get it."""
    _seed_interpreters(uv_interpreters, isolated / "cache" / "uv")


def _seed_interpreters(seed: Path, cache: Path) -> None:
    for entry in seed.glob("interpreter-v*/*/*"):
        target = cache / entry.relative_to(seed)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(entry, target)


def _keep_interpreters(cache: Path, seed: Path, session_tmp: bytes) -> None:
    for entry in cache.glob("interpreter-v*/*/*.msgpack"):
        target = seed / entry.relative_to(cache)
        if target.exists():
            continue
        try:
            data = entry.read_bytes()
        except OSError:  # a test that made its home unreadable
            continue
        if session_tmp not in data:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)


@pytest.fixture(scope="session")
def empty_machine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A machine with no GPU and no ROCm, the one every test starts on. mlstack only reads
    MLSTACK_ROOT, so one tree serves the session (per worker); a test that needs another
    machine builds its own (:func:`fake_machine`)."""
    return machines.build(tmp_path_factory.mktemp("machine-default"), [], rocm=None)


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, uv_interpreters: Path,
             empty_machine: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Own MLSTACK_HOME and config, no colour, a wide terminal, an empty machine. What
    uv learnt of the machine's real Pythons is kept for :func:`warm_interpreters`."""
    for name in list(os.environ):
        if name.startswith(_LEAKY_PREFIXES) or name in _LEAKY:
            monkeypatch.delenv(name, raising=False)
    home = tmp_path / "mlstack-home"
    monkeypatch.setenv("MLSTACK_HOME", str(home))
    monkeypatch.setenv("MLSTACK_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("TERM", "dumb")
    monkeypatch.setenv("MLSTACK_ROOT", str(empty_machine))
    # mlstack on PATH, as after `uv tool install`: hints then name it `mlstack`
    # (mlstack_env.core.progname); tests/test_headline.py runs it by a path off PATH too.
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        monkeypatch.setenv("PATH", bin_dir + os.pathsep + os.environ.get("PATH", ""))
    yield home
    cache = home / "cache" / "uv"
    session_tmp = str(tmp_path_factory.getbasetemp().parent).encode()
    _keep_interpreters(cache, uv_interpreters, session_tmp)


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
        # What a new process would find anew: caches keyed on the environment (the GPU
        # table is the package's own data, the same for every call).
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


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The count of documentation console blocks tests/test_docs.py ran (and skipped)."""
    ran = skipped = 0
    for reports in terminalreporter.stats.values():
        for report in reports:
            for key, value in getattr(report, "user_properties", ()):
                if key == "docs_blocks" and getattr(report, "when", "") == "call":
                    ran, skipped = ran + value[0], skipped + value[1]
    if ran or skipped:
        terminalreporter.write_line(f"docs: {ran} console blocks run, {skipped} skipped "
                                    "(marked, with the reason, in the docs)")

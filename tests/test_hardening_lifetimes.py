"""Issue 21, item 8: an env in use by ``env shell``, a sourced ``bin/activate`` or a child
detached from ``env run`` survives ``env remove`` + ``gc``.

The design (docs/troubleshooting.md, "Hardening"): ``env shell`` holds its generation
like ``env run`` (a shared lock on an inherited fd: the shell and everything started in
it); a sourced activation in bash or zsh holds a shared lock on the venv from the shell
itself; and gc keeps any store entry a live process uses (``/proc``: ``VIRTUAL_ENV`` or
``PATH`` in its environment, mapped files, cwd, open files), which covers detached
children that closed every fd. Real processes: their lifetimes are the point.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from mlstack_env.core import paths
from mlstack_env.store.entries import Store, store_key
from tests.conftest import mlstack_exe
from tests.envfixtures import LATE_IMPORT, create_demo, torch_entry
from tests.wheelindex import WheelIndex

pytest_plugins = ["tests.wheelindex"]

Cli = Callable[..., subprocess.CompletedProcess[str]]



@pytest.fixture
def demo(mirrored: WheelIndex, fake_machine: Callable[[str], Path], tmp_path: Path,
         cli: Cli) -> str:
    create_demo(cli, fake_machine, tmp_path)
    (tmp_path / "late.py").write_text(LATE_IMPORT + "\n", encoding="utf-8")
    return store_key(torch_entry("demo", "rocm6.4:gfx1100"))


def _remove_and_gc(cli: Cli) -> dict[str, object]:
    assert cli("env", "remove", "demo").returncode == 0
    r = cli("gc", "--json")
    assert r.returncode == 0, r.stderr
    return dict(json.loads(r.stdout))


def _wait_ready(child: subprocess.Popen[str]) -> None:
    assert child.stdout is not None
    for line in child.stdout:
        if line.strip() == "ready":
            return
    raise AssertionError(f"never ready: {child.stderr.read() if child.stderr else ''}")


@pytest.mark.parametrize("shell", ["bash", "zsh", "sh"])
def test_a_program_started_in_env_shell_survives_remove_and_gc(
        demo: str, tmp_path: Path, cli: Cli, shell: str) -> None:
    """Done-when: a program started in `env shell` survives `env remove` + `gc`."""
    program = shutil.which(shell)
    if program is None:
        pytest.skip(f"{shell} is not installed")
    env = os.environ | {"SHELL": program, "HOME": str(tmp_path)}
    child = subprocess.Popen([*mlstack_exe(), "env", "shell", "demo"], cwd=tmp_path, env=env,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    assert child.stdin is not None
    child.stdin.write("python late.py\n")
    child.stdin.flush()
    _wait_ready(child)
    gc = _remove_and_gc(cli)
    assert gc["store_entries"] == []
    assert [e.key for e in Store().entries()] == [demo]
    out, err = child.communicate(input="", timeout=120)
    assert "torch 2.8.0+rocm6.4" in out, err
    # Once the shell is gone, gc frees it all.
    freed = json.loads(cli("gc", "--json").stdout)
    assert freed["store_entries"] == [demo]


def test_a_child_detached_from_env_run_survives_remove_and_gc(
        demo: str, tmp_path: Path, cli: Cli) -> None:
    """The child starts its own session and closes every inherited fd (as daemons do):
    only its environment says which env it runs in."""
    go, done = tmp_path / "go", tmp_path / "done"
    child_code = (
        "import os, time, pathlib\n"
        f"go, done = pathlib.Path({str(go)!r}), pathlib.Path({str(done)!r})\n"
        "for _ in range(2400):  # at most 2 minutes: a failed test leaves nothing running\n"
        "    if go.exists(): break\n"
        "    time.sleep(0.05)\n"
        "else: raise SystemExit(1)\n"
        "import torch\n"
        "done.write_text(torch.__version__)\n")
    parent_code = (
        "import os, subprocess, sys\n"
        "os.closerange(3, 1 << 16)\n"
        f"subprocess.Popen([sys.executable, '-c', {child_code!r}], start_new_session=True,"
        " stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,"
        " close_fds=True)\n")
    r = subprocess.run([*mlstack_exe(), "env", "run", "demo", "--", "python", "-c",
                        parent_code], capture_output=True, text=True, check=False,
                       timeout=120, cwd=tmp_path)
    try:
        assert r.returncode == 0, r.stderr
        gc = _remove_and_gc(cli)
        assert gc["store_entries"] == []
    finally:
        go.touch()  # the child goes on (and ends) whatever happened
    for _ in range(600):
        if done.exists() and done.read_text():
            break
        time.sleep(0.1)
    assert done.read_text() == "2.8.0+rocm6.4"
    freed: list[str] = []
    for _ in range(100):  # the child exits just after writing: then gc frees the entry
        freed = json.loads(cli("gc", "--json").stdout)["store_entries"]
        if freed:
            break
        time.sleep(0.1)
    assert freed == [demo]


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_a_shell_that_sourced_activate_keeps_the_env_while_idle(
        demo: str, tmp_path: Path, cli: Cli, shell: str) -> None:
    """No program runs while gc does: the shell's own lease keeps the venv."""
    program = shutil.which(shell)
    if program is None or shutil.which("flock") is None:
        pytest.skip(f"{shell} or flock is not installed")
    activate = paths.envs_dir() / "demo" / "current" / "bin" / "activate"
    script = (f". {activate}\necho ready\nread line\n"
              "python -c 'import torch; print(\"torch\", torch.__version__)'\n")
    child = subprocess.Popen([program, "-c", script], cwd=tmp_path, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=os.environ | {"HOME": str(tmp_path)})
    _wait_ready(child)
    gc = _remove_and_gc(cli)
    assert gc["store_entries"] == []
    out, err = child.communicate(input="go\n", timeout=120)
    assert "torch 2.8.0+rocm6.4" in out, err
    assert json.loads(cli("gc", "--json").stdout)["store_entries"] == [demo]


def test_deactivate_gives_the_lease_back(demo: str, tmp_path: Path, cli: Cli) -> None:
    bash = shutil.which("bash")
    if bash is None or shutil.which("flock") is None:
        pytest.skip("bash or flock is not installed")
    activate = paths.envs_dir() / "demo" / "current" / "bin" / "activate"
    child = subprocess.Popen([bash, "-c", f". {activate}; deactivate; echo ready; read x"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, cwd=tmp_path,
                             env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    _wait_ready(child)
    gc = _remove_and_gc(cli)
    child.communicate(input="x\n", timeout=60)
    assert gc["store_entries"] == [demo]
    assert sys.executable  # the test's own interpreter is not in the store

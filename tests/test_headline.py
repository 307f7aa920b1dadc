"""Issue 19's headline: ``mlstack env create inference`` works first time on the machines
new users have, or prints one hint holding the one command that then works.

vLLM's ROCm wheels exist for ROCm 7.0 and 7.2 (and ROCm as wheels), Python 3.12 only; a
host's ROCm 6.4 or 7.1 has none. PyTorch's rocm7.x wheels bring their own ROCm libraries,
so the host's amdgpu driver decides what runs (catalog/drivers.toml)."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from mlstack_env.actions.target_fit import runnable_releases
from tests.wheelindex import WheelIndex, write_project

pytest_plugins = ["tests.wheelindex"]

Cli = Callable[..., subprocess.CompletedProcess[str]]
VERSIONS = "import vllm, torch; print(vllm.__version__, torch.__version__)"


def the_command(stderr: str) -> list[str]:
    """The one command of a hint (between backticks), as argv after `mlstack`."""
    hint = next(line for line in stderr.splitlines() if line.startswith("hint: "))
    commands = re.findall(r"`(mlstack [^`]+)`", hint)
    assert len(commands) >= 1, hint
    return shlex.split(commands[0])[1:]


@pytest.mark.parametrize("case", [
    ("7900xtx", "rocm7.0:gfx1100", "the amdgpu driver of ROCm 6.4 runs"),
    ("mi300x-rocm64", "rocm7.0:gfx942", "the amdgpu driver of ROCm 6.4 runs"),
    ("9070xt-rocm70", "rocm7.0:gfx1201", ""),  # its own target has vLLM: nothing to say
    ("7900xtx-no-rocm", "rocm7.0:gfx1100", "no ROCm installed"),
])
def test_env_create_inference_works_first_time(
        mirrored: WheelIndex, fake_machine: Callable[[str], Path], tmp_path: Path, cli: Cli,
        case: tuple[str, str, str]) -> None:
    machine, target, why = case
    fake_machine(machine)
    r = cli("env", "create", "inference", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert f"inference@{target}@py3.12" in r.stdout
    target_line = [line for line in r.stdout.splitlines() if line.startswith("  target ")]
    if why:
        assert why in target_line[0]
        assert "bring their own ROCm libraries" in target_line[0]
    else:
        assert target_line == []
    data = json.loads(cli("env", "create", "inference", "--json", cwd=tmp_path).stdout)
    assert (data["target"], bool(data["target_why"])) == (target, bool(why))
    run = cli("env", "run", "inference", "--", "python", "-c", VERSIONS)
    assert run.returncode == 0, run.stderr
    vllm, torch = run.stdout.split()
    assert vllm.endswith("+rocm700") and torch.endswith("+rocm7.0")


def test_a_project_on_python_3_11_gets_the_one_command(
        mirrored: WheelIndex, fake_machine: Callable[[str], Path], tmp_path: Path,
        cli: Cli) -> None:
    """`mlstack init --yes` pinned 3.11; the built-in inference profile needs 3.12."""
    fake_machine("7900xtx")
    write_project(tmp_path, profiles={"app": ["torch"]}, python="3.11",
                  targets=["rocm6.4:gfx1100"], default_env="app")
    r = cli("env", "create", "inference", cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr.count("hint:") == 1
    argv = the_command(r.stderr)
    assert argv == ["env", "create", "inference", "--python", "3.12", "--target",
                    "rocm7.0:gfx1100"]
    again = cli(*argv, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "inference@rocm7.0:gfx1100@py3.12" in again.stdout


def test_no_gpu_says_what_works_instead(mirrored: WheelIndex, tmp_path: Path,
                                        cli: Cli) -> None:
    r = cli("env", "create", "inference", cwd=tmp_path)
    assert r.returncode == 1
    assert "runs only on an AMD GPU" in r.stderr
    assert "PyPI" not in r.stderr  # never the CUDA build
    argv = the_command(r.stderr)
    assert argv == ["env", "create", "minimal"]
    assert cli(*argv, cwd=tmp_path).returncode == 0
    # The other command of the hint, for a GPU machine, works from here too.
    hint = r.stderr.splitlines()[1]
    lock_cmd = shlex.split(re.findall(r"`(mlstack lock [^`]+)`", hint)[0])[1:]
    locked = cli(*lock_cmd, cwd=tmp_path)
    assert locked.returncode == 0, locked.stderr
    assert (tmp_path / "inference.lock").is_file()


def test_init_with_vllm_picks_a_target_and_python_with_builds(
        mirrored: WheelIndex, fake_machine: Callable[[str], Path], tmp_path: Path,
        cli: Cli) -> None:
    fake_machine("7900xtx")
    r = cli("init", "--with", "vllm", "--yes", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    text = (tmp_path / "mlstack.toml").read_text()
    assert 'python = "3.12"' in text
    assert 'targets = ["rocm7.0:gfx1100"]' in text
    created = cli("env", "create", cwd=tmp_path)
    assert created.returncode == 0, created.stderr


def test_the_driver_runs_nearest_releases_first() -> None:
    assert runnable_releases("6.4")[:3] == ("6.4", "7.0", "6.3")
    assert runnable_releases("7.1") == ("7.1", "7.2", "7.0", "6.4", "6.3")
    assert runnable_releases("9.9") == ("9.9",)  # a release the table lacks: only itself

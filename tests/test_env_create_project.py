"""`mlstack env create` without --lock: the project's lock (written when missing), or the
built-in profile resolved for the detected target."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from mlstack_env.core import paths
from mlstack_env.lockfile import read_lock
from tests.envfixtures import failing_uv
from tests.wheelindex import WheelIndex, write_project

pytest_plugins = ["tests.wheelindex"]

Cli = Callable[..., subprocess.CompletedProcess[str]]
TORCH = ("python", "-c", "import torch; print(torch.__version__)")


def test_project_profile_is_locked_then_reused_without_uv(
        mirrored: WheelIndex, fake_machine: Callable[[str], Path], tmp_path: Path,
        cli: Cli) -> None:
    fake_machine("7900xtx")
    write_project(tmp_path, profiles={"ml": ["torch", "numpy"]}, targets=["rocm6.4:gfx1100"],
                  default_env="ml")
    r = cli("env", "create", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert (data["name"], data["profile"], data["target"]) == ("ml", "ml", "rocm6.4:gfx1100")
    assert data["source"] == str(tmp_path / "mlstack.lock")
    lock = read_lock(tmp_path / "mlstack.lock")
    assert [e.key for e in lock.entries] == ["ml@rocm6.4:gfx1100@py3.12"]
    assert cli("env", "run", "ml", "--", *TORCH).stdout.strip() == "2.8.0+rocm6.4"
    # The lock is fresh and its entry is in the store: no uv at all, --locked or not.
    no_uv = failing_uv(tmp_path)
    for extra in ((), ("--locked",)):
        again = cli("env", "create", "ml", "--name", "ml2", "--json", *extra, cwd=tmp_path,
                    env=no_uv)
        assert again.returncode == 0, again.stderr
        assert json.loads(again.stdout)["reused"] is True


def test_locked_refuses_a_missing_entry(mirrored: WheelIndex,
                                        fake_machine: Callable[[str], Path],
                                        tmp_path: Path, cli: Cli) -> None:
    fake_machine("7900xtx")
    write_project(tmp_path, profiles={"ml": ["torch"]}, targets=["rocm6.4:gfx1100"])
    r = cli("env", "create", "ml", "--locked", cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr.startswith("error: ") and "\nhint: " in r.stderr
    assert "--locked" in r.stderr
    assert not (tmp_path / "mlstack.lock").exists()
    assert not paths.envs_dir().exists() or not list(paths.envs_dir().iterdir())


def test_builtin_profile_outside_a_project(mirrored: WheelIndex,
                                          fake_machine: Callable[[str], Path],
                                          tmp_path: Path, cli: Cli) -> None:
    fake_machine("7900xtx")
    r = cli("env", "create", "minimal", "--python", "3.12", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["source"] == "built-in profile minimal"
    assert (data["python"], data["target"]) == ("3.12", "rocm6.4:gfx1100")
    assert not (tmp_path / "mlstack.lock").exists()  # nothing written outside a project
    assert cli("env", "run", "minimal", "--", *TORCH).stdout.strip() == "2.8.0+rocm6.4"


def test_no_profile_and_no_project(tmp_path: Path, cli: Cli) -> None:
    r = cli("env", "create", cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr.splitlines()[0] == "error: which profile? there is no mlstack.toml here"
    assert r.stderr.splitlines()[1].startswith("hint: name one: mlstack env create minimal")


def test_bad_python_is_refused(tmp_path: Path, cli: Cli) -> None:
    r = cli("env", "create", "minimal", "--python", "three", cwd=tmp_path)
    assert r.returncode == 1 and "error: --python 'three' is not a Python version" in r.stderr


def test_the_project_is_found_once_per_create(
        mirrored: WheelIndex, fake_machine: Callable[[str], Path], tmp_path: Path, cli: Cli,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The entry, the progress line, the URL policy and the site preset all mean the
    working directory's project: one discovery (it parses mlstack.toml), also for --lock."""
    import mlstack_env.manifest.project

    fake_machine("7900xtx")
    write_project(tmp_path, profiles={"ml": ["torch"]}, targets=["rocm6.4:gfx1100"],
                  default_env="ml")
    manifest = tmp_path / "mlstack.toml"
    manifest.write_text('site = "slurm"\n' + manifest.read_text())
    calls: list[Path] = []
    real = mlstack_env.manifest.project.find_project

    def counting(start: Path, explicit: Path | None = None) -> object:
        calls.append(start)
        return real(start, explicit)

    monkeypatch.setattr(mlstack_env.manifest.project, "find_project", counting)
    for args in (("env", "create", "--json"),
                 ("env", "create", "ml", "--lock", str(tmp_path / "mlstack.lock"), "--name",
                  "again", "--json")):
        calls.clear()
        r = cli(*args, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        assert len(calls) == 1, calls
        # ... and what it found was used: the project's site preset is in the env.
        generation = Path(json.loads(r.stdout)["generation_path"])
        site = json.loads((generation / "mlstack-env.json").read_text())["site"]
        assert site["name"] == "slurm"

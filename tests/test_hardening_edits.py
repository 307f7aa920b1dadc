"""Issue 21, item 3: edits of mlstack.toml and mlstack.lock are serialized end to end,
under one lock beside the project, from the read to the last rename: concurrent ``add``,
``remove``, ``lock --upgrade`` and ``env create`` (from two MLSTACK_HOMEs) lose nothing.

Real processes: the point is that separate programs wait for each other.
"""

from __future__ import annotations

import os
import subprocess
import tomllib
from pathlib import Path

import pytest

from mlstack_env.lockfile import read_lock
from mlstack_env.resolve.lockwrite import flock_path, held
from tests.conftest import mlstack_exe
from tests.wheelindex import WheelIndex, write_project

pytest_plugins = ["tests.wheelindex"]

ADDED = ["tqdm", "einops", "py-cpuinfo", "packaging", "filelock", "transformers", "datasets",
         "mpi4py"]


def _start(args: list[str], cwd: Path, **extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([*mlstack_exe(), "-q", *args], cwd=cwd, env=os.environ | extra,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(procs: list[subprocess.Popen[str]]) -> None:
    results = [p.communicate(timeout=600) for p in procs]
    for p, (_out, err) in zip(procs, results, strict=True):
        assert p.returncode == 0, f"{p.args}: {err}"


def _packages(project: Path) -> list[str]:
    with (project / "mlstack.toml").open("rb") as f:
        return sorted(tomllib.load(f)["profiles"]["ml"]["packages"])


def _locked_names(project: Path) -> list[set[str]]:
    lock = read_lock(project / "mlstack.lock")
    return [{p.name for p in e.packages} for e in lock.entries]


def test_eight_concurrent_adds_keep_all_eight(mirrored: WheelIndex, tmp_path: Path) -> None:
    """Done-when: 8 concurrent `add` of 8 packages leave all 8, in mlstack.toml and in
    every entry of the lock."""
    write_project(tmp_path, profiles={"ml": ["numpy"]}, targets=["cpu"])
    _finish([_start(["add", pkg, "--profile", "ml"], tmp_path) for pkg in ADDED])
    assert _packages(tmp_path) == sorted(["numpy", *ADDED])
    for names in _locked_names(tmp_path):
        assert set(ADDED) <= names
    assert not flock_path(tmp_path / "mlstack.lock").exists()  # removed on release


def test_adds_removes_upgrades_and_creates_from_two_homes_lose_nothing(
        mirrored: WheelIndex, tmp_path: Path) -> None:
    """Done-when: a mix of add, remove, lock --upgrade and env create (two homes, two
    targets) leaves every expected entry, and every entry fresh for the final profile."""
    project = tmp_path / "project"
    project.mkdir()
    write_project(project, profiles={"ml": ["numpy", "tqdm", "einops"]}, targets=["cpu"])
    home2 = tmp_path / "home2"
    procs = [
        *(_start(["add", pkg, "--profile", "ml"], project)
          for pkg in ("packaging", "filelock", "py-cpuinfo", "mpi4py")),
        *(_start(["remove", pkg, "--profile", "ml"], project) for pkg in ("tqdm", "einops")),
        _start(["lock", "--upgrade"], project),
        _start(["env", "create", "ml", "--target", "rocm6.4:gfx1100"], project),
        _start(["env", "create", "ml", "--target", "rocm6.3:gfx1030"], project,
               MLSTACK_HOME=str(home2)),
    ]
    _finish(procs)
    want = ["filelock", "mpi4py", "numpy", "packaging", "py-cpuinfo"]
    assert _packages(project) == want
    lock = read_lock(project / "mlstack.lock")
    assert sorted(str(e.target) for e in lock.entries) == sorted(
        ["cpu", "rocm6.4:gfx1100", "rocm6.3:gfx1030"])
    for names in _locked_names(project):
        assert {"filelock", "mpi4py", "numpy", "packaging", "py-cpuinfo"} <= names
        assert not names & {"tqdm", "einops"}
    check = subprocess.run([*mlstack_exe(), "lock", "--check"], cwd=project, env=os.environ,
                           capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr


def test_the_write_lock_is_beside_the_project_not_in_the_home(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two homes, one project: the second writer waits for the first."""
    from mlstack_env.core.locks import Busy, file_lock

    lock = tmp_path / "mlstack.lock"
    monkeypatch.setenv("MLSTACK_HOME", str(tmp_path / "home1"))
    with held(lock):
        assert flock_path(lock) == tmp_path / ".mlstack.lock.flock"
        monkeypatch.setenv("MLSTACK_HOME", str(tmp_path / "home2"))
        with pytest.raises(Busy), file_lock(flock_path(lock), wait=False):
            pass
    assert not flock_path(lock).exists()
    assert not (tmp_path / "home1").exists() and not (tmp_path / "home2").exists()

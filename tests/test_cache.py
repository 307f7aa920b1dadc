"""``mlstack cache clean|prune``: uv's cache under MLSTACK_HOME, measured, and never
pulled from under a running create."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from mlstack_env.cli import main
from mlstack_env.core import paths
from mlstack_env.store.entries import Store
from tests.conftest import mlstack_exe
from tests.envfixtures import team_lock
from tests.wheelindex import WheelIndex

pytest_plugins = ["tests.wheelindex"]

Cli = Callable[..., subprocess.CompletedProcess[str]]


def _archives() -> list[Path]:
    return sorted((paths.uv_cache_dir()).glob("archive-v*/*"))


def test_clean_and_prune(mirrored: WheelIndex, fake_machine: Callable[[str], Path],
                         tmp_path: Path, cli: Cli, capsys: pytest.CaptureFixture[str]) -> None:
    fake_machine("7900xtx")
    lock = team_lock(tmp_path / "mlstack.lock")
    assert cli("env", "create", "demo", "--lock", str(lock)).returncode == 0
    assert _archives()  # uv unpacked the wheels there
    assert len(list(paths.venv_templates_dir().iterdir())) == 1  # the venv a miss copies
    # prune keeps what uv still indexes; the env keeps working either way.
    assert main(["cache", "prune", "--json"]) == 0
    pruned = json.loads(capsys.readouterr().out)
    assert set(pruned) == {"action", "path", "before_bytes", "after_bytes",
                           "shared_with_envs_bytes", "freed_bytes", "downloads"}
    assert pruned["action"] == "prune"
    assert pruned["path"] == str(paths.uv_cache_dir())
    # mlstack's download cache: prune keeps the files used lately, drops partial ones
    files = paths.files_cache_dir()
    assert pruned["downloads"]["path"] == str(files)
    assert len(list(files.iterdir())) == 3
    assert pruned["downloads"]["after_bytes"] == pruned["downloads"]["before_bytes"] > 0
    (files / ("f" * 64)).mkdir()
    (files / ("f" * 64) / ".part").write_bytes(b"half a wheel")  # a killed download
    old = files / next(p.name for p in files.iterdir())
    for f in old.iterdir():  # a file no create used for 31 days
        os.utime(f, (time.time() - 31 * 86400,) * 2)
    assert main(["cache", "prune"]) == 0
    assert capsys.readouterr().out.startswith(f"pruned mlstack's download cache at {files}: ")
    assert len(list(files.iterdir())) == 2 and not old.exists()

    assert main(["cache", "clean"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"cleaned mlstack's download cache at {files}: ")
    assert out[0].endswith(" -> 0 B")
    assert list(files.iterdir()) == []
    out = out[1:]
    assert out[0].startswith(f"cleaned uv's cache at {paths.uv_cache_dir()}: ")
    assert " -> 0 B, freed " in out[0]
    # The env's files are hardlinks into the cache: they stay, and are reported as such.
    assert out[1].endswith("hardlinked into envs: their files stay until `mlstack env "
                           "remove` and `mlstack gc`)")
    assert _archives() == []
    assert not paths.venv_templates_dir().exists()  # made again by the next miss
    run = cli("env", "run", "demo", "--", "python", "-c", "import torch; print(torch.__version__)")
    assert run.stdout.strip() == "2.8.0+rocm6.4", run.stderr


def test_clean_frees_what_no_env_links(mirrored: WheelIndex, fake_machine: Callable[[str], Path],
                                       tmp_path: Path, cli: Cli,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    fake_machine("7900xtx")
    lock = team_lock(tmp_path / "mlstack.lock")
    assert cli("env", "create", "demo", "--lock", str(lock)).returncode == 0
    assert cli("env", "remove", "demo").returncode == 0
    assert cli("gc").returncode == 0  # the store entry goes: the cache holds the only links
    assert main(["cache", "clean", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["shared_with_envs_bytes"] == 0
    assert doc["freed_bytes"] == doc["before_bytes"] > 0
    assert doc["after_bytes"] == 0


def test_nothing_to_clean(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cache", "clean"]) == 0
    assert capsys.readouterr().out == (f"uv's cache at {paths.uv_cache_dir()} is empty: "
                                       "nothing to clean\n")


def test_clean_waits_for_a_running_create(tmp_path: Path) -> None:
    """A create holds the store lock shared while uv installs; clean waits for it."""
    paths.uv_cache_dir().mkdir(parents=True)
    (paths.uv_cache_dir() / "marker").write_text("x")
    with Store().gc_lock(shared=True):  # what env create holds
        proc = subprocess.Popen([*mlstack_exe(), "cache", "clean"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        assert proc.stderr is not None
        line = proc.stderr.readline()  # blocks until clean says it waits
        assert line == "waiting for running `mlstack env create` commands to finish\n"
        assert (paths.uv_cache_dir() / "marker").exists()
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0
    assert out.startswith("cleaned uv's cache")
    assert not (paths.uv_cache_dir() / "marker").exists()

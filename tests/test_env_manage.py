"""list, info, verify, rollback, remove, export and gc through the real console script."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from mlstack_env.core import paths
from tests.envfixtures import create_demo, failing_uv, torch_entry, write_lock
from tests.wheelindex import WheelIndex

pytest_plugins = ["tests.wheelindex"]

Cli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def demo(mirrored: WheelIndex, fake_machine: Callable[[str], Path], tmp_path: Path,
         cli: Cli) -> Path:
    """Env ``demo`` from the team lock on a 7900 XTX; returns the lock."""
    return create_demo(cli, fake_machine, tmp_path)


def site_packages(name: str) -> Path:
    venv = (paths.envs_dir() / name / "current" / "venv").resolve()
    return next(venv.glob("lib/python3.*/site-packages"))


def test_list_and_info(demo: Path, cli: Cli) -> None:
    data = json.loads(cli("env", "list", "--json").stdout)
    assert [e["name"] for e in data["envs"]] == ["demo"]
    assert set(data["envs"][0]) == {"name", "generation", "profile", "target", "python",
                                    "behind_lock",
                                    "store_key", "created", "path"}
    info = json.loads(cli("env", "info", "demo", "--json").stdout)
    fp = info["fingerprint"]
    assert info["generation"] == 1 and info["previous"] is None
    assert fp["profile"] == "demo" and fp["target"] == "rocm6.4:gfx1100"
    assert fp["machine"] == {"gfx": ["gfx1100"], "rocm": "6.4.0", "kernel": "6.8.0-45-generic"}
    assert fp["uv_version"] == "0.13.9" and fp["lock_hash"].startswith("sha256:")
    assert fp["variables"]["PYTORCH_ROCM_ARCH"] == "gfx1100"
    human = cli("env", "info", "demo")
    assert human.returncode == 0 and "rocm6.4:gfx1100" in human.stdout
    assert "demo" in cli("env", "list").stdout


def test_info_of_unknown_env(demo: Path, cli: Cli) -> None:
    r = cli("env", "info", "nope")
    assert r.returncode == 1
    assert r.stderr.splitlines() == [
        "error: no env named 'nope'",
        "hint: existing envs: demo",
    ]


def test_verify_names_changed_packages(demo: Path, cli: Cli) -> None:
    ok = cli("env", "verify", "demo")
    assert ok.returncode == 0, ok.stderr
    assert "match the lock" in ok.stdout
    site = site_packages("demo")
    (site / "torch" / "version.py").write_text("hip = None  # edited\n")
    (site / "filelock" / "__init__.py").unlink()
    bad = cli("env", "verify", "demo")
    assert bad.returncode == 1
    assert "error: env demo does not match its lock: filelock, torch" in bad.stderr
    assert "torch/version.py was changed" in bad.stdout
    assert "filelock/__init__.py is missing" in bad.stdout
    data = json.loads(cli("env", "verify", "demo", "--json").stdout)
    assert data["ok"] is False and data["changed"] == ["filelock", "torch"]


def test_reinstall_repairs_a_store_entry_other_envs_share(demo: Path, cli: Cli) -> None:
    # A second env shares the store entry, so remove + gc could never rebuild it.
    assert cli("env", "create", "demo", "--name", "twin", "--lock", str(demo)).returncode == 0
    (site_packages("demo") / "torch" / "version.py").write_text("hip = None  # edited\n")
    bad = cli("env", "verify", "twin")
    assert bad.returncode == 1
    hint = bad.stderr.splitlines()[1]
    key = json.loads(cli("env", "info", "twin", "--json").stdout)["store_key"]
    assert hint == (f"hint: reinstall it: `mlstack env create demo --name twin --lock {demo} "
                    f"--reinstall`; it rebuilds the store entry {key}, which env demo also "
                    "uses")
    fixed = cli(*hint.split("`")[1].split()[1:], "--json")
    assert fixed.returncode == 0, fixed.stderr
    assert json.loads(fixed.stdout)["reused"] is False  # the wheels were installed again
    for name in ("demo", "twin"):
        assert cli("env", "verify", name).returncode == 0


def test_verify_sees_a_package_not_in_the_lock(demo: Path, cli: Cli) -> None:
    site = site_packages("demo")
    extra = site / "intruder-1.0.dist-info"
    extra.mkdir()
    (extra / "METADATA").write_text("Metadata-Version: 2.1\nName: intruder\nVersion: 1.0\n")
    r = cli("env", "verify", "demo")
    assert r.returncode == 1 and "intruder" in r.stderr


def test_rollback_and_generations(demo: Path, tmp_path: Path, cli: Cli) -> None:
    newer = write_lock(tmp_path / "new.lock", [torch_entry("demo", "rocm6.4:gfx1100",
                                                            env={"MIOPEN_FIND_MODE": "2"})])
    assert cli("env", "create", "demo", "--lock", str(newer)).returncode == 0
    probe = ("python", "-c", "import os; print(os.environ.get('MIOPEN_FIND_MODE', '-'))")
    assert cli("env", "run", "demo", "--", *probe).stdout.strip() == "2"
    r = cli("env", "rollback", "demo", env=failing_uv(tmp_path))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "env demo: generation 2 -> 1"
    assert cli("env", "run", "demo", "--", *probe).stdout.strip() == "-"
    info = json.loads(cli("env", "info", "demo", "--json").stdout)
    assert info["generation"] == 1 and info["generations"] == [1, 2]
    again = cli("env", "rollback", "demo")
    assert again.returncode == 1
    assert again.stderr.startswith("error: env demo has no generation before 1\nhint: ")


def test_remove_then_gc(demo: Path, tmp_path: Path, cli: Cli) -> None:
    assert cli("env", "create", "demo", "--name", "twin", "--lock", str(demo)).returncode == 0
    r = cli("env", "remove", "demo")
    assert r.returncode == 0 and "mlstack gc" in r.stdout
    assert [e["name"] for e in json.loads(cli("env", "list", "--json").stdout)["envs"]] == ["twin"]
    # twin still uses the store entry: gc keeps it.
    assert json.loads(cli("gc", "--json").stdout)["store_entries"] == []
    assert cli("env", "run", "twin", "--", "python", "-c", "import torch").returncode == 0
    assert cli("env", "remove", "twin").returncode == 0
    dry = json.loads(cli("gc", "--dry-run", "--json").stdout)
    assert len(dry["store_entries"]) == 1 and dry["dry_run"] is True
    assert len([p for p in paths.store_dir().iterdir() if not p.name.startswith(".")]) == 1
    done = cli("gc")
    assert done.returncode == 0 and "removed store entry" in done.stdout
    assert not [p for p in paths.store_dir().iterdir() if not p.name.startswith(".")]
    assert cli("gc").stdout.strip() == "nothing to remove"
    gone = cli("env", "remove", "demo")
    assert gone.returncode == 1 and "no env named 'demo'" in gone.stderr


def test_gc_prunes_old_generations_but_keeps_rollback(demo: Path, tmp_path: Path,
                                                      cli: Cli) -> None:
    for i in (2, 3):
        lock = write_lock(tmp_path / f"{i}.lock", [torch_entry(
            "demo", "rocm6.4:gfx1100", env={"GEN": str(i)})])
        assert cli("env", "create", "demo", "--lock", str(lock)).returncode == 0
    report = json.loads(cli("gc", "--json").stdout)
    assert report["generations"] == [{"env": "demo", "generation": 1}]
    assert len(report["store_entries"]) == 1
    info = json.loads(cli("env", "info", "demo", "--json").stdout)
    assert info["generations"] == [2, 3] and info["previous"] == 2
    assert cli("env", "rollback", "demo").returncode == 0


def test_gc_keeps_a_generation_that_env_run_is_using(demo: Path, tmp_path: Path,
                                                    cli: Cli) -> None:
    from tests.conftest import mlstack_exe

    # A command running in generation 1 (it prints, then waits for stdin to close).
    child = subprocess.Popen(
        [*mlstack_exe(), "env", "run", "demo", "--", "python", "-c",
         "import sys; print('ready', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        for i in (2, 3):
            lock = write_lock(tmp_path / f"{i}.lock", [torch_entry(
                "demo", "rocm6.4:gfx1100", env={"GEN": str(i)})])
            assert cli("env", "create", "demo", "--lock", str(lock)).returncode == 0
        held = json.loads(cli("gc", "--json").stdout)
        assert held["generations"] == []  # generation 1 is in use: not removed
        assert (paths.envs_dir() / "demo" / "gen-1").is_dir()
    finally:
        child.communicate(input="", timeout=60)
    assert child.returncode == 0
    freed = json.loads(cli("gc", "--json").stdout)
    assert freed["generations"] == [{"env": "demo", "generation": 1}]

"""`env create` progress lines, -q, the installed summary, and the env's read-only pip,
through the real console script, uv and the loopback index."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from mlstack_env.core import paths
from mlstack_env.lockfile import LockEntry, read_lock
from tests.envfixtures import team_lock
from tests.wheelindex import WheelIndex

pytest_plugins = ["tests.wheelindex"]

Cli = Callable[..., subprocess.CompletedProcess[str]]
STEP = re.compile(r"^(?P<step>.+): done in \d+(\.\d+)? s$")


@pytest.fixture
def lock(mirrored: WheelIndex, fake_machine: Callable[[str], Path], tmp_path: Path) -> Path:
    fake_machine("7900xtx")
    return team_lock(tmp_path / "mlstack.lock")


def test_piped_stderr_gets_one_line_per_step(lock: Path, cli: Cli) -> None:
    r = cli("env", "create", "demo", "--lock", str(lock))
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    steps = [m.group("step") for line in lines if (m := STEP.match(line))]
    assert steps == [
        f"reading {lock} for rocm6.4:gfx1100",
        "finding the locked files on the mirrors",  # by name, on each index's mirror
        "creating a Python 3.12 venv",
        "unpacking 3 wheels (uv's cache serves the ones it holds)",
        "linking 3 packages into the env",
        "checking the installed packages against the lock",
    ]
    # mlstack's own downloads, between reading the lock and uv: a line per file, a total
    wheels = [w for p in _entry(lock).packages for w in p.wheels]
    size = sum(w.size or 0 for w in wheels)
    fetched = [line for line in lines if not STEP.match(line)]
    assert fetched[0] == f"downloading 3 files, {size / 1024:.1f} KiB"
    done = sorted(re.sub(r"^\[(\d)/3\] downloaded (\S+) \(.* sha256 ok\)$", r"\1 \2", line)
                  for line in fetched[1:4])
    assert [d.split()[0] for d in done] == ["1", "2", "3"], fetched
    assert sorted(d.split()[1] for d in done) == sorted(w.filename for w in wheels)
    assert re.fullmatch(rf"downloaded 3 files, {size / 1024:.1f} KiB in .* \(.*/s\)",
                        fetched[4]), fetched
    assert lines.index(fetched[0]) == 2 and len(fetched) == 5
    assert "  torch     2.8.0+rocm6.4 (ROCm 6.4 build)" in r.stdout.splitlines()
    assert re.search(r"^  store     [0-9a-f]{32} \(built, \d+\.\d KiB\)$", r.stdout, re.M)


def _entry(lock: Path) -> LockEntry:
    return read_lock(lock).entries[0]


def test_quiet_prints_nothing_on_success(lock: Path, cli: Cli) -> None:
    r = cli("-q", "env", "create", "demo", "--lock", str(lock))
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    again = cli("env", "create", "demo", "--lock", str(lock), "--name", "other", "-q")
    assert (again.returncode, again.stdout, again.stderr) == (0, "", "")
    assert sorted(p.name for p in paths.envs_dir().iterdir()) == ["demo", "other"]


def test_json_is_silent_on_stderr(lock: Path, cli: Cli) -> None:
    r = cli("env", "create", "demo", "--lock", str(lock), "--json")
    assert r.returncode == 0 and r.stderr == ""
    assert json.loads(r.stdout)["name"] == "demo"


def test_pip_install_is_refused_and_installs_nothing(lock: Path, cli: Cli) -> None:
    assert cli("env", "create", "demo", "--lock", str(lock)).returncode == 0
    site = next((paths.envs_dir() / "demo/current/venv").resolve().glob("lib/*/site-packages"))
    before = sorted(p.name for p in site.iterdir())
    for pip in ("pip", "pip3", "pip3.12"):
        r = cli("env", "run", "demo", "--", pip, "install", "tqdm")
        assert r.returncode == 1
        assert r.stdout == ""
        assert r.stderr.splitlines() == [
            "error: `pip install` cannot change mlstack env demo: envs are immutable store "
            "entries built from a lock, and nothing was installed",
            "hint: change the env's profile instead: in the project that made it, `mlstack "
            "add tqdm` (then `mlstack env create`); for an env of a built-in profile "
            "(minimal, inference, training), make a project first: `mlstack init --yes && "
            "mlstack add tqdm && mlstack env create`",
        ]
    r = cli("env", "run", "demo", "--", "pip", "uninstall", "-y", "torch")
    assert r.returncode == 1 and "mlstack remove torch" in r.stderr
    assert sorted(p.name for p in site.iterdir()) == before
    verify = cli("env", "verify", "demo")  # the shims are no package's files
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_pip_read_only_commands_answer_for_the_env(lock: Path, cli: Cli) -> None:
    assert cli("env", "create", "demo", "--lock", str(lock)).returncode == 0
    listed = cli("env", "run", "demo", "--", "pip", "list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines() == [
        "Package             Version",
        "------------------- -------------",
        "filelock            3.18.0",
        "pytorch-triton-rocm 3.4.0",
        "torch               2.8.0+rocm6.4",
    ]
    frozen = cli("env", "run", "demo", "--", "pip", "freeze")
    assert frozen.stdout.splitlines() == ["filelock==3.18.0", "pytorch-triton-rocm==3.4.0",
                                          "torch==2.8.0+rocm6.4"]
    as_json = cli("env", "run", "demo", "--", "pip", "list", "--format", "json")
    assert {"name": "torch", "version": "2.8.0+rocm6.4"} in json.loads(as_json.stdout)
    show = cli("env", "run", "demo", "--", "pip", "show", "torch")
    assert show.returncode == 0, show.stderr
    fields = dict(line.split(": ", 1) for line in show.stdout.splitlines() if ": " in line)
    assert fields["Name"] == "torch" and fields["Version"] == "2.8.0+rocm6.4"
    assert fields["Requires"] == "filelock, pytorch-triton-rocm"
    assert Path(fields["Location"]).name == "site-packages"
    missing = cli("env", "run", "demo", "--", "pip", "show", "nosuch")
    assert missing.returncode == 1
    other = cli("env", "run", "demo", "--", "pip", "config", "list")
    assert other.returncode == 1 and "read-only" in other.stderr

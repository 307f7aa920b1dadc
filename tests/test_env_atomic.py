"""Atomic creates: kill -9 at any moment leaves the previous generation working and no
half env listed; concurrent creates of one env are serialized by its file lock."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from mlstack_env.core import paths
from tests.conftest import mlstack_exe
from tests.envfixtures import team_lock, torch_entry, uv_wrapper, write_lock
from tests.wheelindex import WheelIndex

pytest_plugins = ["tests.wheelindex"]

Cli = Callable[..., subprocess.CompletedProcess[str]]

# uv.run puts --no-config after "pip": `uv pip --no-config sync …`.
IS_SYNC = '[ "$1" = pip ] && [ "$3" = sync ]'
WRAPPERS = {
    # Killed from outside while uv installs: the test sends SIGKILL to mlstack.
    "sigkill-during-sync": f'if {IS_SYNC}; then echo $$ > "$MARK"; exec sleep 600; fi\n'
                           'exec "$REAL_UV" "$@"',
    # mlstack dies right after creating the venv, before anything is installed.
    "killed-before-sync": f'if {IS_SYNC}; then kill -9 $PPID; exit 1; fi\nexec "$REAL_UV" "$@"',
    # mlstack dies after a complete install, before the store entry is renamed into place.
    "killed-after-sync": f'if {IS_SYNC}; then "$REAL_UV" "$@"; kill -9 $PPID; exit 1; fi\n'
                         'exec "$REAL_UV" "$@"',
}


def wait_for(path: Path, proc: subprocess.Popen[str]) -> None:
    """Until the wrapper has written ``path`` (or mlstack ended, which fails the test)."""
    deadline = time.monotonic() + 120
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the uv wrapper never started the sync"
        time.sleep(0.05)


def interrupted_create(tmp_path: Path, mode: str, lock: Path) -> None:
    mark = tmp_path / "sync-started"
    wrapper = uv_wrapper(tmp_path / f"uv-{mode}", WRAPPERS[mode])
    env = dict(os.environ, MLSTACK_UV=str(wrapper), MARK=str(mark))
    proc = subprocess.Popen([*mlstack_exe(), "env", "create", "demo", "--lock", str(lock)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if mode == "sigkill-during-sync":
        wait_for(mark, proc)
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        os.kill(int(mark.read_text()), signal.SIGKILL)  # the orphaned "uv"
    else:
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.parametrize("mode", sorted(WRAPPERS))
def test_interrupted_create_keeps_the_previous_generation(
        mode: str, mirrored: WheelIndex, fake_machine: Callable[[str], Path], tmp_path: Path,
        cli: Cli) -> None:
    fake_machine("7900xtx")
    first = team_lock(tmp_path / "mlstack.lock")
    assert cli("env", "create", "demo", "--lock", str(first)).returncode == 0
    second = write_lock(tmp_path / "new.lock",
                        [torch_entry("demo", "rocm6.4:gfx1100", extra=["numpy"])])

    interrupted_create(tmp_path, mode, second)

    envs = json.loads(cli("env", "list", "--json").stdout)["envs"]
    assert [(e["name"], e["generation"]) for e in envs] == [("demo", 1)]
    run = cli("env", "run", "demo", "--", "python", "-c", "import torch; print(torch.__version__)")
    assert run.returncode == 0 and run.stdout.strip() == "2.8.0+rocm6.4", run.stderr
    assert cli("env", "verify", "demo").returncode == 0
    assert len([p for p in paths.store_dir().iterdir() if not p.name.startswith(".")]) == 1
    # The kill really hit a build: its temporary directory is still there, never served.
    assert [p for p in paths.store_dir().iterdir() if p.name.startswith(".tmp-")]

    # The next create cleans up after the killed one and succeeds.
    again = cli("env", "create", "demo", "--lock", str(second), "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["generation"] == 2
    assert not [p for p in paths.store_dir().iterdir() if p.name.startswith(".tmp-")]
    assert not [p for p in (paths.envs_dir() / "demo").iterdir() if p.name.startswith(".tmp-")]
    numpy = cli("env", "run", "demo", "--", "python", "-c", "import numpy; print('ok')")
    assert numpy.stdout.strip() == "ok", numpy.stderr


def test_interrupted_first_create_lists_nothing(mirrored: WheelIndex,
                                               fake_machine: Callable[[str], Path],
                                               tmp_path: Path, cli: Cli) -> None:
    fake_machine("7900xtx")
    lock = team_lock(tmp_path / "mlstack.lock")
    interrupted_create(tmp_path, "sigkill-during-sync", lock)
    assert json.loads(cli("env", "list", "--json").stdout) == {"envs": []}
    r = cli("env", "run", "demo", "--", "true")
    assert r.returncode == 1 and "no env named 'demo'" in r.stderr
    gc = json.loads(cli("gc", "--json").stdout)
    assert gc["temporaries"] and gc["store_entries"] == []
    assert not (paths.envs_dir() / "demo").exists()
    assert cli("env", "create", "demo", "--lock", str(lock)).returncode == 0


def test_concurrent_creates_are_serialized(mirrored: WheelIndex,
                                           fake_machine: Callable[[str], Path],
                                           tmp_path: Path, cli: Cli) -> None:
    fake_machine("7900xtx")
    log = tmp_path / "sync.log"
    # Each sync logs its start and end and lingers, so unserialized syncs would interleave.
    wrapper = uv_wrapper(tmp_path / "uv-logging",
                         f'if {IS_SYNC}; then echo "start $PPID" >> "$LOG"; sleep 1; '
                         f'"$REAL_UV" "$@"; rc=$?; echo "end $PPID" >> "$LOG"; exit $rc; fi\n'
                         'exec "$REAL_UV" "$@"')
    env = dict(os.environ, MLSTACK_UV=str(wrapper), LOG=str(log))
    locks = [team_lock(tmp_path / "a.lock"),
             write_lock(tmp_path / "b.lock",
                        [torch_entry("demo", "rocm6.4:gfx1100", extra=["numpy"])])]
    procs = [subprocess.Popen([*mlstack_exe(), "env", "create", "demo", "--lock", str(lock),
                               "--json"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for lock in locks]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    generations = sorted(json.loads(out)["generation"] for out, _err in outs)
    assert generations == [1, 2]
    events = [line.split()[0] for line in log.read_text().splitlines()]
    assert events == ["start", "end", "start", "end"]
    assert sorted(p.name for p in (paths.envs_dir() / "demo").iterdir()
                  if p.name.startswith("gen-")) == ["gen-1", "gen-2"]
    assert cli("env", "verify", "demo").returncode == 0
    run = cli("env", "run", "demo", "--", "python", "-c", "import torch; print(torch.__version__)")
    assert run.stdout.strip() == "2.8.0+rocm6.4", run.stderr

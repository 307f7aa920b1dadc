"""Offline means offline (issue 13, item 7): a wheel the lock pins by sha256 that uv's
cache holds is usable whatever mirror URL fetched it."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

from mlstack_env import paths
from tests.envfixtures import team_lock, torch_entry, write_lock
from tests.wheelindex import serve

pytest_plugins = ["tests.wheelindex"]

Cli = Callable[..., subprocess.CompletedProcess[str]]


def test_offline_after_the_mirror_changed(dead_index: str,
                                         fake_machine: Callable[[str], Path],
                                         tmp_path: Path, cli: Cli) -> None:
    fake_machine("7900xtx")
    lock = team_lock(tmp_path / "mlstack.lock")
    with serve(tmp_path / "mirror-a") as mirror_a:  # this test's own index, to stop it
        mirror_a.write_config()
        first = cli("env", "create", "demo", "--lock", str(lock))
        assert first.returncode == 0, first.stderr
        mirrors_a = mirror_a.mirrors
    # The team moves to mirror B, which this machine cannot reach (down, or no network).
    dead = dead_index
    mirror_a.write_config(mirrors={k: v.replace(mirror_a.url, dead)
                                   for k, v in mirrors_a.items()})
    # A NEW store entry needing the same wheels: nothing can be reused from the store.
    other = write_lock(tmp_path / "other.lock",
                       [torch_entry("demo", "rocm6.4:gfx1100", env={"NEW_KEY": "1"})])
    r = cli("env", "create", "demo", "--name", "other", "--lock", str(other), "--offline",
            "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["reused"] is False
    run = cli("env", "run", "other", "--", "python", "-c",
              "import torch, filelock; print(torch.__version__)")
    assert run.stdout.strip() == "2.8.0+rocm6.4", run.stderr
    # What made it work: the URL each pinned wheel was fetched from, by its sha256.
    fetched = paths.home() / "cache" / "wheel-urls"
    assert sorted(p.name for p in fetched.iterdir()) == sorted(
        w.sha256 for p in torch_entry("demo", "rocm6.4:gfx1100").packages for w in p.wheels)
    assert all(p.read_text().startswith(mirror_a.url) for p in fetched.iterdir())

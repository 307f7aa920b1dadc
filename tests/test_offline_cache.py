"""Offline means offline (issue 13 item 7, issue 22): mlstack's download cache is keyed by
sha256, so a locked file fetched once is there whatever mirror or URL fetched it."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote

from mlstack_env.core import paths
from tests.envfixtures import team_lock, torch_entry, write_lock
from tests.wheelindex import serve

pytest_plugins = ["tests.wheelindex"]

Cli = Callable[..., subprocess.CompletedProcess[str]]


def test_a_lock_fetched_through_one_mirror_installs_offline_and_through_another(
        dead_index: str, fake_machine: Callable[[str], Path], tmp_path: Path,
        cli: Cli) -> None:
    fake_machine("7900xtx")
    lock = team_lock(tmp_path / "mlstack.lock")
    wanted = sorted(w.sha256 for p in torch_entry("demo", "rocm6.4:gfx1100").packages
                    for w in p.wheels)
    with serve(tmp_path / "mirror-a") as mirror_a:  # this test's own index, to stop it
        mirror_a.write_config()
        first = cli("env", "create", "demo", "--lock", str(lock), "--json")
        assert first.returncode == 0, first.stderr
        assert json.loads(first.stdout)["downloads"]["downloaded"] == len(wanted)
        assert sorted(unquote(s.path.rsplit("/", 1)[-1]) for s in mirror_a.log) == sorted(
            w.filename for p in torch_entry("demo", "rocm6.4:gfx1100").packages
            for w in p.wheels)
        mirrors_a = mirror_a.mirrors
    # The team moves to mirror B, which this machine cannot reach (down, or no network).
    mirror_a.write_config(mirrors={k: v.replace(mirror_a.url, dead_index)
                                   for k, v in mirrors_a.items()})
    # A NEW store entry needing the same wheels: nothing can be reused from the store.
    other = write_lock(tmp_path / "other.lock",
                       [torch_entry("demo", "rocm6.4:gfx1100", env={"NEW_KEY": "1"})])
    r = cli("env", "create", "demo", "--name", "other", "--lock", str(other), "--offline",
            "--json")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["reused"] is False
    assert (result["downloads"]["cached"], result["downloads"]["downloaded"]) == (3, 0)
    run = cli("env", "run", "other", "--", "python", "-c",
              "import torch, filelock; print(torch.__version__)")
    assert run.stdout.strip() == "2.8.0+rocm6.4", run.stderr
    # Then through a live mirror C: a new entry again, and not one file asked of C.
    with serve(tmp_path / "mirror-c") as mirror_c:
        mirror_c.write_config()
        third = write_lock(tmp_path / "third.lock",
                           [torch_entry("demo", "rocm6.4:gfx1100", env={"NEW_KEY": "2"})])
        r = cli("env", "create", "demo", "--name", "third", "--lock", str(third), "--json")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["downloads"]["downloaded"] == 0
        assert mirror_c.log == []
    # What made it work: each wheel once in the cache, under its sha256.
    assert sorted(p.name for p in paths.files_cache_dir().iterdir()) == wanted


def test_offline_names_every_file_the_cache_lacks(fake_machine: Callable[[str], Path],
                                                  tmp_path: Path, cli: Cli) -> None:
    fake_machine("7900xtx")
    lock = team_lock(tmp_path / "mlstack.lock")
    r = cli("env", "create", "demo", "--lock", str(lock), "--offline")
    assert r.returncode == 1
    assert "3 locked files are not in mlstack's download cache" in r.stderr
    assert "torch-2.8.0+rocm6.4-cp312-cp312-manylinux_2_28_x86_64.whl" in r.stderr
    assert "hint: run the same command once with network access" in r.stderr
    assert not paths.envs_dir().joinpath("demo").exists()


def test_reinstall_offline_installs_from_the_cache_and_names_a_damaged_file(
        fake_machine: Callable[[str], Path], tmp_path: Path, cli: Cli) -> None:
    fake_machine("7900xtx")
    lock = team_lock(tmp_path / "mlstack.lock")
    with serve(tmp_path / "index") as index:
        index.write_config()
        first = cli("env", "create", "demo", "--lock", str(lock))
        assert first.returncode == 0, first.stderr
    # No server now: the reinstall hashes each cached file again and installs from them.
    r = cli("env", "create", "demo", "--lock", str(lock), "--reinstall", "--offline",
            "--json")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["reused"] is False
    assert (result["downloads"]["cached"], result["downloads"]["downloaded"]) == (3, 0)
    # A cached file changed on disk is not installed; offline it cannot be fetched again.
    torch = next(paths.files_cache_dir().glob("*/torch-*.whl"))
    with torch.open("r+b") as f:
        f.seek(100)
        f.write(b"\0" * 16)
    bad = cli("env", "create", "demo", "--lock", str(lock), "--reinstall", "--offline")
    assert bad.returncode == 1
    assert [line for line in bad.stderr.splitlines() if line.startswith("error:")] == [(
        f"error: 1 locked file is not in mlstack's download cache ({paths.files_cache_dir()}), "
        f"and --offline downloads nothing: {torch.name} (damaged: removed)")]
    assert "hint: run the same command once with network access" in bad.stderr
    # The env is as it was: the failed reinstall replaced nothing.
    run = cli("env", "run", "demo", "--", "python", "-c",
              "import torch; print(torch.__version__)")
    assert run.stdout.strip() == "2.8.0+rocm6.4", run.stderr

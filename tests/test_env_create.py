"""`mlstack env create` end to end: the real console script, the loopback index, uv."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

from mlstack_env.core import paths
from tests.envfixtures import (
    error_lines,
    failing_uv,
    team_lock,
    torch_entry,
    uv_wrapper,
    write_lock,
)
from tests.wheelindex import WheelIndex, serve

pytest_plugins = ["tests.wheelindex"]

Cli = Callable[..., subprocess.CompletedProcess[str]]
CREATE_KEYS = {"name", "generation", "path", "generation_path", "venv", "store_key", "profile",
               "target", "python", "variables", "reused", "up_to_date", "notes", "source",
               "python_why", "target_why", "key_versions", "lock_change", "downloads"}


def nothing_created() -> bool:
    """No store entry, no temporary, no env directory (lock files are bookkeeping)."""
    store = paths.store_dir()
    envs = paths.envs_dir()
    store_items = [p for p in store.iterdir() if p.name not in (".lock", ".locks")] \
        if store.is_dir() else []
    env_items = list(envs.iterdir()) if envs.is_dir() else []
    return not store_items and not env_items


def one_error(stderr: str) -> None:
    """One error and its hint, after the lines of the steps that completed."""
    lines = error_lines(stderr)
    assert len(lines) == 2, stderr
    assert lines[0].startswith("error: ") and lines[1].startswith("hint: "), stderr


def test_done_when_7900xtx(mirrored: WheelIndex, fake_machine: Callable[[str], Path],
                           tmp_path: Path, cli: Cli) -> None:
    fake_machine("7900xtx")
    lock = team_lock(tmp_path / "mlstack.lock")
    r = cli("env", "create", "demo", "--lock", str(lock))
    assert r.returncode == 0, r.stderr
    assert "created env demo, generation 1" in r.stdout
    assert "PYTORCH_ROCM_ARCH=gfx1100" in r.stdout
    run = cli("env", "run", "demo", "--", "python", "-c",
              "import os, torch; print(torch.__version__); print(os.environ['PYTORCH_ROCM_ARCH'])"
              "; print(os.environ.get('HSA_OVERRIDE_GFX_VERSION', '-'))")
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["2.8.0+rocm6.4", "gfx1100", "-"]
    # MIOpen's caches live with the env (each torch build bundles its own MIOpen).
    miopen = cli("env", "run", "demo", "--", "python", "-c",
                 "import os; print(os.environ['MIOPEN_USER_DB_PATH'])").stdout.strip()
    assert Path(miopen) == paths.envs_dir() / "demo" / "cache" / "miopen" / "db"
    assert Path(miopen).is_dir()


def test_a_store_miss_runs_one_uv_process(mirrored: WheelIndex,
                                          fake_machine: Callable[[str], Path],
                                          tmp_path: Path, cli: Cli) -> None:
    """`uv venv` runs once per uv and interpreter (the template a store miss copies); each
    miss then runs `uv pip sync` alone, and its env verifies, runs and activates."""
    fake_machine("7900xtx")
    calls = tmp_path / "uv-calls"
    wrapper = uv_wrapper(tmp_path / "uv", f'echo "$1 $2 $3" >> {calls}\nexec "$REAL_UV" "$@"')
    env = {"MLSTACK_UV": str(wrapper)}
    lock = team_lock(tmp_path / "a.lock")
    other = write_lock(tmp_path / "b.lock",
                       [torch_entry("demo", "rocm6.4:gfx1100", extra=["numpy"])])
    assert cli("env", "create", "demo", "--lock", str(lock), env=env).returncode == 0
    first = calls.read_text().splitlines()
    calls.unlink()
    r = cli("env", "create", "demo", "--name", "other", "--lock", str(other), env=env)
    assert r.returncode == 0, r.stderr
    second = calls.read_text().splitlines()
    def commands(lines: list[str]) -> list[str]:
        return [" ".join(w for w in line.split() if w != "--no-config") for line in lines]

    # The first: this uv's version (asked once per binary), the template, the install.
    assert commands(first) == ["--version", "venv --relocatable", "pip sync"], first
    assert commands(second) == ["pip sync"], second
    for name in ("demo", "other"):
        assert cli("env", "verify", name).returncode == 0
        run = cli("env", "run", name, "--", "python", "-c", "import torch")
        assert run.returncode == 0, run.stderr
    venv = paths.envs_dir() / "other" / "current" / "venv"
    shell = subprocess.run(
        ["bash", "-c", f'. "{venv}/bin/activate" && python -c "import numpy, sys; '
                     'print(sys.prefix)"'], capture_output=True, text=True, check=False)
    assert shell.returncode == 0, shell.stderr
    assert Path(shell.stdout.strip()).resolve() == venv.resolve()


def test_6700xt_carries_the_override(mirrored: WheelIndex, fake_machine: Callable[[str], Path],
                                     tmp_path: Path, cli: Cli) -> None:
    fake_machine("6700xt")
    lock = team_lock(tmp_path / "mlstack.lock")
    r = cli("env", "create", "demo", "--lock", str(lock), "--json")
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""  # silent with --json
    data = json.loads(r.stdout)
    assert set(data) == CREATE_KEYS
    assert data["target"] == "rocm6.4:gfx1031"
    assert data["variables"]["HSA_OVERRIDE_GFX_VERSION"] == "10.3.0"
    assert data["reused"] is False and data["generation"] == 1
    run = cli("env", "run", "demo", "--", "python", "-c",
              "import os; print(os.environ['HSA_OVERRIDE_GFX_VERSION'])")
    assert run.stdout.strip() == "10.3.0", run.stderr


def test_store_hit_runs_no_uv(mirrored: WheelIndex, fake_machine: Callable[[str], Path],
                              tmp_path: Path, cli: Cli) -> None:
    fake_machine("7900xtx")
    lock = team_lock(tmp_path / "mlstack.lock")
    first = cli("env", "create", "demo", "--lock", str(lock), "--json")
    assert first.returncode == 0, first.stderr
    no_uv = failing_uv(tmp_path)
    again = cli("env", "create", "demo", "--lock", str(lock), "--json", env=no_uv)
    other = cli("env", "create", "demo", "--name", "other", "--lock", str(lock), "--json",
                env=no_uv)
    assert again.returncode == 0, again.stderr
    assert other.returncode == 0, other.stderr
    a, o = json.loads(again.stdout), json.loads(other.stdout)
    assert a["reused"] and a["up_to_date"] and a["generation"] == 1
    assert o["reused"] and not o["up_to_date"] and o["generation"] == 1
    assert o["store_key"] == json.loads(first.stdout)["store_key"]
    run = cli("env", "run", "other", "--", "python", "-c", "import torch; print(torch.__version__)")
    assert run.stdout.strip() == "2.8.0+rocm6.4", run.stderr
    # And the proof that the failing uv is really used when uv is needed:
    lock2 = write_lock(tmp_path / "other.lock", [torch_entry("demo", "rocm6.4:gfx1100",
                                                              extra=["numpy"])])
    miss = cli("env", "create", "demo", "--lock", str(lock2), env=no_uv)
    assert miss.returncode == 1 and "no-uv" in miss.stderr


def test_lock_for_another_machine_is_refused(mirrored: WheelIndex,
                                             fake_machine: Callable[[str], Path],
                                             tmp_path: Path, cli: Cli) -> None:
    fake_machine("9070xt")
    lock = team_lock(tmp_path / "mlstack.lock")
    r = cli("env", "create", "demo", "--lock", str(lock), env=failing_uv(tmp_path))
    assert r.returncode == 1
    one_error(r.stderr)
    assert "detected rocm6.4:gfx1201" in r.stderr
    assert "rocm6.4:gfx1100" in r.stderr and "rocm6.4:gfx1031" in r.stderr
    assert nothing_created()


def test_lock_for_a_newer_glibc_is_refused(mirrored: WheelIndex,
                                           fake_machine: Callable[[str], Path],
                                           tmp_path: Path, cli: Cli) -> None:
    # The team's manylinux_2_28 lock on a host with CentOS 7's glibc 2.17.
    fake_machine("7900xtx")
    lock = team_lock(tmp_path / "mlstack.lock")
    r = cli("env", "create", "demo", "--lock", str(lock),
            env={**failing_uv(tmp_path), "MLSTACK_GLIBC": "2.17"})
    assert r.returncode == 1
    one_error(r.stderr)
    assert "entry demo@rocm6.4:gfx1100@py3.12" in r.stderr
    assert "needs glibc 2.28 (x86_64-manylinux_2_28)" in r.stderr
    assert "this host has glibc 2.17" in r.stderr
    assert "glibc >= 2.28" in r.stderr
    assert nothing_created()


def test_unknown_profile_in_lock(mirrored: WheelIndex, fake_machine: Callable[[str], Path],
                                 tmp_path: Path, cli: Cli) -> None:
    fake_machine("7900xtx")
    lock = team_lock(tmp_path / "mlstack.lock")
    r = cli("env", "create", "training", "--lock", str(lock))
    assert r.returncode == 1
    one_error(r.stderr)
    assert "no entry for profile 'training'" in r.stderr and "demo" in r.stderr


def test_odd_env_names_are_refused(mirrored: WheelIndex, fake_machine: Callable[[str], Path],
                                   tmp_path: Path, cli: Cli) -> None:
    fake_machine("7900xtx")
    lock = team_lock(tmp_path / "mlstack.lock")
    for bad in ("../evil", "a/b", "..", "-x", "a b", "é"):
        r = cli("env", "create", "demo", "--name", bad, "--lock", str(lock),
                env=failing_uv(tmp_path))
        assert r.returncode == 1, bad
        one_error(r.stderr)
        assert "invalid env name" in r.stderr
    assert nothing_created()
    assert not (tmp_path / "evil").exists()


def test_tampered_sha256_in_lock_is_refused(mirrored: WheelIndex,
                                            fake_machine: Callable[[str], Path],
                                            tmp_path: Path, cli: Cli) -> None:
    fake_machine("7900xtx")
    lock = team_lock(tmp_path / "mlstack.lock")
    text = lock.read_text()
    shas = re.findall(r'sha256 = "([0-9a-f]{64})"', text)
    lock.write_text(text.replace(shas[0], "0" * 64))
    r = cli("env", "create", "demo", "--lock", str(lock))
    assert r.returncode == 1
    one_error(r.stderr)
    error, hint = error_lines(r.stderr)
    assert "hash" in error.lower()
    assert "the lock or the served wheel was changed" in hint, r.stderr  # UvFailure.HASH
    assert nothing_created()


def test_served_wheel_with_other_bytes_is_refused(wheel_index: WheelIndex,
                                                  fake_machine: Callable[[str], Path],
                                                  tmp_path: Path, cli: Cli) -> None:
    fake_machine("7900xtx")
    wheel_index.write_config(tampered=True)
    lock = team_lock(tmp_path / "mlstack.lock")
    r = cli("env", "create", "demo", "--lock", str(lock))
    assert r.returncode == 1
    one_error(r.stderr)
    # mlstack's download checks the sha256 while streaming: the URL and mirror are named.
    error, hint = error_lines(r.stderr)
    assert error.startswith(f"error: cannot download {wheel_index.url}/tampered/")
    assert f"(through mirror {wheel_index.url}/tampered/" in error
    assert ".whl" in error and "hash mismatch" in error
    assert "the lock or the served wheel was changed" in hint
    assert nothing_created()


def test_unreachable_index_with_cold_cache(dead_index: str, wheel_index: WheelIndex,
                                           fake_machine: Callable[[str], Path],
                                           tmp_path: Path, cli: Cli) -> None:
    fake_machine("7900xtx")
    dead = dead_index
    wheel_index.write_config(mirrors={k: v.replace(wheel_index.url, dead)
                                      for k, v in wheel_index.mirrors.items()})
    lock = team_lock(tmp_path / "mlstack.lock")
    r = cli("env", "create", "demo", "--lock", str(lock))
    assert r.returncode == 1
    one_error(r.stderr)
    assert "network" in r.stderr.lower() or "connect" in r.stderr.lower()
    assert nothing_created()
    offline = cli("env", "create", "demo", "--lock", str(lock), "--offline")
    assert offline.returncode == 1
    one_error(offline.stderr)
    assert "--offline" in offline.stderr
    assert nothing_created()


def test_offline_with_a_warm_cache(fake_machine: Callable[[str], Path], tmp_path: Path,
                                   cli: Cli) -> None:
    fake_machine("7900xtx")
    lock = team_lock(tmp_path / "mlstack.lock")
    with serve(tmp_path / "private-index") as index:  # this test's own index, to stop it
        index.write_config()
        assert cli("env", "create", "demo", "--lock", str(lock)).returncode == 0
    assert cli("env", "remove", "demo").returncode == 0
    gc = cli("gc", "--json")
    assert len(json.loads(gc.stdout)["store_entries"]) == 1
    # The index is down now; only the uv cache beside the store has the wheels.
    r = cli("env", "create", "demo", "--lock", str(lock), "--offline", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["reused"] is False
    run = cli("env", "run", "demo", "--", "python", "-c", "import torch; print(torch.__version__)")
    assert run.stdout.strip() == "2.8.0+rocm6.4", run.stderr
    # Without --offline too: the pinned wheels are taken from the cache before any request
    # goes to the (dead) index.
    other = write_lock(tmp_path / "other.lock",
                       [torch_entry("demo", "rocm6.4:gfx1100", env={"NEW_KEY": "1"})])
    again = cli("env", "create", "demo", "--name", "again", "--lock", str(other), "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["reused"] is False  # a new store entry, built from cache


def test_exported_lock_recreates_the_same_env(mirrored: WheelIndex,
                                              fake_machine: Callable[[str], Path],
                                              tmp_path: Path, cli: Cli) -> None:
    fake_machine("7900xtx")
    lock = team_lock(tmp_path / "mlstack.lock")
    first = json.loads(cli("env", "create", "demo", "--lock", str(lock), "--json").stdout)
    exported = tmp_path / "demo.lock"
    assert cli("env", "export", "demo", "-o", str(exported)).returncode == 0
    stdout = cli("env", "export", "demo").stdout
    assert stdout == exported.read_text()
    assert "files.pythonhosted.org" in stdout and "127.0.0.1" not in stdout  # canonical URLs
    teammate = {"MLSTACK_HOME": str(tmp_path / "teammate-home")}
    r = cli("env", "create", "--lock", str(exported), "--json", env=teammate)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["name"] == "demo" and data["store_key"] == first["store_key"]

"""The variables an env carries: what create adds around the GPU-variables rule (that rule
is tested in test_gpuvars): ROCM_PATH, the lock entry's own values, caches."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from mlstack_env.catalog.target import Target
from mlstack_env.hardware import detect
from mlstack_env.lockfile import LockEntry
from mlstack_env.store.variables import env_variables
from tests import machines


def entry(target: str, env: dict[str, str] | None = None) -> LockEntry:
    return LockEntry("p", Target.parse(target), "3.12", "x86_64-manylinux_2_28", (),
                     env=env or {})


def test_7900xtx_is_native(fake_machine: Callable[[str], Path]) -> None:
    fake_machine("7900xtx")
    v = env_variables(entry("rocm6.4:gfx1100"), detect()).variables
    assert v == {"PYTORCH_ROCM_ARCH": "gfx1100", "ROCM_PATH": "/opt/rocm"}


def test_the_entry_variables_come_last_and_win(fake_machine: Callable[[str], Path]) -> None:
    fake_machine("7900xtx")
    e = entry("rocm6.4:gfx1100", {"PYTORCH_ROCM_ARCH": "gfx1100;gfx942", "MIOPEN_FIND_MODE": "2"})
    v = env_variables(e, detect()).variables
    assert v["PYTORCH_ROCM_ARCH"] == "gfx1100;gfx942"
    assert v["MIOPEN_FIND_MODE"] == "2"


def test_cpu_entry_carries_no_gpu_variables(fake_machine: Callable[[str], Path]) -> None:
    fake_machine("7900xtx")
    assert env_variables(entry("cpu"), detect()).variables == {}


def test_another_machines_target_follows_the_target(fake_machine: Callable[[str], Path]) -> None:
    fake_machine("7900xtx")  # building, on this box, an env for a 6700 XT box
    v = env_variables(entry("rocm6.4:gfx1031"), detect()).variables
    assert v == {"HSA_OVERRIDE_GFX_VERSION": "10.3.0", "PYTORCH_ROCM_ARCH": "gfx1030"}


def test_cache_variables_per_env_and_tunableop_per_gpu_set(tmp_path: Path) -> None:
    from mlstack_env.store.variables import cache_variables

    env_dir, home = tmp_path / "envs" / "demo", tmp_path
    rocm = entry("rocm6.4:gfx1100", env={"PYTORCH_TUNABLEOP_ENABLED": "1"})
    v = cache_variables(rocm, env_dir, home, {"PYTORCH_ROCM_ARCH": "gfx1100",
                                             "PYTORCH_TUNABLEOP_ENABLED": "1"})
    assert v == {
        "MIOPEN_USER_DB_PATH": str(env_dir / "cache" / "miopen" / "db"),
        "MIOPEN_CUSTOM_CACHE_DIR": str(env_dir / "cache" / "miopen" / "kernels"),
        "PYTORCH_TUNABLEOP_FILENAME": str(home / "tunableop" / "gfx1100"
                                          / "tunableop_results.csv"),
    }
    # Without TunableOp there is no results file; a CPU entry needs no GPU caches.
    plain = cache_variables(entry("rocm6.4:gfx1100"), env_dir, home,
                            {"PYTORCH_ROCM_ARCH": "gfx1100"})
    assert "PYTORCH_TUNABLEOP_FILENAME" not in plain and "MIOPEN_USER_DB_PATH" in plain
    assert cache_variables(entry("cpu"), env_dir, home, {}) == {}


def test_machine_decides_the_derived_variables_over_the_lock(
        fake_machine: Callable[[str], Path]) -> None:
    # A team lock for a gfx1030 + gfx1031 box, used on a machine with only the 6700 XT
    # (gfx1031), and on one with only a native RX 6800 (gfx1030).
    fake_machine("6700xt")
    team = entry("rocm6.4:gfx1030,gfx1031", env={
        "PYTORCH_ROCM_ARCH": "gfx1030", "HSA_OVERRIDE_GFX_VERSION": "10.3.0", "KEEP": "1"})
    v = env_variables(team, detect()).variables
    assert v["HSA_OVERRIDE_GFX_VERSION"] == "10.3.0" and v["PYTORCH_ROCM_ARCH"] == "gfx1030"
    assert v["KEEP"] == "1"  # the profile's own variables still come from the lock


def test_no_override_from_the_lock_on_a_native_card(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    rx6800 = machines.FakeGpu(100300, 0x73BF, 16 << 30)
    monkeypatch.setenv("MLSTACK_ROOT", str(machines.build(tmp_path / "m", [rx6800])))
    team = entry("rocm6.4:gfx1030,gfx1031", env={
        "PYTORCH_ROCM_ARCH": "gfx1030", "HSA_OVERRIDE_GFX_VERSION": "10.3.0"})
    v = env_variables(team, detect()).variables
    assert "HSA_OVERRIDE_GFX_VERSION" not in v  # never on a natively supported card
    assert v["PYTORCH_ROCM_ARCH"] == "gfx1030"

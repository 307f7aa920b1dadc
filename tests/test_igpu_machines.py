"""Issue 8 on machines as sold: an iGPU, or a GPU mlstack does not know, never reaches the
target, ``PYTORCH_ROCM_ARCH`` or the visible devices (ROCM-FACTS §1).

The assertions hold whichever visible-devices variable the env uses (HIP or ROCR, by index
or UUID): the left-out GPU's index and UUID appear in none of them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mlstack_env.gpu.gpu_assessment import target_summary
from mlstack_env.hardware import detect
from mlstack_env.hardware.machine import Gpu, Machine
from mlstack_env.lockfile import LockEntry
from mlstack_env.store.variables import env_variables

VISIBLE = ("HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES")


def _variables(machine: Machine) -> dict[str, str]:
    entry = LockEntry("p", machine.target, "3.12", "x86_64-manylinux_2_28", ())
    return env_variables(entry, machine).variables


def _shown(variables: dict[str, str]) -> set[str]:
    return {p.strip() for k in VISIBLE for p in variables.get(k, "").split(",") if p.strip()}


def _assert_left_out(variables: dict[str, str], gpu: Gpu) -> None:
    assert gpu.gfx not in variables["PYTORCH_ROCM_ARCH"].split(";")
    assert str(gpu.index) not in _shown(variables)
    assert gpu.uuid is None or gpu.uuid not in _shown(variables)


def test_ryzen9000_env_leaves_the_gfx1036_igpu_out(
        fake_machine: Callable[[str], Path]) -> None:
    fake_machine("ryzen9000-7900xtx")
    m = detect()
    assert str(m.target) == "rocm6.4:gfx1100"
    v = _variables(m)
    assert v["PYTORCH_ROCM_ARCH"] == "gfx1100"
    assert v["ROCR_VISIBLE_DEVICES"] == "0"  # the dGPU enumerates first; no UUID on it
    assert "HIP_VISIBLE_DEVICES" not in v  # HIP counts after ROCr's filter
    _assert_left_out(v, m.gpus[1])
    assert not any(k.startswith("HSA_OVERRIDE_GFX_VERSION") for k in v)


def test_renoir_env_runs_the_rx6800_natively(fake_machine: Callable[[str], Path]) -> None:
    fake_machine("renoir-6800")
    m = detect()
    v = _variables(m)
    assert v["PYTORCH_ROCM_ARCH"] == "gfx1030"
    _assert_left_out(v, m.gpus[0])
    assert not any(k.startswith("HSA_OVERRIDE_GFX_VERSION") for k in v)


def test_unknown_gpu_beside_a_7900xtx_is_left_out(fake_machine: Callable[[str], Path]) -> None:
    fake_machine("7900xtx-unknown")
    m = detect()
    assert str(m.target) == "rocm6.4:gfx1100"
    v = _variables(m)
    assert v["PYTORCH_ROCM_ARCH"] == "gfx1100"
    _assert_left_out(v, m.gpus[1])
    # Labelled by its kind: mlstack cannot tell whether it is integrated.
    summary = target_summary(m)
    assert "unknown AMD GPU 0x75f0 (gfx1310, unknown) left out" in summary
    assert "integrated" not in summary


def test_lone_780m_on_rocm64_wheels_runs_as_gfx1102(fake_machine: Callable[[str], Path]) -> None:
    fake_machine("780m")
    m = detect()
    v = _variables(m)
    assert v["HSA_OVERRIDE_GFX_VERSION"] == "11.0.2"  # rocm6.4 wheels (torch 2.8) carry gfx1102
    assert v["PYTORCH_ROCM_ARCH"] == "gfx1102"
    assert not any(k in v for k in VISIBLE)  # a lone iGPU is used, nothing hidden

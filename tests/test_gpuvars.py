"""The one GPU-variables rule (ROCM-FACTS §1): one test per fact.

Lock (a target's gfx list) and create (this machine's GPUs) both call
``gpuvars.decide``; their own tests only check what they add around it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from mlstack_env.catalog.target import Backend, Target
from mlstack_env.gpu.gpuvars import GpuCode, GpuSet, decide, gpu_code, gpus_for
from mlstack_env.hardware import detect
from tests import machines

FakeMachine = Callable[[str], Path]


def _target(text: str) -> dict[str, str]:
    target = Target.parse(text)
    return decide(GpuSet.of_target(target), gpu_code(target)).variables


def _machine(rocm: str) -> tuple[dict[str, str], tuple[str, ...]]:
    decided = decide(GpuSet.of_machine(detect()), gpu_code(Target.parse(rocm)))
    return decided.variables, decided.notes


def test_native_gpu_gets_its_arch_and_no_override() -> None:
    target = Target.parse("rocm6.4:gfx1100")
    decided = decide(GpuSet.of_target(target), gpu_code(target))
    assert decided.variables == {"PYTORCH_ROCM_ARCH": "gfx1100"}
    assert decided.notes == ()


def test_in_the_wheels_means_native_whatever_the_support_matrix_says() -> None:
    # gfx1101 is not on the 6.3 support matrix but is compiled into its wheels.
    assert _target("rocm6.3:gfx1101") == {"PYTORCH_ROCM_ARCH": "gfx1101"}


@pytest.mark.parametrize(("target", "value", "runs_as"), [
    ("rocm6.4:gfx1031", "10.3.0", "gfx1030"),
    ("rocm6.4:gfx1103", "11.0.2", "gfx1102"),  # rocm6.4 wheels carry gfx1102: VGPRs fit
])
def test_gpu_missing_from_the_wheels_runs_as_its_override(target: str, value: str,
                                                           runs_as: str) -> None:
    t = Target.parse(target)
    decided = decide(GpuSet.of_target(t), gpu_code(t))
    assert decided.variables == {"HSA_OVERRIDE_GFX_VERSION": value, "PYTORCH_ROCM_ARCH": runs_as}
    assert any(f"HSA_OVERRIDE_GFX_VERSION={value}" in n for n in decided.notes)


def test_no_override_fits_is_a_note_not_a_variable() -> None:
    t = Target.parse("rocm6.4:gfx1151")  # Strix Halo: not in the rocm6.4 wheels, no override
    decided = decide(GpuSet.of_target(t), gpu_code(t))
    assert decided.variables == {"PYTORCH_ROCM_ARCH": "gfx1151"}
    assert any("gfx1151" in n and "cannot run" in n for n in decided.notes)


def test_global_override_when_the_other_gpus_already_are_that_isa() -> None:
    assert _target("rocm6.4:gfx1030,gfx1031")["HSA_OVERRIDE_GFX_VERSION"] == "10.3.0"


def test_no_global_override_that_would_change_another_gpu() -> None:
    t = Target.parse("rocm6.4:gfx1031,gfx1100")
    decided = decide(GpuSet.of_target(t), gpu_code(t))
    assert not any(k.startswith("HSA_OVERRIDE") for k in decided.variables)
    assert decided.variables["PYTORCH_ROCM_ARCH"] == "gfx1030;gfx1100"
    # A target has no KFD nodes: the per-node form is left to each machine, with a note.
    assert any("HSA_OVERRIDE_GFX_VERSION_<node>" in n for n in decided.notes)


def test_different_overrides_are_a_per_node_note_for_a_target() -> None:
    t = Target.parse("rocm6.4:gfx1031,gfx1103")
    decided = decide(GpuSet.of_target(t), gpu_code(t))
    assert not any(k.startswith("HSA_OVERRIDE") for k in decided.variables)
    assert any("different overrides" in n for n in decided.notes)


def test_per_node_override_on_a_machine_with_known_nodes(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    root = machines.build(tmp_path / "m", [machines.RX_7900_XTX, machines.RX_6700_XT])
    monkeypatch.setenv("MLSTACK_ROOT", str(root))
    v, _ = _machine("rocm6.4:gfx1100")
    assert "HSA_OVERRIDE_GFX_VERSION" not in v
    assert v["HSA_OVERRIDE_GFX_VERSION_2"] == "10.3.0"  # KFD node 2 is the 6700 XT
    assert v["PYTORCH_ROCM_ARCH"] == "gfx1100;gfx1030"  # in enumeration order


def test_igpu_beside_a_discrete_gpu_is_hidden_by_rocr_index(fake_machine: FakeMachine) -> None:
    fake_machine("7800xt-780m")  # 780M is ROCr device 0, the 7800 XT device 1; no UUIDs
    v, notes = _machine("rocm6.3:gfx1101")
    # ROCR filters below HIP; HIP renumbers what is left from 0, so no HIP_VISIBLE_DEVICES.
    assert v == {"PYTORCH_ROCM_ARCH": "gfx1101", "ROCR_VISIBLE_DEVICES": "1"}
    assert any("HIP devices 0..0" in n for n in notes)
    assert any("firmware" in n for n in notes)


def test_hidden_gpus_are_selected_by_uuid_when_every_used_gpu_reports_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # An Instinct card reports a unique_id; re-enumeration cannot shift a UUID.
    root = machines.build(tmp_path / "m", [machines.RADEON_780M, machines.MI300X],
                          rocm="7.1.1")
    monkeypatch.setenv("MLSTACK_ROOT", str(root))
    v, _ = _machine("rocm7.1:gfx942")
    assert v["ROCR_VISIBLE_DEVICES"] == "GPU-3a1f6c2d9e8b7045"
    assert "HIP_VISIBLE_DEVICES" not in v


def test_no_uuid_is_guessed_when_one_used_gpu_reports_none(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = machines.build(tmp_path / "m", [machines.MI300X, machines.RADEON_780M,
                                           replace(machines.MI300X, unique_id=0)],
                          rocm="7.1.1")
    monkeypatch.setenv("MLSTACK_ROOT", str(root))
    v, _ = _machine("rocm7.1:gfx942")
    assert v["ROCR_VISIBLE_DEVICES"] == "0,2"  # ROCr indexes, the 780M (1) left out


def test_rocr_index_skips_unreadable_nodes(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    # sysfs nodes: 0 CPU, 1 unreadable (device cgroup), 2 the 780M, 3 the 7800 XT.
    root = machines.build(tmp_path / "m", [machines.RX_7800_XT, machines.RADEON_780M,
                                           machines.RX_7800_XT], unreadable=(1,))
    monkeypatch.setenv("MLSTACK_ROOT", str(root))
    v, _ = _machine("rocm6.4:gfx1101")
    assert v["ROCR_VISIBLE_DEVICES"] == "1"  # ROCr sees the 780M as 0, the 7800 XT as 1


def test_per_node_override_uses_the_compacted_node_id(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # sysfs nodes: 0 CPU, 1 unreadable, 2 a 7900 XTX, 3 a 6700 XT. libhsakmt drops node 1
    # and renumbers: the 6700 XT is its node 2 (the CPU node counts), not sysfs node 3.
    root = machines.build(tmp_path / "m", [machines.RX_7900_XTX, machines.RX_7900_XTX,
                                           machines.RX_6700_XT], unreadable=(1,))
    monkeypatch.setenv("MLSTACK_ROOT", str(root))
    v, _ = _machine("rocm6.4:gfx1100")
    assert v["HSA_OVERRIDE_GFX_VERSION_2"] == "10.3.0"
    assert "HSA_OVERRIDE_GFX_VERSION_3" not in v


def test_no_per_node_override_on_a_runtime_that_ignores_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = machines.build(tmp_path / "m", [machines.RX_7900_XTX, machines.RX_6700_XT],
                          rocm="6.1.3")
    monkeypatch.setenv("MLSTACK_ROOT", str(root))
    v, notes = _machine("rocm6.1:gfx1100")
    assert not any(k.startswith("HSA_OVERRIDE") for k in v)
    assert any("does not read" in n and "ROCm 6.2" in n for n in notes)


def test_a_lone_apu_is_used(fake_machine: FakeMachine) -> None:
    fake_machine("780m")
    v, _ = _machine("rocm6.4:gfx1103")
    assert v == {"HSA_OVERRIDE_GFX_VERSION": "11.0.2", "PYTORCH_ROCM_ARCH": "gfx1102"}


@pytest.mark.parametrize(("torch", "variables"), [
    # Same rocm6.1 index: torch 2.5 lacks gfx1101, 2.6 carries it (FACTS §1).
    ("2.5.1+rocm6.1", {"HSA_OVERRIDE_GFX_VERSION": "11.0.0", "PYTORCH_ROCM_ARCH": "gfx1100"}),
    ("2.6.0+rocm6.1", {"PYTORCH_ROCM_ARCH": "gfx1101"}),
])
def test_the_locked_torch_version_decides_native_or_override(
        torch: str, variables: dict[str, str]) -> None:
    t = Target.parse("rocm6.1:gfx1101")
    assert decide(GpuSet.of_target(t), gpu_code(t, torch)).variables == variables


def test_gfx1103_without_gfx1102_in_the_wheels_gets_11_0_0_and_a_warning() -> None:
    t = Target.parse("rocm6.2.4:gfx1103")
    decided = decide(GpuSet.of_target(t), gpu_code(t, "2.6.0+rocm6.2.4"))
    assert decided.variables["HSA_OVERRIDE_GFX_VERSION"] == "11.0.0"
    assert any(n.startswith("warning:") and "page-fault" in n for n in decided.notes)


def test_rdna4_missing_from_the_wheels_is_a_note_never_an_override() -> None:
    t = Target.parse("rocm6.2:gfx1201")
    decided = decide(GpuSet.of_target(t), gpu_code(t))
    assert decided.variables == {"PYTORCH_ROCM_ARCH": "gfx1201"}
    assert any("RDNA 4 is never overridden" in n for n in decided.notes)


def test_a_targets_gfx_list_hides_nothing() -> None:
    # Named on purpose in a target, an iGPU's gfx stays (no HIP indexes to hide it by).
    v = _target("rocm6.4:gfx1035,gfx1100")  # Radeon 680M (Rembrandt iGPU) + RX 7900 XTX
    assert "ROCR_VISIBLE_DEVICES" not in v and "HIP_VISIBLE_DEVICES" not in v
    assert v["PYTORCH_ROCM_ARCH"] == "gfx1030;gfx1100"  # the 680M runs as gfx1030


def test_a_gfx_outside_the_table_is_kept_with_a_note() -> None:
    unknown = GpuSet.of_target(Target(Backend.ROCM, "6.4", ("gfx1999",)))
    decided = decide(unknown, GpuCode(frozenset({"gfx1100"}), "the rocm6.4 wheels"))
    assert decided.variables == {"PYTORCH_ROCM_ARCH": "gfx1999"}
    assert any("gfx1999" in n and "GPU table" in n for n in decided.notes)


def test_gpu_code_is_the_index_list_else_the_targets_own() -> None:
    assert "gfx1101" in gpu_code(Target.parse("rocm6.4:gfx1100")).gfx
    assert "gfx1101" not in gpu_code(Target.parse("rocm6.2:gfx1100")).gfx
    assert gpu_code(Target.parse("rocm6.2.4:gfx1101")).gfx >= {"gfx1101"}
    # An index mlstack does not know: the gfx the entry was locked for.
    assert gpu_code(Target.parse("rocm9.9:gfx1100")).gfx == {"gfx1100"}
    assert gpu_code(Target.cpu()).gfx == frozenset()


def test_gpus_for_is_the_machine_only_for_its_own_target(fake_machine: FakeMachine) -> None:
    fake_machine("7900xtx")  # ROCm 6.4, gfx1100
    machine = detect()
    assert gpus_for(machine, Target.parse("rocm6.4:gfx1100")).machine
    assert gpus_for(machine, Target.parse("rocm6.4:gfx1030,gfx1100")).machine  # superset
    assert not gpus_for(machine, Target.parse("rocm6.4:gfx1031")).machine  # another box
    assert not gpus_for(machine, Target.parse("rocm6.3:gfx1100")).machine

"""``mlstack detect`` through the installed console script, on fake machines."""

from __future__ import annotations

import json
import platform
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mlstack_env.catalog import gpu_table
from tests.machines import GiB

Cli = Callable[..., subprocess.CompletedProcess[str]]
FakeMachine = Callable[[str], Path]

# The --json contract. Changing these sets is a change of the public interface.
TOP_KEYS = {"gpus", "rocm", "distro", "kernel", "python", "target", "notes", "summary",
            "lock_python"}
GPU_KEYS = {
    "index", "gfx", "name", "device_id", "vram_bytes", "integrated", "known", "kind", "uuid",
    "node", "source", "in_target", "code", "override", "official",
}
ROCM_KEYS = {"version", "path"}
DISTRO_KEYS = {"id", "version_id", "name", "id_like", "codename"}


def detect_json(cli: Cli, **env: str) -> dict[str, Any]:
    result = cli("detect", "--json", env=env or None)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    data = json.loads(result.stdout)  # the whole of stdout is one JSON document
    assert isinstance(data, dict)
    return data


@pytest.mark.parametrize(
    "machine",
    ["7900xtx", "7800xt-780m", "2xmi300x", "6700xt", "9070xt", "strix-halo", "no-gpu",
     "unreadable", "7900xtx-no-kfd", "7900xtx-no-rocm", "ryzen9000-7900xtx", "renoir-6800",
     "unknown-gpu", "7900xtx-unknown", "5700xt-no-rocm", "7900xtx-rocm722"],
)
def test_json_keys_are_pinned(cli: Cli, fake_machine: FakeMachine, machine: str) -> None:
    fake_machine(machine)
    data = detect_json(cli)
    assert set(data) == TOP_KEYS
    for gpu in data["gpus"]:
        assert set(gpu) == GPU_KEYS
    assert data["rocm"] is None or set(data["rocm"]) == ROCM_KEYS
    assert set(data["distro"]) == DISTRO_KEYS
    assert data["kernel"] == "6.8.0-45-generic"
    assert data["python"] == platform.python_version()
    assert isinstance(data["notes"], list)
    assert data["summary"].startswith(data["target"] + ": ")


def test_json_7900xtx(cli: Cli, fake_machine: FakeMachine) -> None:
    fake_machine("7900xtx")
    data = detect_json(cli)
    [gpu] = data["gpus"]
    assert gpu["index"] == 0
    assert gpu["gfx"] == "gfx1100"
    assert gpu["device_id"] == "0x744c"
    assert gpu["vram_bytes"] == 24 * GiB
    assert gpu["integrated"] is False
    assert gpu["in_target"] is True
    assert gpu["code"] == "native"
    assert gpu["override"] is None
    assert gpu["official"] is True
    assert data["rocm"] == {"version": "6.4.0", "path": "/opt/rocm"}
    assert data["distro"]["id"] == "ubuntu"
    assert data["target"] == "rocm6.4:gfx1100"


def test_json_apu_beside_dgpu(cli: Cli, fake_machine: FakeMachine) -> None:
    fake_machine("7800xt-780m")
    data = detect_json(cli)
    by_gfx = {g["gfx"]: g for g in data["gpus"]}
    assert by_gfx["gfx1103"]["integrated"] is True
    assert by_gfx["gfx1103"]["in_target"] is False
    assert by_gfx["gfx1101"]["in_target"] is True
    assert by_gfx["gfx1101"]["code"] == "native"
    assert by_gfx["gfx1101"]["official"] is False  # ROCm 6.3: official only from 6.4.1
    assert data["target"] == "rocm6.3:gfx1101"


def test_json_ryzen9000_with_7900xtx(cli: Cli, fake_machine: FakeMachine) -> None:
    # Issue 8: the Granite Ridge iGPU (gfx1036), enumerated second, is integrated and
    # stays out of the target.
    fake_machine("ryzen9000-7900xtx")
    data = detect_json(cli)
    assert [(g["index"], g["node"], g["gfx"], g["kind"], g["integrated"], g["in_target"])
            for g in data["gpus"]] == [
        (0, 1, "gfx1100", "discrete", False, True),
        (1, 2, "gfx1036", "integrated", True, False),
    ]
    assert data["gpus"][1]["device_id"] == "0x164e"
    assert data["target"] == "rocm6.4:gfx1100"
    assert "gfx1036" not in data["target"]


def test_json_renoir_with_rx6800(cli: Cli, fake_machine: FakeMachine) -> None:
    fake_machine("renoir-6800")
    data = detect_json(cli)
    by_gfx = {g["gfx"]: g for g in data["gpus"]}
    assert (by_gfx["gfx90c"]["kind"], by_gfx["gfx90c"]["in_target"]) == ("integrated", False)
    assert (by_gfx["gfx1030"]["code"], by_gfx["gfx1030"]["override"]) == ("native", None)
    assert data["target"] == "rocm6.4:gfx1030"


def test_json_unknown_gpu(cli: Cli, fake_machine: FakeMachine) -> None:
    fake_machine("7900xtx-unknown")
    data = detect_json(cli)
    [unknown] = [g for g in data["gpus"] if g["gfx"] == "gfx1310"]
    assert (unknown["known"], unknown["kind"], unknown["in_target"]) == (False, "unknown",
                                                                        False)
    assert unknown["code"] is None and unknown["official"] is None
    assert data["target"] == "rocm6.4:gfx1100"
    assert any("gfx1310" in n and "left out" in n for n in data["notes"])
    # Alone, it decides nothing: no target is guessed.
    fake_machine("unknown-gpu")
    data = detect_json(cli)
    assert [(g["gfx"], g["kind"], g["in_target"]) for g in data["gpus"]] == [
        ("gfx1310", "unknown", False)]
    assert data["target"] == "cpu"
    assert any("no target is guessed" in n and "MLSTACK_GPU" in n for n in data["notes"])


def test_json_uuid(cli: Cli, fake_machine: FakeMachine) -> None:
    fake_machine("2xmi300x")
    assert [g["uuid"] for g in detect_json(cli)["gpus"]] == [
        "GPU-3a1f6c2d9e8b7045", "GPU-5bd2e8a4c1f09e37"]
    fake_machine("7900xtx")
    assert [g["uuid"] for g in detect_json(cli)["gpus"]] == [None]


def test_human_shows_unknown_gpu(cli: Cli, fake_machine: FakeMachine) -> None:
    fake_machine("7900xtx-unknown")
    out = " ".join(_human(cli).split())
    assert "gfx1310 0x75f0 64.0 GiB unknown (left out)" in out
    assert "GPU 1 gfx1310 (0x75f0): a gfx mlstack does not know" in out


def test_rx_5700_xt_without_rocm_proposes_rocm_as_wheels(cli: Cli,
                                                          fake_machine: FakeMachine) -> None:
    # RDNA 1: no PyTorch ROCm wheel up to rocm7.2 carries gfx1010; ROCm as wheels does.
    fake_machine("5700xt-no-rocm")
    data = detect_json(cli)
    [gpu] = data["gpus"]
    assert (gpu["gfx"], gpu["device_id"], gpu["kind"], gpu["in_target"]) == (
        "gfx1010", "0x731f", "discrete", True)
    assert data["rocm"] is None
    assert data["target"] == "rocm10.0:gfx1010"
    out = _human(cli)
    assert _target_line(out).startswith("Target:  rocm10.0:gfx1010: no ROCm installed")
    assert "Radeon RX 5600 XT / 5700 / 5700 XT" in out


def test_json_override_and_cpu(cli: Cli, fake_machine: FakeMachine) -> None:
    fake_machine("6700xt")
    [gpu] = detect_json(cli)["gpus"]
    assert (gpu["code"], gpu["override"]) == ("override", "10.3.0")
    fake_machine("no-gpu")
    data = detect_json(cli)
    assert data["gpus"] == []
    assert data["rocm"] is None
    assert data["target"] == "cpu"


def test_json_two_mi300x(cli: Cli, fake_machine: FakeMachine) -> None:
    fake_machine("2xmi300x")
    data = detect_json(cli)
    assert [(g["index"], g["gfx"]) for g in data["gpus"]] == [(0, "gfx942"), (1, "gfx942")]
    assert data["rocm"] == {"version": "7.1.1", "path": "/opt/rocm"}
    assert data["target"] == "rocm7.1:gfx942"


def test_json_unreadable_node(cli: Cli, fake_machine: FakeMachine) -> None:
    fake_machine("unreadable")
    data = detect_json(cli)
    # "node" is libhsakmt's compacted id: sysfs node 2, renumbered 1 past unreadable node 1.
    assert [(g["index"], g["node"]) for g in data["gpus"]] == [(0, 1)]
    assert any("node 1" in n for n in data["notes"])


def _human(cli: Cli, **env: str) -> str:
    result = cli("detect", env=env or None)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout


def _target_line(out: str) -> str:
    [line] = [ln for ln in out.splitlines() if ln.startswith("Target:")]
    return line


def test_human_output_table_and_target(cli: Cli, fake_machine: FakeMachine) -> None:
    fake_machine("7900xtx")
    out = _human(cli)
    header = out.splitlines()[0].split()
    assert header == ["#", "GPU", "gfx", "PCI", "id", "VRAM", "kind", "wheels", "official"]
    [row] = [ln for ln in out.splitlines() if "gfx1100" in ln and not ln.startswith("Target")]
    assert "0x744c" in row
    assert "24.0 GiB" in row
    assert "discrete" in row
    assert "ROCm:    6.4.0 at /opt/rocm" in out
    assert "Distro:  Ubuntu 24.04 LTS" in out
    assert "Kernel:  6.8.0-45-generic" in out
    assert f"Python:  {platform.python_version()}" in out
    assert _target_line(out) == (
        "Target:  rocm6.4:gfx1100: natively supported by the rocm6.4 PyTorch wheels"
    )


def test_human_output_override(cli: Cli, fake_machine: FakeMachine) -> None:
    fake_machine("6700xt")
    line = _target_line(_human(cli))
    assert line.startswith("Target:  rocm6.4:gfx1031: ")
    assert "gfx1031 needs an override (HSA_OVERRIDE_GFX_VERSION=10.3.0" in line


def test_human_output_unsupported(cli: Cli, fake_machine: FakeMachine) -> None:
    fake_machine("strix-halo")
    line = _target_line(_human(cli, MLSTACK_ROCM_VERSION="6.4"))
    assert line.startswith("Target:  rocm6.4:gfx1151: ")
    assert "gfx1151 unsupported by the rocm6.4 wheels" in line


def test_human_output_apu_left_out(cli: Cli, fake_machine: FakeMachine) -> None:
    fake_machine("7800xt-780m")
    out = _human(cli)
    [apu_row] = [ln for ln in out.splitlines() if "gfx1103" in ln and "Target" not in ln]
    assert "integrated (left out)" in apu_row
    assert "left out" in _target_line(out)


def test_human_output_no_gpu(cli: Cli, fake_machine: FakeMachine) -> None:
    fake_machine("no-gpu")
    out = _human(cli)
    assert "GPUs:    none found" in out
    assert "ROCm:    not installed" in out
    assert _target_line(out).startswith("Target:  cpu: ")


def test_human_output_notes(cli: Cli, fake_machine: FakeMachine) -> None:
    fake_machine("7900xtx-no-kfd")
    out = _human(cli)
    assert any(ln.startswith("note: ") and "DRM" in ln for ln in out.splitlines())


def test_gpu_and_rocm_overrides(cli: Cli, fake_machine: FakeMachine) -> None:
    fake_machine("no-gpu")
    data = detect_json(cli, MLSTACK_GPU="gfx942,gfx90a", MLSTACK_ROCM_VERSION="7.0")
    assert [(g["gfx"], g["source"]) for g in data["gpus"]] == [
        ("gfx942", "override"),
        ("gfx90a", "override"),
    ]
    assert data["rocm"]["version"] == "7.0"
    assert data["target"] == "rocm7.0:gfx90a,gfx942"


def test_rocm_override_on_a_real_install(cli: Cli, fake_machine: FakeMachine) -> None:
    fake_machine("7800xt-780m")  # ROCm 6.3 installed
    data = detect_json(cli, MLSTACK_ROCM_VERSION="6.4.2")
    assert data["rocm"] == {"version": "6.4.2", "path": "/opt/rocm"}
    assert data["target"] == "rocm6.4:gfx1101"
    by_gfx = {g["gfx"]: g for g in data["gpus"]}
    assert by_gfx["gfx1101"]["official"] is True


def _one_error(result: subprocess.CompletedProcess[str]) -> tuple[str, str]:
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    # With --json the same error is also the JSON document on stdout.
    expected = {"error": lines[0].removeprefix("error: "),
                "hint": lines[-1].removeprefix("hint: ")} if "--json" in result.args else None
    assert (json.loads(result.stdout) if result.stdout else None) == expected
    assert len(lines) == 2, result.stderr
    assert lines[0].startswith("error: ")
    assert lines[1].startswith("hint: ")
    assert "Traceback" not in result.stderr
    return lines[0], lines[1]


def test_unknown_gfx_in_mlstack_gpu(cli: Cli, fake_machine: FakeMachine) -> None:
    fake_machine("7900xtx")
    for args in (("detect",), ("detect", "--json")):
        error, hint = _one_error(cli(*args, env={"MLSTACK_GPU": "gfx1100,gfx1999"}))
        assert "MLSTACK_GPU" in error
        assert "gfx1999" in error
        for gfx in gpu_table().models:
            assert gfx in hint


@pytest.mark.parametrize("args", [("-v", "detect"), ("detect", "-v"), ("--verbose", "detect")])
def test_verbose_shows_traceback(
    cli: Cli, fake_machine: FakeMachine, args: tuple[str, ...]
) -> None:
    fake_machine("7900xtx")
    result = cli(*args, env={"MLSTACK_GPU": "gfx1999"})
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "error: MLSTACK_GPU: unknown GPU architecture 'gfx1999'" in result.stderr


@pytest.mark.parametrize("bad", ["abc", "7", "6.4rc1"])
def test_bad_rocm_version(cli: Cli, fake_machine: FakeMachine, bad: str) -> None:
    fake_machine("7900xtx")
    error, hint = _one_error(cli("detect", env={"MLSTACK_ROCM_VERSION": bad}))
    assert "MLSTACK_ROCM_VERSION" in error
    assert repr(bad) in error
    assert "X.Y" in hint

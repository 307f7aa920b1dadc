"""Every built-in profile x supported target either locks or fails with one clear error:
the table of docs/profiles.md, row by row, against the loopback index's real layouts
(vLLM per-variant indexes, AMD's rocm-rel folders, PyPI's CUDA vllm and sdist-only
deepspeed; ROCM-FACTS §4)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlstack_env.catalog.target import Target
from mlstack_env.core.errors import MlstackError
from mlstack_env.lockfile import LockEntry
from mlstack_env.resolve.locking import LockRequest, lock
from tests.wheelindex import WheelIndex, write_project

pytest_plugins = ["tests.wheelindex"]

ROCM = ["rocm6.0", "rocm6.1", "rocm6.2", "rocm6.2.4", "rocm6.3", "rocm6.4", "rocm7.0",
        "rocm7.1", "rocm7.2"]
# torch each PyTorch index gives minimal (the newest it carries on the loopback index).
MINIMAL_TORCH = {"rocm6.0": "2.4.1+rocm6.0", "rocm6.1": "2.6.0+rocm6.1",
                 "rocm6.2": "2.5.1+rocm6.2", "rocm6.2.4": "2.7.1+rocm6.2.4",
                 "rocm6.3": "2.7.1+rocm6.3", "rocm6.4": "2.8.0+rocm6.4",
                 "rocm7.0": "2.10.0+rocm7.0", "rocm7.1": "2.10.0+rocm7.1",
                 "rocm7.2": "2.11.0+rocm7.2", "cpu": "2.8.0+cpu"}
# vLLM's folder (<release>/<variant>) for the target's exact ROCm release, the vllm it
# serves and the torch that vllm pins. ROCm 7.2.0 has no variant (rocm72 is no longer
# built); a host on 7.2.2 gets rocm722.
INFERENCE = {"rocm7.0": ("0.18.0/rocm700", "0.18.0+rocm700", "2.9.1+rocm7.0"),
             "rocm7.2.2": ("0.28.0/rocm722", "0.28.0+rocm722", "2.10.0+rocm7.2")}
VARIANTS = ("ROCm 7.0 (rocm700), 7.2.1 (rocm721), 7.2.2 (rocm722), 7.2.3 (rocm723), "
            "10.0 (rocm100) only")


def _target(name: str) -> Target:
    return Target.parse(name if name == "cpu" else f"{name}:gfx1100")


def _lock(profile: str, target: str, tmp_path: Path, python: str = "3.12") -> LockEntry:
    outcome = lock(None, LockRequest(profiles=[profile], targets=[_target(target)],
                                     python=python, output=tmp_path / "mlstack.lock"))
    (only,) = outcome.outcomes
    assert only.entry is not None
    return only.entry


def _versions(entry: LockEntry) -> dict[str, str]:
    return {p.name: p.version for p in entry.packages}


@pytest.mark.parametrize("target", [*ROCM, "cpu"])
def test_minimal_locks_on_every_target(mirrored: WheelIndex, tmp_path: Path,
                                       target: str) -> None:
    entry = _lock("minimal", target, tmp_path)
    assert _versions(entry)["torch"] == MINIMAL_TORCH[target]
    assert not any(p.name.startswith("nvidia-") for p in entry.packages)


@pytest.mark.parametrize("target", sorted(INFERENCE))
def test_inference_locks_vllm_and_its_torch_from_the_variant_index(
        mirrored: WheelIndex, tmp_path: Path, target: str) -> None:
    entry = _lock("inference", target, tmp_path)
    variant, vllm, torch = INFERENCE[target]
    got = {p.name: p for p in entry.packages}
    assert got["vllm"].version == vllm
    assert got["bitsandbytes"].version == "0.50.2"  # >=0.49: the releases with ROCm binaries
    assert got["vllm"].index == f"https://wheels.vllm.ai/rocm/{variant}"
    assert got["torch"].version == torch  # the torch vLLM names, not the PyTorch index's
    assert got["torch"].index == f"https://wheels.vllm.ai/rocm/{variant}"
    rel = target.removeprefix("rocm")
    assert got["onnxruntime-migraphx"].wheels[0].url.startswith(
        f"https://repo.radeon.com/rocm/manylinux/rocm-rel-{rel}/")
    assert not any(p.name.startswith("nvidia-") for p in entry.packages)
    assert entry.platform == "x86_64-manylinux_2_35"  # vLLM's ROCm wheels need glibc 2.35
    assert entry.env["FLASH_ATTENTION_TRITON_AMD_ENABLE"] == "TRUE"  # gfx1100 is RDNA


@pytest.mark.parametrize("target", [t for t in ROCM if t not in INFERENCE])
def test_inference_on_a_rocm_without_vllm_wheels_is_one_error(
        mirrored: WheelIndex, tmp_path: Path, target: str) -> None:
    with pytest.raises(MlstackError) as info:
        _lock("inference", target, tmp_path)
    assert "vllm" in info.value.message and VARIANTS in info.value.message
    assert f"no build for {target}:gfx1100" in info.value.message
    assert info.value.hint and "another target" in info.value.hint
    assert not (tmp_path / "mlstack.lock").exists()


def test_inference_on_cpu_is_one_error(mirrored: WheelIndex, tmp_path: Path) -> None:
    with pytest.raises(MlstackError, match="builds for rocm targets only"):
        _lock("inference", "cpu", tmp_path)


@pytest.mark.parametrize("target", [*ROCM, "cpu"])
def test_inference_on_python_311_names_312(mirrored: WheelIndex, tmp_path: Path,
                                           target: str) -> None:
    with pytest.raises(MlstackError) as info:
        _lock("inference", target, tmp_path, python="3.11")
    assert "3.12" in info.value.message
    assert not (tmp_path / "mlstack.lock").exists()


def test_a_user_profile_with_vllm_on_311_never_takes_pypis_cuda_wheel(
        mirrored: WheelIndex, tmp_path: Path) -> None:
    # Without the built-in profile's Python range: the vllm source's own rule speaks.

    write_project(tmp_path, profiles={"serve": ["vllm"]}, targets=["rocm7.0:gfx1100"],
                  python="3.11")
    from mlstack_env.manifest.project import find_project

    with pytest.raises(MlstackError) as info:
        lock(find_project(tmp_path), LockRequest(python="3.11"))
    assert "Python 3.12 only" in info.value.message
    assert info.value.hint and "--python 3.12" in info.value.hint
    assert not (tmp_path / "mlstack.lock").exists()


@pytest.mark.parametrize("target", [*ROCM, "cpu"])
def test_training_locks_on_every_target(mirrored: WheelIndex, tmp_path: Path,
                                        target: str) -> None:
    entry = _lock("training", target, tmp_path)
    versions = _versions(entry)
    assert versions["torch"] == MINIMAL_TORCH[target]
    assert {"megatron-core", "accelerate", "transformers", "datasets", "wandb",
            "mpi4py"} <= set(versions)
    assert not any(p.name.startswith("nvidia-") for p in entry.packages)
    # hipcc for JIT-compiled extensions (DeepSpeed's ops, torch.utils.cpp_extension).
    assert ("rocm-hip-sdk" in entry.system) == (target != "cpu")


def test_deepspeed_from_pypi_fails_naming_its_dev_wheel(mirrored: WheelIndex,
                                                        tmp_path: Path) -> None:
    # PyPI's one Linux wheel of deepspeed is 0.3.1.dev5 (2020); every newer release is an
    # sdist. uv takes a dev release "if necessary": mlstack refuses it, saying why.
    write_project(tmp_path, profiles={"train": ["deepspeed"]}, targets=["rocm6.4:gfx1100"],
                  python="3.12")
    from mlstack_env.manifest.project import find_project

    with pytest.raises(MlstackError) as info:
        lock(find_project(tmp_path), LockRequest())
    message = info.value.message
    assert "deepspeed 0.3.1.dev5 is a dev release" in message
    assert "none of its 2 newer releases has a wheel that fits (the newest, 0.17.6, is an " \
        "sdist only)" in message
    assert info.value.hint and "[sources.NAME] that carries a deepspeed wheel" in info.value.hint
    assert 'prereleases = "allow" in profile \'train\'' in info.value.hint
    assert not (tmp_path / "mlstack.lock").exists()


@pytest.mark.parametrize(("packages", "prereleases"), [
    (["deepspeed==0.3.1.dev5"], None),  # the requirement names the dev release
    (["deepspeed"], "allow"),           # the profile takes pre-releases
])
def test_deepspeed_dev_wheel_when_asked_for(mirrored: WheelIndex, tmp_path: Path,
                                            packages: list[str], prereleases: str | None) -> None:
    from mlstack_env.manifest.project import find_project

    write_project(tmp_path, profiles={"train": packages}, targets=["rocm6.4:gfx1100"],
                  python="3.12")
    if prereleases:
        manifest = tmp_path / "mlstack.toml"
        text = manifest.read_text()
        manifest.write_text(text.replace("[profiles.train]\n",
                                         f'[profiles.train]\nprereleases = "{prereleases}"\n'))
    outcome = lock(find_project(tmp_path), LockRequest())
    (only,) = outcome.outcomes
    assert only.entry is not None
    assert _versions(only.entry)["deepspeed"] == "0.3.1.dev5"


@pytest.mark.parametrize(("requirement", "torch", "variables"), [
    # One index, two torch releases: 2.5 lacks gfx1101 (override), 2.6 carries it (native).
    ("torch<2.6", "2.5.1+rocm6.1", {"HSA_OVERRIDE_GFX_VERSION": "11.0.0",
                                     "PYTORCH_ROCM_ARCH": "gfx1100"}),
    ("torch", "2.6.0+rocm6.1", {"PYTORCH_ROCM_ARCH": "gfx1101"}),
])
def test_the_locked_torch_decides_native_or_override(
        mirrored: WheelIndex, tmp_path: Path, requirement: str, torch: str,
        variables: dict[str, str]) -> None:
    from mlstack_env.manifest.project import find_project
    from mlstack_env.store.variables import env_variables
    from tests.machines import RX_7800_XT, build

    write_project(tmp_path, profiles={"ml": [requirement]}, targets=["rocm6.1:gfx1101"])
    outcome = lock(find_project(tmp_path), LockRequest())
    (entry,) = (o.entry for o in outcome.outcomes)
    assert entry is not None
    assert _versions(entry)["torch"] == torch
    assert {k: v for k, v in entry.env.items() if k in variables or "HSA" in k} == variables
    # create time, on a 7800 XT machine with ROCm 6.1: the same decision from the entry.
    from mlstack_env.hardware import detect

    machine = detect(build(tmp_path / "m", [RX_7800_XT], rocm="6.1.3"))
    got = env_variables(entry, machine).variables
    assert {k: v for k, v in got.items() if k in variables or "HSA" in k} == variables

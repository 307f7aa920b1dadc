"""Detection as an ordered chain: override variables, then KFD sysfs, then DRM sysfs."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from mlstack_env.catalog import gpu_table, parse_version, unknown_gfx_error
from mlstack_env.core import envvars, paths
from mlstack_env.core.errors import TargetError
from mlstack_env.hardware import osinfo, rocm, sysfs
from mlstack_env.hardware.machine import (
    UNKNOWN_GPU_ADVICE,
    Gpu,
    GpuSource,
    Machine,
    RocmInstall,
)


def detect(root: Path | None = None, environ: dict[str, str] | None = None) -> Machine:
    """Read the machine under ``root`` (default MLSTACK_ROOT, else ``/``)."""
    env = dict(os.environ) if environ is None else environ
    root = root if root is not None else paths.machine_root()
    notes: list[str] = []
    gpus = _gpus_from_override(env.get(envvars.MLSTACK_GPU, ""))
    if gpus is None:
        gpus = detect_gpus(root, notes)
    else:
        notes.append(f"GPUs from {envvars.MLSTACK_GPU}")
    notes.extend(unknown_gpu_notes(gpus))
    install = detect_rocm(root, env, notes)
    return Machine(
        gpus=tuple(gpus),
        rocm=install,
        distro=osinfo.read_distro(root),
        kernel=osinfo.read_kernel(root),
        python=sys.version.split(" ", 1)[0],  # platform.python_version(), unimported
        notes=tuple(notes),
    )


def _gpus_from_override(value: str) -> list[Gpu] | None:
    names = [g.strip().lower() for g in value.split(",") if g.strip()]
    if not names:
        return None
    table = gpu_table()
    gpus = []
    for index, gfx in enumerate(names):
        if gfx not in table.models:
            err = unknown_gfx_error(gfx, table)
            raise TargetError(f"{envvars.MLSTACK_GPU}: {err.message}", hint=err.hint)
        model = table.models[gfx]
        gpus.append(
            Gpu(
                index=index,
                gfx=gfx,
                name=model.name_for(None),
                device_id=None,
                vram_bytes=None,
                integrated=model.integrated,
                node=None,
                source=GpuSource.OVERRIDE,
            )
        )
    return gpus


def unknown_gpu_notes(gpus: list[Gpu]) -> list[str]:
    """What detection decided about GPUs of a gfx mlstack does not know (Machine.compute_gpus
    holds the rule): they never choose the target or the visible devices."""
    unknown = [g for g in gpus if not g.known]
    if not unknown:
        return []
    names = ", ".join(f"GPU {g.index} {g.gfx} ({g.device_id or 'no PCI id'})" for g in unknown)
    if any(g.known and not g.integrated for g in gpus):
        what = "left out of the target and the visible devices"
    else:
        what = "no target is guessed from it (cpu)"
    return [f"{names}: a gfx mlstack does not know (neither its GPU table nor LLVM's APU "
            f"list); {what}; {UNKNOWN_GPU_ADVICE}"]


def detect_gpus(root: Path, notes: list[str]) -> list[Gpu]:
    table = gpu_table()
    kfd = sysfs.read_kfd_nodes(root, notes)
    gpus: list[Gpu] = []
    if kfd is not None:
        for node in kfd:
            device_id = sysfs.format_device_id(node.device_id) if node.device_id else None
            model = table.models.get(node.gfx)
            integrated = table.integrated(node.gfx)
            if model is not None:
                name = model.name_for(device_id)
            elif integrated:
                name = f"integrated GPU ({node.gfx})"
                notes.append(
                    f"KFD node {node.node}: {node.gfx} is not in the GPU table; LLVM lists "
                    "it as an APU, so it is treated as integrated"
                )
            else:
                name = f"unknown AMD GPU {device_id or ''}".strip()
            gpus.append(
                Gpu(
                    index=len(gpus),
                    gfx=node.gfx,
                    name=name,
                    device_id=device_id,
                    vram_bytes=node.vram_bytes,
                    integrated=bool(integrated),
                    node=node.node,
                    known=integrated is not None,
                    uuid=sysfs.format_uuid(node.unique_id),
                    source=GpuSource.KFD,
                )
            )
        return gpus
    for card in sysfs.read_drm_cards(root):
        device_id = sysfs.format_device_id(card.device_id)
        model = table.by_device_id(device_id)
        if model is None:
            notes.append(f"{card.card}: AMD device {device_id} is not in the GPU table")
            continue
        gpus.append(
            Gpu(
                index=len(gpus),
                gfx=model.gfx,
                name=model.name_for(device_id),
                device_id=device_id,
                vram_bytes=card.vram_bytes,
                integrated=model.integrated,
                node=None,
                source=GpuSource.DRM,
            )
        )
    if gpus:
        notes.append("no KFD topology (amdgpu not loaded?): GPUs read from DRM")
    return gpus


def detect_rocm(root: Path, env: dict[str, str], notes: list[str]) -> RocmInstall | None:
    override = env.get(envvars.MLSTACK_ROCM_VERSION, "").strip()
    found: RocmInstall | None = None
    rocm_path = env.get(envvars.ROCM_PATH, "").strip()
    if rocm_path:
        version = rocm.read_install(root, rocm_path)
        if version:
            found = RocmInstall(version, rocm_path)
        else:
            notes.append(f"{envvars.ROCM_PATH}={rocm_path} holds no ROCm (.info/version)")
    if found is None:
        version = rocm.read_install(root, "/opt/rocm")
        if version:
            found = RocmInstall(version, "/opt/rocm")
    if found is None:
        newest = rocm.newest_versioned_dir(root)
        if newest:
            found = RocmInstall(newest[1], newest[0])
    if override:
        try:
            parse_version(override)
        except TargetError as e:
            name = envvars.MLSTACK_ROCM_VERSION
            raise TargetError(f"{name}: {e.message}", hint=e.hint) from None
        notes.append(f"ROCm version from {envvars.MLSTACK_ROCM_VERSION}")
        return RocmInstall(override, found.path if found else "/opt/rocm")
    return found

"""The variables an env carries: machine-specific ones decided at create time, then the
lock entry's own (ROCM-FACTS §1 and §6).

* ``PYTORCH_ROCM_ARCH``: the ISAs the env's GPUs run as (an overridden GPU runs as the
  ISA its override names, so extensions must be built for that one).
* ``HSA_OVERRIDE_GFX_VERSION``: only for a GPU whose code the env's wheels do not carry
  (``catalog.code_support(gfx, catalog.wheel_gfx(rocm))``); never for a native card.
  When GPUs need different values, or native cards sit beside overridden ones, one global
  value would be wrong: the per-node ``HSA_OVERRIDE_GFX_VERSION_<node>`` is used instead,
  numbered by KFD topology node (UNCONFIRMED numbering, ROCM-FACTS §1).
* ``HIP_VISIBLE_DEVICES``: the HIP indexes of the compute GPUs, set only when an
  integrated GPU sits beside a discrete one (the iGPU is left out).
* ``ROCM_PATH``: the detected ROCm install.
* ``MIOPEN_USER_DB_PATH`` / ``MIOPEN_CUSTOM_CACHE_DIR``: per env (:func:`cache_variables`).
* ``PYTORCH_TUNABLEOP_FILENAME``: per GPU set, shared by the envs that enable TunableOp.

The lock entry's variables come last and win: a profile that sets a value on purpose
means it. Except the values the lock derived from its gfx list (``PYTORCH_ROCM_ARCH``,
``HSA_OVERRIDE_GFX_VERSION``): when the env is for this machine's own GPUs, the machine
decides those.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlstack_env import envvars
from mlstack_env.catalog import (
    CodeKind,
    code_support,
    gpu_table,
    override_gfx,
    runs_as,
    wheel_gfx,
)
from mlstack_env.errors import MlstackError
from mlstack_env.hardware.machine import Gpu, Machine
from mlstack_env.lockfile import LockEntry
from mlstack_env.target import Target


@dataclass(frozen=True)
class EnvVariables:
    variables: dict[str, str]
    notes: tuple[str, ...] = ()


def carried_gfx(entry: LockEntry) -> frozenset[str]:
    """The GPU code the env's wheels carry: the PyTorch index's list for its ROCm version,
    else (an index mlstack does not know) the gfx list the entry was locked for."""
    if entry.target.rocm is None:
        return frozenset()
    try:
        known = wheel_gfx(entry.target.rocm)
    except MlstackError:  # a version string catalog does not know: use the entry's own list
        known = None
    return known if known is not None else frozenset(entry.target.gfx)


def _gpus_for(machine: Machine, target: Target) -> tuple[tuple[Gpu, ...], bool]:
    """The GPUs to configure, and whether they are the machine's own.

    When ``--target`` names another machine's GPUs (creating an env for elsewhere), the
    variables follow the target's gfx list instead of this machine's GPUs.
    """
    detected = machine.target
    if detected == target or (
        detected.is_rocm and target.is_rocm and set(detected.gfx) <= set(target.gfx)
        and detected.rocm_minor == target.rocm_minor
    ):
        return machine.compute_gpus, True
    table = gpu_table()
    gpus = tuple(
        Gpu(index=i, gfx=g, name=table.models[g].name_for(None) if g in table.models else g,
            device_id=None, vram_bytes=None,
            integrated=g in table.models and table.models[g].integrated, source="target")
        for i, g in enumerate(target.gfx)
    )
    return gpus, False


def env_variables(entry: LockEntry, machine: Machine) -> EnvVariables:
    variables: dict[str, str] = {}
    notes: list[str] = []
    if entry.target.is_rocm:
        gpus, own = _gpus_for(machine, entry.target)
        carried = carried_gfx(entry)
        table = gpu_table()
        arch: list[str] = []
        overrides: dict[Gpu, str] = {}
        native: list[Gpu] = []
        for gpu in gpus:
            if gpu.gfx not in table.models:
                notes.append(f"{gpu.gfx} is not in mlstack's GPU table; no override decided")
                arch.append(gpu.gfx)
                continue
            support = code_support(gpu.gfx, carried)
            if support.kind is CodeKind.OVERRIDE and support.override:
                overrides[gpu] = support.override
                arch.append(override_gfx(support.override))
            else:
                if support.kind is CodeKind.UNSUPPORTED:
                    notes.append(
                        f"{gpu.gfx} is not carried by this env's wheels and has no override; "
                        "it will not run GPU code"
                    )
                native.append(gpu)
                arch.append(gpu.gfx)
        if arch:
            variables[envvars.PYTORCH_ROCM_ARCH] = ";".join(dict.fromkeys(arch))
        values = set(overrides.values())
        # One global value is right when it is the only one needed and every native GPU
        # already is the ISA it names (a 7800 XT on rocm6.2 wheels beside a 7900 XTX).
        if len(values) == 1 and all(g.gfx == override_gfx(next(iter(values))) for g in native):
            variables[envvars.HSA_OVERRIDE_GFX_VERSION] = values.pop()
        elif overrides:
            for gpu, value in overrides.items():
                if gpu.node is None:
                    notes.append(
                        f"{gpu.gfx} needs HSA_OVERRIDE_GFX_VERSION={value} but shares the "
                        "machine with other GPUs and its KFD node is unknown; set it by hand"
                    )
                    continue
                variables[f"{envvars.HSA_OVERRIDE_GFX_VERSION}_{gpu.node}"] = value
        if own:
            compute = machine.compute_gpus
            if len(compute) < len(machine.gpus):
                variables[envvars.HIP_VISIBLE_DEVICES] = ",".join(str(g.index) for g in compute)
            if machine.rocm is not None:
                variables[envvars.ROCM_PATH] = machine.rocm.path
    lock_env = dict(entry.env)
    if entry.target.is_rocm and _gpus_for(machine, entry.target)[1]:
        # Values the lock derived from its gfx list give way to this machine's own GPUs
        # (a lock for gfx1030+gfx1031 must not put an override on a lone native gfx1030);
        # a value the profile set on purpose differs from the derived one and stays.
        carried = carried_gfx(entry)
        derived_arch = ";".join(runs_as(entry.target.gfx, carried))
        if lock_env.get(envvars.PYTORCH_ROCM_ARCH) == derived_arch:
            del lock_env[envvars.PYTORCH_ROCM_ARCH]
        derived_override = {
            s.override for g in entry.target.gfx if g in gpu_table().models
            for s in [code_support(g, carried)] if s.kind is CodeKind.OVERRIDE
        }
        if lock_env.get(envvars.HSA_OVERRIDE_GFX_VERSION) in derived_override:
            del lock_env[envvars.HSA_OVERRIDE_GFX_VERSION]
    variables.update(lock_env)
    return EnvVariables(dict(sorted(variables.items())), tuple(notes))


def cache_variables(entry: LockEntry, env_dir: Path, home: Path,
                    variables: dict[str, str]) -> dict[str, str]:
    """Cache locations that depend on where the env lives, so a shared lock can't carry them.

    MIOpen's find-db and compiled kernels go with the env: each torch build bundles its own
    MIOpen, and kernels cached by one are not for another. TunableOp's results are
    per GPU set and shared by every env that enables it (``PYTORCH_TUNABLEOP_ENABLED=1``),
    so an inference env replays what a training env tuned on the same GPUs (ROCM-FACTS §6).
    A value the profile sets itself wins (it comes later, in ``variables``).
    """
    if not entry.target.is_rocm:
        return {}
    out = {
        envvars.MIOPEN_USER_DB_PATH: str(env_dir / "cache" / "miopen" / "db"),
        envvars.MIOPEN_CUSTOM_CACHE_DIR: str(env_dir / "cache" / "miopen" / "kernels"),
    }
    if variables.get(envvars.PYTORCH_TUNABLEOP_ENABLED) == "1":
        arch = variables.get(envvars.PYTORCH_ROCM_ARCH, "") or "-".join(entry.target.gfx)
        out[envvars.PYTORCH_TUNABLEOP_FILENAME] = str(
            home / "tunableop" / arch.replace(";", "-") / "tunableop_results.csv"
        )
    return out

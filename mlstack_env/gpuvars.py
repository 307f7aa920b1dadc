"""The GPU variables of an env — the one rule that ``lock`` and ``create`` both call
(ROCM-FACTS §1 and §6).

Input: the GPUs an env is for (:class:`GpuSet`: a machine's, iGPUs included, or the gfx
list of a target) and the GPU code its wheels carry (:class:`GpuCode`). Output: the
variables and notes (:class:`GpuVariables`):

* ``PYTORCH_ROCM_ARCH``: the ISAs the GPUs run as (an overridden GPU runs as the ISA its
  override names, so extensions must be built for that one).
* ``HSA_OVERRIDE_GFX_VERSION``: only for a GPU whose code the wheels do not carry and
  whose table override names a carried ISA; never for a native card. One global value
  when it is the only one needed and every other GPU already is the ISA it names; else
  ``HSA_OVERRIDE_GFX_VERSION_<node>`` per overridden GPU whose KFD node is known, and a
  note for the others (a target's gfx list has no nodes).
* ``HIP_VISIBLE_DEVICES``: the HIP indexes of the GPUs used, when some GPUs of the
  machine are hidden (an iGPU beside a discrete one).

Where the next rules go: what the wheels carry (from the locked torch version) in
:func:`gpu_code`; which GPUs are hidden and how (``ROCR_VISIBLE_DEVICES``) in
:class:`GpuSet` and :func:`decide`; node numbering in the ``node`` of each :class:`Gpu`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from mlstack_env import envvars
from mlstack_env.catalog import (
    CodeKind,
    code_support,
    gpu_table,
    override_gfx,
    same_host_rocm,
    wheel_gfx,
)
from mlstack_env.errors import MlstackError
from mlstack_env.hardware.machine import Gpu, GpuSource, Machine
from mlstack_env.target import Target

__all__ = ["GpuCode", "GpuSet", "GpuVariables", "decide", "gpu_code", "gpus_for"]


@dataclass(frozen=True)
class GpuCode:
    """The GPU code an env runs: the gfx compiled into its wheels, and a name for notes."""

    gfx: frozenset[str]
    name: str  # "the rocm6.4 wheels"


def gpu_code(target: Target) -> GpuCode:
    """What the PyTorch wheels of a target's ROCm version carry (the catalog's per-index
    list); for an index mlstack does not know, the gfx list the target names."""
    if target.rocm is None:
        return GpuCode(frozenset(), "CPU wheels")
    name = f"the rocm{target.rocm} wheels"
    try:
        known = wheel_gfx(target.rocm)
    except MlstackError:  # a version string catalog does not know: use the target's own list
        known = None
    return GpuCode(known if known is not None else frozenset(target.gfx), name)


@dataclass(frozen=True)
class GpuSet:
    """The GPUs an env is for.

    ``machine`` True: every GPU of this machine in enumeration order (iGPUs and unknown
    GPUs included), with HIP indexes, KFD nodes and UUIDs that mean something here, and
    ``used`` the ones the env runs on (``Machine.compute_gpus`` decides). False: one
    stand-in per gfx of a target, all used (no nodes, nothing to hide).
    """

    gpus: tuple[Gpu, ...]
    used: tuple[Gpu, ...]
    machine: bool

    @classmethod
    def of_machine(cls, machine: Machine) -> GpuSet:
        return cls(machine.gpus, machine.compute_gpus, True)

    @classmethod
    def of_target(cls, target: Target) -> GpuSet:
        table = gpu_table()
        gpus = tuple(
            Gpu(index=i, gfx=g, name=table.models[g].name_for(None) if g in table.models else g,
                device_id=None, vram_bytes=None,
                integrated=g in table.models and table.models[g].integrated,
                source=GpuSource.TARGET)
            for i, g in enumerate(target.gfx)
        )
        return cls(gpus, gpus, False)

    @property
    def hidden(self) -> tuple[Gpu, ...]:
        used = set(self.used)
        return tuple(g for g in self.gpus if g not in used)


def gpus_for(machine: Machine, target: Target) -> GpuSet:
    """The machine's GPUs when ``target`` is for this machine (its own target, or a
    superset of its gfx on the same ROCm minor), else the target's gfx list (an env
    built here for another machine)."""
    detected = machine.target
    if detected == target or (
        detected.is_rocm and target.is_rocm and set(detected.gfx) <= set(target.gfx)
        and same_host_rocm(detected.rocm, target.rocm)
    ):
        return GpuSet.of_machine(machine)
    return GpuSet.of_target(target)


@dataclass(frozen=True)
class GpuVariables:
    variables: dict[str, str]
    notes: tuple[str, ...] = ()


def decide(gpus: GpuSet, code: GpuCode) -> GpuVariables:
    """The GPU variables and notes for ``gpus`` running ``code`` (module docstring)."""
    table = gpu_table()
    variables: dict[str, str] = {}
    notes: list[str] = []
    arch: dict[str, None] = {}
    overrides: dict[Gpu, str] = {}
    others: list[Gpu] = []
    for gpu in gpus.used:
        if gpu.gfx not in table.models:
            notes.append(f"{gpu.gfx} is not in mlstack's GPU table; no override decided")
            arch[gpu.gfx] = None
            others.append(gpu)
            continue
        support = code_support(gpu.gfx, code.gfx)
        if support.kind is CodeKind.OVERRIDE and support.override:
            runs_as = override_gfx(support.override)
            overrides[gpu] = support.override
            arch[runs_as] = None
            notes.append(f"{gpu.gfx} is not in {code.name}; it runs their {runs_as} code via "
                         f"{envvars.HSA_OVERRIDE_GFX_VERSION}={support.override}")
            continue
        if support.kind is CodeKind.UNSUPPORTED:
            notes.append(f"{gpu.gfx} cannot run the GPU code of {code.name} (no compatible "
                         "ISA is compiled in, and no override fits)")
        arch[gpu.gfx] = None
        others.append(gpu)
    if arch:
        variables[envvars.PYTORCH_ROCM_ARCH] = ";".join(arch)
    variables.update(_overrides(overrides, others, notes))
    if gpus.used and gpus.hidden:
        variables[envvars.HIP_VISIBLE_DEVICES] = ",".join(str(g.index) for g in gpus.used)
    return GpuVariables(dict(sorted(variables.items())), tuple(dict.fromkeys(notes)))


def _overrides(overrides: dict[Gpu, str], others: Iterable[Gpu], notes: list[str]
               ) -> dict[str, str]:
    """One global value, or one per KFD node; a note for the GPUs without a known node."""
    values = set(overrides.values())
    if not values:
        return {}
    others = list(others)
    if len(values) == 1:
        value = next(iter(values))
        # A global override is safe only when every other GPU already is the ISA it names
        # (a 7800 XT on rocm6.2 wheels beside a 7900 XTX).
        if all(g.gfx == override_gfx(value) for g in others):
            return {envvars.HSA_OVERRIDE_GFX_VERSION: value}
    out = {f"{envvars.HSA_OVERRIDE_GFX_VERSION}_{g.node}": v
           for g, v in overrides.items() if g.node is not None}
    unplaced = {g.gfx: v for g, v in overrides.items() if g.node is None}
    if unplaced:
        per_node = f"set {envvars.HSA_OVERRIDE_GFX_VERSION}_<node> per GPU on each machine"
        if len(values) > 1:
            notes.append("the GPUs need different overrides ("
                         + ", ".join(f"{g}: {v}" for g, v in unplaced.items())
                         + f"); {per_node}")
        else:
            changed = ", ".join(dict.fromkeys(g.gfx for g in others))
            notes.append(f"a global {envvars.HSA_OVERRIDE_GFX_VERSION} would also change the "
                         f"other GPUs ({changed}); {per_node}")
    return out

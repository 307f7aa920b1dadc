"""The GPU variables of an env — the one rule that ``lock`` and ``create`` both call
(ROCM-FACTS §1 and §6).

Input: the GPUs an env is for (:class:`GpuSet`: a machine's, iGPUs included, or the gfx
list of a target) and the GPU code its wheels carry (:class:`GpuCode`, from the target's
index and the locked torch version). Output: the variables and notes
(:class:`GpuVariables`):

* ``PYTORCH_ROCM_ARCH``: the ISAs the GPUs run as (an overridden GPU runs as the ISA its
  override names, so extensions must be built for that one).
* ``HSA_OVERRIDE_GFX_VERSION``: only for a GPU whose code the wheels do not carry, to the
  first of the table's values (in order of preference) whose ISA they carry; never for a
  native card, never for RDNA 4. One global value when it is the only one needed and every
  other GPU already is the ISA it names; else ``HSA_OVERRIDE_GFX_VERSION_<node>`` per
  overridden GPU, ``<node>`` being libhsakmt's compacted node id (``Gpu.node``), and only
  when the wheels' runtime reads the per-node form (ROCm 6.2 on); a note otherwise (and
  for a target's gfx list, which has no nodes).
* ``ROCR_VISIBLE_DEVICES``: the GPUs used, when some GPUs of the machine are hidden (an
  iGPU beside a discrete one): by UUID when every GPU used reports one (re-enumeration
  cannot shift it), else by ROCr index. Never a guessed UUID (a wrong one hides every
  GPU). ``HIP_VISIBLE_DEVICES`` is not set: HIP counts devices after ROCr's filter, so
  the visible GPUs are HIP devices 0..n-1 without it, and a stale index list would select
  the wrong GPU or none.
"""

from __future__ import annotations

from collections.abc import Iterable

from mlstack_env.catalog import GpuFamily, gpu_table, rocm_release, same_host_rocm, wheel_gfx
from mlstack_env.catalog.support import CodeKind, code_support, override_gfx
from mlstack_env.catalog.target import Target
from mlstack_env.core import envvars
from mlstack_env.core.errors import TargetError
from mlstack_env.core.record import record
from mlstack_env.hardware.machine import Gpu, GpuSource, Machine

# The first ROCm release whose runtime reads HSA_OVERRIDE_GFX_VERSION_<node> (mid-2024;
# rocm6.0/6.1 wheels ignore it: ROCM-FACTS §1, LIKELY).
PER_NODE_OVERRIDE_SINCE = (6, 2, 0)

__all__ = ["GpuCode", "GpuSet", "GpuVariables", "decide", "gpu_code", "gpus_for", "rocr_visible"]


@record
class GpuCode:
    """The GPU code an env runs: the gfx compiled into its wheels, and a name for notes."""

    gfx: frozenset[str]
    name: str  # "the rocm6.4 wheels (torch 2.8.0)"
    per_node: bool = True  # does its runtime read HSA_OVERRIDE_GFX_VERSION_<node>?


def gpu_code(target: Target, torch: str | None = None) -> GpuCode:
    """What the PyTorch wheels of a target's ROCm version carry: the catalog's per-index
    list, narrowed to what the locked ``torch`` version carried (``2.5.1+rocm6.1``; None
    when the entry has no torch); for an index mlstack does not know, the gfx list the
    target names."""
    if target.rocm is None:
        return GpuCode(frozenset(), "CPU wheels")
    public = torch.split("+", 1)[0] if torch else None
    name = f"the rocm{target.rocm} wheels" + (f" (torch {public})" if public else "")
    try:
        known = wheel_gfx(target.rocm, torch)
        per_node = rocm_release(target.rocm) >= PER_NODE_OVERRIDE_SINCE
    except (TargetError, ValueError):  # a version catalog does not know: the target's list
        known, per_node = None, True
    return GpuCode(known if known is not None else frozenset(target.gfx), name, per_node)


@record
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


@record
class GpuVariables:
    """The GPU variables an env sets for its GPUs, and the notes that explain them."""
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
            if support.warning:
                notes.append(f"warning: {support.warning}")
            continue
        if support.kind is CodeKind.UNSUPPORTED:
            if table.models[gpu.gfx].family is GpuFamily.RDNA4:
                notes.append(f"{gpu.gfx} is not in {code.name}, and RDNA 4 is never "
                             f"overridden (the override crashes it): use wheels that carry "
                             f"{gpu.gfx} (torch 2.7 or newer on rocm6.2.4 or later)")
            else:
                notes.append(f"{gpu.gfx} cannot run the GPU code of {code.name} (no "
                             "compatible ISA is compiled in, and no override fits)")
        arch[gpu.gfx] = None
        others.append(gpu)
    if arch:
        variables[envvars.PYTORCH_ROCM_ARCH] = ";".join(arch)
    variables.update(_overrides(overrides, others, notes, code))
    variables.update(_visible(gpus, notes))
    return GpuVariables(dict(sorted(variables.items())), tuple(dict.fromkeys(notes)))


def rocr_visible(gpus: GpuSet) -> str | None:
    """The ``ROCR_VISIBLE_DEVICES`` value selecting the GPUs used: their UUIDs when every
    one reports a UUID, else their ROCr indexes (KFD GPU nodes in order, unreadable ones
    skipped); None when the GPUs were not read from KFD (indexes unknown) or none is used."""
    if not gpus.used:
        return None
    if all(g.uuid for g in gpus.used):
        return ",".join(g.uuid for g in gpus.used if g.uuid)
    if all(g.source is GpuSource.KFD for g in gpus.used):
        return ",".join(str(g.index) for g in gpus.used)
    return None


def _visible(gpus: GpuSet, notes: list[str]) -> dict[str, str]:
    """``ROCR_VISIBLE_DEVICES`` for the GPUs used when others are hidden (module docstring)."""
    if not gpus.used or not gpus.hidden:
        return {}
    hidden = ", ".join(f"{g.name} ({g.gfx})" for g in gpus.hidden)
    value = rocr_visible(gpus)
    if value is None:
        notes.append(f"cannot hide {hidden}: the GPUs were not read from the KFD topology, "
                     f"so their ROCr indexes are unknown; set "
                     f"{envvars.ROCR_VISIBLE_DEVICES} yourself (rocminfo lists them)")
        return {}
    notes.append(f"{hidden} hidden with {envvars.ROCR_VISIBLE_DEVICES}={value}; the GPUs "
                 f"used are HIP devices 0..{len(gpus.used) - 1}")
    if any(g.integrated for g in gpus.hidden):
        notes.append("AMD advises switching the iGPU off in the firmware (BIOS/UEFI) setup: "
                     "the runtime may crash when the driver enumerates it ('mlstack doctor')")
    return {envvars.ROCR_VISIBLE_DEVICES: value}


def _overrides(overrides: dict[Gpu, str], others: Iterable[Gpu], notes: list[str],
               code: GpuCode) -> dict[str, str]:
    """One global value, or one per libhsakmt node; a note for the GPUs without a known
    node, or when the wheels' runtime does not read the per-node form."""
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
    if not code.per_node:
        gfxs = ", ".join(dict.fromkeys(g.gfx for g in overrides))
        notes.append(f"{gfxs} would need {envvars.HSA_OVERRIDE_GFX_VERSION}_<node>, which the "
                     f"runtime of {code.name} does not read (ROCm 6.2 on); no override is set: "
                     "use wheels for ROCm 6.2 or newer, or run on the other GPUs only")
        return {}
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

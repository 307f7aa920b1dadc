"""What a machine's GPUs can run: both questions of ROCM-FACTS §1, for each GPU."""

from __future__ import annotations

from dataclasses import dataclass

from mlstack_env.catalog import gpu_table, torch_index_name
from mlstack_env.catalog.support import (
    CodeKind,
    CodeSupport,
    OfficialSupport,
    official_support,
    torch_code_support,
)
from mlstack_env.hardware.machine import Gpu, Machine


@dataclass(frozen=True)
class GpuAssessment:
    gpu: Gpu
    in_target: bool  # False for an APU beside a discrete GPU
    code: CodeSupport | None  # None without ROCm or without a known wheel index
    official: OfficialSupport | None

    def to_json(self) -> dict[str, object]:
        return {
            "index": self.gpu.index,
            "gfx": self.gpu.gfx,
            "in_target": self.in_target,
            "code": self.code.kind.value if self.code else None,
            "override": self.code.override if self.code else None,
            "official": self.official.supported if self.official else None,
        }


def assess(machine: Machine) -> list[GpuAssessment]:
    compute = set(machine.compute_gpus)
    rocm = machine.rocm.version if machine.rocm else None
    proposal = machine.proposal
    # Without ROCm: the wheels of the proposed ROCm-as-wheels release (no official claim).
    wheels = rocm or (proposal.release.rocm if proposal and proposal.release else None)
    index = torch_index_name(wheels) if wheels else None
    out = []
    for gpu in machine.gpus:
        known = gpu.gfx in gpu_table().models
        code = torch_code_support(gpu.gfx, wheels) if wheels and index and known else None
        official = official_support(gpu.gfx, rocm) if rocm and known else None
        out.append(GpuAssessment(gpu, gpu in compute, code, official))
    return out


def target_summary(machine: Machine) -> str:
    """One line: the target and what it means for this machine."""
    target = machine.target
    if not machine.gpus:
        return f"{target}: no AMD GPU found; environments use CPU builds"
    if machine.rocm is None:
        return f"{target}: {_without_rocm(machine)}"
    index = torch_index_name(machine.rocm.version)
    if index is None:
        return f"{target}: no PyTorch wheel index is known for ROCm {machine.rocm.version}"
    assessed = assess(machine)
    used = [a for a in assessed if a.in_target]
    parts = _code_parts(used, index)
    unofficial = sorted({a.gpu.gfx for a in used if a.official and not a.official.supported})
    if unofficial:
        version = machine.rocm.version
        parts.append(f"not officially supported by ROCm {version}: {', '.join(unofficial)}")
    left_out = [a.gpu for a in assessed if not a.in_target]
    if left_out:
        names = ", ".join(f"{g.name} ({g.gfx}, {g.kind})" for g in left_out)
        parts.append(f"{names} left out (hidden from envs)")
    return f"{target}: " + "; ".join(parts)


def _without_rocm(machine: Machine) -> str:
    """A machine with GPUs and no ROCm install: the proposed release, or what to do."""
    proposal = machine.proposal
    if proposal is not None and proposal.release is not None:
        return proposal.reason
    why = proposal.reason if proposal is not None else "AMD GPU found but no ROCm install"
    return f"{why}; install ROCm (`mlstack system plan`) or set MLSTACK_ROCM_VERSION"


def _gfx_of(used: list[GpuAssessment], kind: CodeKind) -> list[str]:
    return sorted({a.gpu.gfx for a in used if a.code and a.code.kind is kind})


def _code_parts(used: list[GpuAssessment], index: str) -> list[str]:
    """What the ``index`` wheels' GPU code means for the GPUs in the target."""
    native = _gfx_of(used, CodeKind.NATIVE)
    # One entry per gfx: two identical cards need the override once, not twice.
    overrides = {
        a.gpu.gfx: a.code.override
        for a in used
        if a.code and a.code.kind is CodeKind.OVERRIDE
    }
    cannot = _gfx_of(used, CodeKind.UNSUPPORTED)
    unknown = sorted({a.gpu.gfx for a in used if a.code is None})
    if native and not overrides and not cannot and not unknown:
        return [f"natively supported by the {index} PyTorch wheels"]
    parts = [f"{', '.join(native)} native"] if native else []
    parts.extend(
        f"{gfx} needs an override (HSA_OVERRIDE_GFX_VERSION={value}, set by mlstack in the env)"
        for gfx, value in sorted(overrides.items())
    )
    if cannot:
        parts.append(f"{', '.join(cannot)} unsupported by the {index} wheels")
    if unknown:
        parts.append(f"{', '.join(unknown)} not in mlstack's GPU table")
    return parts

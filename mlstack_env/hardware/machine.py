"""The values detection produces. Pure data; no probing here."""

from __future__ import annotations

from enum import StrEnum

from mlstack_env.catalog import Proposal, gpu_table, propose_wheels_release
from mlstack_env.catalog.sources import target_rocm_version
from mlstack_env.catalog.target import Target
from mlstack_env.core.record import field, record

TYPE_CHECKING = False  # typing costs an import on the fast paths; mypy reads it
if TYPE_CHECKING:
    from typing import Any

# What to do about a GPU whose gfx mlstack does not know (detect notes, doctor hint).
UNKNOWN_GPU_ADVICE = (
    "if it is the GPU to use, set MLSTACK_GPU to the known gfx whose code it runs, or pass "
    "--target rocmX.Y:gfxNNNN; please report the GPU (gfx and PCI id) so mlstack's table "
    "can learn it"
)


class GpuSource(StrEnum):
    """Where a GPU was read from."""

    KFD = "kfd"  # KFD topology: the GPUs ROCm enumerates, with their nodes
    DRM = "drm"  # DRM cards by PCI id, when KFD is absent
    OVERRIDE = "override"  # MLSTACK_GPU
    TARGET = "target"  # stands for a gfx of a target, not a GPU of this machine


@record
class Gpu:
    """One GPU as mlstack sees it: gfx, name, PCI id, VRAM, and whether it is integrated."""
    index: int  # HIP index: order among GPU nodes
    gfx: str
    name: str
    device_id: str | None  # "0x744c"
    vram_bytes: int | None
    integrated: bool
    node: int | None = None  # KFD topology node, when read from KFD
    source: GpuSource = GpuSource.KFD
    # False for a gfx in neither the GPU table nor LLVM's APU list: mlstack cannot tell a
    # discrete GPU from an integrated one, so such a GPU decides no target or visibility.
    known: bool = True
    uuid: str | None = None  # "GPU-<16 hex>" from KFD unique_id; None when it reports none

    @property
    def kind(self) -> str:
        if not self.known:
            return "unknown"
        return "integrated" if self.integrated else "discrete"

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "gfx": self.gfx,
            "name": self.name,
            "device_id": self.device_id,
            "vram_bytes": self.vram_bytes,
            "integrated": self.integrated,
            "known": self.known,
            "kind": self.kind,
            "uuid": self.uuid,
            "node": self.node,
            "source": self.source,
        }


@record
class RocmInstall:
    """An installed ROCm: its version and where it lives."""
    version: str  # "6.4.0", build suffix dropped
    path: str  # as the machine sees it, e.g. "/opt/rocm"

    @property
    def minor(self) -> str:
        return ".".join(self.version.split(".")[:2])

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "path": self.path}


@record
class Distro:
    """The distribution, from os-release."""
    id: str  # "ubuntu"
    version_id: str  # "24.04"
    name: str  # PRETTY_NAME
    id_like: tuple[str, ...] = ()
    codename: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "version_id": self.version_id,
            "name": self.name,
            "id_like": list(self.id_like),
            "codename": self.codename,
        }


@record
class Machine:
    """What detection found: GPUs, ROCm, distro, kernel and Python."""
    gpus: tuple[Gpu, ...]
    rocm: RocmInstall | None
    distro: Distro | None
    kernel: str | None
    python: str
    notes: tuple[str, ...] = field(default=())

    @property
    def discrete(self) -> tuple[Gpu, ...]:
        return tuple(g for g in self.gpus if g.known and not g.integrated)

    @property
    def unknown(self) -> tuple[Gpu, ...]:
        """GPUs of a gfx mlstack does not know (neither the table nor LLVM's APU list)."""
        return tuple(g for g in self.gpus if not g.known)

    @property
    def compute_gpus(self) -> tuple[Gpu, ...]:
        """The GPUs an env should use (the target, the visible devices).

        The known discrete GPUs; else the integrated ones when they are alone. A GPU of an
        unknown gfx is never one of them: beside a known discrete GPU it is left out, and
        when there is no known discrete GPU nothing is guessed (an empty set: the target
        falls back to cpu, and detect/doctor say to set MLSTACK_GPU). Taking it, or the
        iGPU beside it, could put an iGPU into the target and the visible devices.
        """
        if self.discrete:
            return self.discrete
        if self.unknown:
            return ()
        return self.gpus

    @property
    def proposal(self) -> Proposal | None:
        """Without ROCm installed: the ROCm-as-wheels release proposed for the GPUs, and why
        (ROCM-FACTS §4b: such envs bring ROCm themselves). None when ROCm is installed or
        there is no GPU."""
        if self.rocm is not None or not self.gpus:
            return None
        gfx = [g.gfx for g in self.compute_gpus]
        if not gfx:
            return Proposal(None, "no ROCm installed, and no GPU whose gfx mlstack knows: "
                            "environments use CPU builds")
        unknown = [g for g in gfx if g not in gpu_table().models]
        if unknown:
            return Proposal(None, f"no ROCm installed, and {', '.join(unknown)} is not in "
                            "mlstack's GPU table: environments use CPU builds")
        return propose_wheels_release(gfx)

    @property
    def target(self) -> Target:
        if not self.compute_gpus:
            return Target.cpu()
        if self.rocm is None:
            proposal = self.proposal
            if proposal is None or proposal.release is None:
                return Target.cpu()
            return Target.rocm_for(proposal.release.rocm, [g.gfx for g in self.compute_gpus])
        # 6.2.4 has its own PyTorch index (with more gfx than rocm6.2): keep the micro then.
        version = target_rocm_version(self.rocm.version)
        return Target.rocm_for(version, [g.gfx for g in self.compute_gpus])

    def to_json(self) -> dict[str, Any]:
        return {
            "gpus": [g.to_json() for g in self.gpus],
            "rocm": self.rocm.to_json() if self.rocm else None,
            "distro": self.distro.to_json() if self.distro else None,
            "kernel": self.kernel,
            "python": self.python,
            "target": str(self.target),
            "notes": list(self.notes),
        }

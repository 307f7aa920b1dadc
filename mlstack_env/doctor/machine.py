"""Checks of the machine: GPUs, driver, device access, ROCm, support (the distro:
distro.py; a lock and envs against the machine: envs.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from packaging.version import Version

from mlstack_env.catalog import gpu_table, torch_index_name
from mlstack_env.catalog.support import (
    CodeKind,
    CodeSupport,
    OfficialSupport,
    official_support,
    torch_code_support,
)
from mlstack_env.core import envvars
from mlstack_env.doctor.findings import Context, Finding, fail, ok, warn
from mlstack_env.hardware.machine import UNKNOWN_GPU_ADVICE, Gpu

GROUPS_HINT = (
    "add yourself to the groups that own the GPU devices: "
    "sudo usermod -aG render,video $USER, then log out and back in"
)


def gpu_label(gpu: Gpu) -> str:
    return f"GPU {gpu.index} {gpu.name} ({gpu.gfx})"


def wheel_rocm(ctx: Context) -> str | None:
    """The ROCm release whose PyTorch wheels envs run: the lock's, else the installed one."""
    if ctx.wanted is not None and ctx.wanted.rocm:
        return ctx.wanted.rocm
    return ctx.machine.rocm.version if ctx.machine.rocm else None


def release_rocm(ctx: Context) -> str | None:
    """The ROCm release to judge official support on: the installed one, else the lock's."""
    if ctx.machine.rocm is not None:
        return ctx.machine.rocm.version
    return ctx.wanted.rocm if ctx.wanted is not None else None


def gpu_present(ctx: Context) -> Iterator[Finding]:
    gpus = ctx.machine.gpus
    if not gpus:
        yield fail(
            "gpu",
            "no AMD GPU found (no KFD topology node, no AMD card in /sys/class/drm)",
            "check that the card is seen (lspci | grep -i -e vga -e display) and that the "
            "amdgpu driver is loaded (sudo modprobe amdgpu); environments here use CPU builds",
        )
        return
    names = ", ".join(f"{g.name} ({g.gfx})" for g in gpus)
    count = "1 AMD GPU" if len(gpus) == 1 else f"{len(gpus)} AMD GPUs"
    yield ok("gpu", f"{count}: {names}")
    unknown = ctx.machine.unknown
    if unknown:
        shown = ", ".join(f"GPU {g.index} {g.gfx} ({g.device_id or 'no PCI id'})"
                          for g in unknown)
        if ctx.machine.discrete:
            yield warn(
                "gpu",
                f"{shown}: a gfx mlstack does not know; left out of envs (target and visible "
                "devices) beside the known discrete GPU",
                UNKNOWN_GPU_ADVICE,
            )
        else:
            yield fail(
                "gpu",
                f"{shown}: a gfx mlstack does not know, and no known discrete GPU is "
                f"present: no GPU target is guessed (detected target: {ctx.machine.target})",
                UNKNOWN_GPU_ADVICE,
            )
    apu_only = sorted({g.gfx for g in gpus if g.known and g.gfx not in gpu_table().models})
    if apu_only:
        yield warn(
            "gpu",
            f"{', '.join(apu_only)} is not in mlstack's GPU table (LLVM lists it as an APU, "
            "so it is treated as integrated): support cannot be judged",
            "set MLSTACK_GPU to the nearest known gfx, or add the GPU to catalog/gpus.toml",
        )
    for note in ctx.machine.notes:
        if "skipped" in note:
            yield warn("gpu", note, "a device cgroup or permissions hide this GPU node")


def driver_loaded(ctx: Context) -> Iterator[Finding]:
    loaded = ctx.under_root("/sys/module/amdgpu").is_dir()
    kfd = ctx.under_root("/sys/class/kfd/kfd/topology/nodes").is_dir()
    if not loaded:
        if ctx.machine.gpus:
            yield fail(
                "driver",
                "the amdgpu kernel driver is not loaded",
                "load it with `sudo modprobe amdgpu`; if that fails, `sudo dmesg | grep -i "
                "amdgpu` says why (a kernel too old for the GPU, or amdgpu-dkms to install)",
            )
        return
    version = _read(ctx.under_root("/sys/module/amdgpu/version"))
    what = f"amdgpu driver loaded (version {version})" if version else "amdgpu driver loaded"
    if ctx.machine.gpus and not kfd:
        yield warn(
            "driver",
            f"{what}, but there is no KFD (/sys/class/kfd): ROCm cannot run compute",
            "the kernel was built without HSA_AMD (CONFIG_HSA_AMD) or KFD failed to start; "
            "see `sudo dmesg | grep -i kfd`",
        )
        return
    yield ok("driver", what)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace").strip() or None
    except OSError:
        return None


def device_access(ctx: Context) -> Iterator[Finding]:
    if not ctx.machine.gpus:
        return
    kfd = ctx.under_root("/dev/kfd")
    if not kfd.exists():
        yield fail(
            "device-access",
            "/dev/kfd does not exist",
            "the amdgpu driver creates it; in a container pass --device=/dev/kfd "
            "--device=/dev/dri",
        )
        return
    dri = ctx.under_root("/dev/dri")
    renders = sorted(dri.glob("renderD*")) if dri.is_dir() else []
    nodes = [("/dev/kfd", kfd)] + [(f"/dev/dri/{p.name}", p) for p in renders]
    shown = ", ".join(name for name, _ in nodes)
    no_dri = "" if renders else " (no /dev/dri render nodes to check)"
    if ctx.access.is_root():
        yield ok("device-access", f"running as root: {shown} usable{no_dri}")
        return
    denied = [name for name, path in nodes if not ctx.access.can_use(path)]
    if not denied:
        yield ok("device-access", f"{shown} usable by this user{no_dri}")
        return
    needed = {"render", "video"}
    if needed <= ctx.access.listed_groups() and not needed <= ctx.access.groups():
        yield fail(
            "device-access",
            f"cannot open {', '.join(denied)}: you are in groups render and video, but "
            "this session started before that",
            "log out and back in (or start a shell with `newgrp render`)",
        )
        return
    lacking = sorted(needed - ctx.access.groups())
    where = f" (not in group {', '.join(lacking)})" if lacking else ""
    yield fail("device-access", f"cannot open {', '.join(denied)}{where}", GROUPS_HINT)


def rocm_installed(ctx: Context) -> Iterator[Finding]:
    rocm = ctx.machine.rocm
    in_env = ctx.wanted.rocm_in_env if ctx.wanted is not None else None
    if in_env is not None:  # the entry brings ROCm itself (ROCM-FACTS §4b)
        if rocm is None:
            yield ok("rocm", f"ROCm is not installed, nor needed: the entry holds "
                     f"ROCm {in_env} as wheels")
        else:
            yield ok("rocm", f"ROCm {rocm.version} at {rocm.path}; the entry ignores "
                     f"it and uses its own ROCm {in_env} (wheels)")
        return
    if rocm is None:
        if not ctx.machine.gpus:
            yield ok("rocm", "ROCm is not installed (nor needed without an AMD GPU)")
            return
        yield warn(
            "rocm",
            "ROCm is not installed (no /opt/rocm/.info/version)",
            "PyTorch ROCm wheels bring their own ROCm libraries, so envs work without it; "
            "for the driver-side tools (rocminfo, amd-smi) see `mlstack system plan`",
        )
        return
    where = f"ROCm {rocm.version} at {rocm.path}"
    wanted = ctx.wanted.rocm if ctx.wanted is not None else None
    if wanted and Version(wanted).release[:2] != Version(rocm.version).release[:2]:
        yield warn(
            "rocm",
            f"{where}, but the lock targets ROCm {wanted}",
            f"install ROCm {wanted} (`mlstack system plan`), or lock for this machine with "
            f"`mlstack lock --target {ctx.machine.target}`",
        )
        return
    newest = max(gpu_table().official_gfx, key=Version)
    if Version(rocm.version).release[:2] > Version(newest).release[:2]:
        yield ok("rocm", f"{where} (newer than mlstack's tables, which end at {newest})")
        return
    yield ok("rocm", where)


def _indexes_carrying(gfx: str) -> list[str]:
    return [name for name, carried in gpu_table().wheel_gfx.items() if gfx in carried]


def gpu_support(ctx: Context) -> Iterator[Finding]:
    """Both questions of ROCM-FACTS §1 for each GPU: can the env's code run, is it official."""
    compute = set(ctx.machine.compute_gpus)
    wheels = wheel_rocm(ctx)
    index = torch_index_name(wheels) if wheels else None
    release = release_rocm(ctx)
    for gpu in ctx.machine.gpus:
        if gpu.gfx not in gpu_table().models:
            continue  # named by the gpu check
        label = gpu_label(gpu)
        official = official_support(gpu.gfx, release) if release else None
        off_text = _official_text(gpu, release, official)
        code = torch_code_support(gpu.gfx, wheels) if wheels and index else None
        if gpu not in compute:
            yield ok("gpu-support", _joined(f"{label}: {_integrated_text(gpu)}", off_text))
        elif code is None:
            yield ok("gpu-support", _joined(f"{label}: {_unjudged_text(gpu, wheels)}",
                                            off_text))
        elif code.kind is CodeKind.UNSUPPORTED:
            carried = ", ".join(_indexes_carrying(gpu.gfx)) or "none"
            yield fail(
                "gpu-support",
                f"{label}: the {index} PyTorch wheels carry no code it can run",
                f"use a ROCm release whose wheels carry {gpu.gfx} ({carried})",
            )
        else:
            message = _joined(f"{label}: {_runs_text(gpu, index, code)}", off_text)
            yield _runs_finding(message, official, code)


def _joined(message: str, off_text: str) -> str:
    """``message``, then what AMD's support list says when it says something."""
    return message + (f"; {off_text}" if off_text else "")


def _integrated_text(gpu: Gpu) -> str:
    """An iGPU beside a discrete one: out of envs, and what it would need."""
    model = gpu_table().model(gpu.gfx)
    would = (f"would need HSA_OVERRIDE_GFX_VERSION={model.override}"
             if model.override else "no override applies")
    return f"integrated, left out of envs beside the discrete GPU; {would}"


def _unjudged_text(gpu: Gpu, wheels: str | None) -> str:
    """No PyTorch wheels to judge ``gpu`` against: why, and which wheels carry it."""
    carried = ", ".join(_indexes_carrying(gpu.gfx)) or "none"
    why = (f"no PyTorch index is known for ROCm {wheels}" if wheels
           else "no ROCm release to judge against (none installed, no --lock)")
    return f"{why}; wheels that carry it: {carried}"


def _runs_text(gpu: Gpu, index: str | None, code: CodeSupport) -> str:
    """How the ``index`` wheels' code runs on ``gpu``: natively or through an override."""
    if code.kind is CodeKind.OVERRIDE:
        return (f"the {index} wheels lack {gpu.gfx}; it runs their "
                f"{_as_gfx(code.override)} code with HSA_OVERRIDE_GFX_VERSION="
                f"{code.override} (mlstack envs set it)")
    return f"runs natively with the {index} PyTorch wheels"


def _official_text(gpu: Gpu, release: str | None, official: OfficialSupport | None) -> str:
    """What AMD's support list says of ``gpu`` on ``release`` ("" when nothing)."""
    if official is None:
        return ""
    if official.supported:
        return f"officially supported on ROCm {release}"
    if official.releases:
        return (f"ROCm {release} does not officially support the {gpu.name} "
                f"(from {official.releases[0]} on)")
    return f"not officially supported on ROCm {release} nor any listed release"


def _runs_finding(message: str, official: OfficialSupport | None,
                  code: CodeSupport) -> Finding:
    """A GPU the env's code runs on: a warning without official support or with an
    override (outside mlstack envs it needs setting), else ok."""
    if official is not None and not official.supported:
        since = official.releases[0] if official.releases else None
        hint = (f"it works; for AMD's official support use ROCm {since} or newer"
                if since else "it works, without AMD's official support")
        return warn("gpu-support", message, hint)
    if code.kind is CodeKind.OVERRIDE:
        return warn("gpu-support", message,
                    f"outside mlstack envs export HSA_OVERRIDE_GFX_VERSION={code.override}")
    return ok("gpu-support", message)


def _as_gfx(override: str | None) -> str:
    from mlstack_env.catalog.support import override_gfx

    return override_gfx(override) if override else "?"


def integrated_gpu(ctx: Context) -> Iterator[Finding]:
    gpus = ctx.machine.gpus
    igpus = [g for g in gpus if g.integrated]
    dgpus = list(ctx.machine.discrete)  # a GPU of unknown gfx is neither (gpu check)
    if not igpus or not dgpus:
        if igpus and not ctx.machine.unknown:
            yield ok("igpu", "the integrated GPU is the only GPU: envs use it")
        elif dgpus:
            yield ok("igpu", "no integrated GPU beside the discrete ones")
        return
    from mlstack_env.gpu.gpuvars import GpuSet, rocr_visible

    visible = rocr_visible(GpuSet.of_machine(ctx.machine)) or "<the discrete GPUs' ROCr indexes>"
    names = ", ".join(f"{g.name} (GPU {g.index}, {g.gfx})" for g in igpus)
    # AMD's install prerequisites: the runtime may crash the system when the driver
    # enumerates the iGPU, even when HIP_VISIBLE_DEVICES omits it (ROCM-FACTS §1).
    firmware = ("switch the iGPU off in the firmware (BIOS/UEFI: integrated graphics "
                "disabled), as AMD advises: the runtime may crash while the driver "
                "enumerates it, even when it is hidden")
    if _hidden_by_user(ctx.environ.get(envvars.ROCR_VISIBLE_DEVICES), igpus):
        yield ok("igpu", f"integrated {names} is hidden by your "
                         f"{envvars.ROCR_VISIBLE_DEVICES}; if ROCm programs crash, "
                         f"{firmware}")
        return
    yield warn(
        "igpu",
        f"integrated {names} sits beside a discrete GPU: mlstack envs hide it with "
        f"{envvars.ROCR_VISIBLE_DEVICES}={visible}, but AMD advises switching it off in "
        "firmware",
        f"{firmware}; outside mlstack envs, export {envvars.ROCR_VISIBLE_DEVICES}={visible} "
        f"({envvars.HIP_VISIBLE_DEVICES} alone does not keep the runtime off the iGPU)",
    )


def _hidden_by_user(rocr: str | None, igpus: list[Gpu]) -> bool:
    """Does the user's own ``ROCR_VISIBLE_DEVICES`` (``rocr``) leave out every iGPU (by
    index or UUID)?"""
    if rocr is None:
        return False
    shown = {p.strip() for p in rocr.split(",") if p.strip()}
    ids = {str(g.index) for g in igpus} | {g.uuid for g in igpus if g.uuid}
    return not shown & ids

"""Checks of the machine: GPUs, driver, device access, ROCm, support (the distro: distro.py)."""

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


def env_rocm(ctx: Context) -> Iterator[Finding]:
    """With ``--env``: which ROCm the env runs on."""
    wanted = ctx.wanted
    if wanted is None or wanted.env_name is None or not wanted.entry.target.is_rocm:
        return
    name = wanted.env_name
    if wanted.rocm_in_env is not None:
        from mlstack_env.rocmwheels.rocmsdk import root_in
        from mlstack_env.store.entries import Store, store_key

        root = root_in(Store().entry(store_key(wanted.entry)).path, wanted.entry)
        yield ok("env-rocm", f"env {name} uses its own ROCm {wanted.rocm_in_env} (rocm-sdk-* "
                 f"wheels) at {root}; ROCM_PATH, ROCM_HOME and HIP_PATH point there and a "
                 "system ROCm is ignored")
        return
    host = ctx.machine.rocm
    tools = f"ROCm {host.version} at {host.path}" if host else "no ROCm (none installed)"
    yield ok("env-rocm", f"env {name}: torch bundles ROCm {wanted.entry.target.rocm}'s "
             f"libraries; hipcc, rocminfo and amd-smi come from the host: {tools}")


def lock_fits(ctx: Context) -> Iterator[Finding]:
    if ctx.wanted is None:
        return
    if ctx.wanted.misfit is not None:
        yield fail("lock", ctx.wanted.misfit.message, ctx.wanted.misfit.hint)
        return
    yield ok("lock", f"{ctx.wanted.source} fits this machine")


def glibc(ctx: Context) -> Iterator[Finding]:
    """With a lock or env: does this host's glibc run the entry's wheels (its manylinux
    tag)? The same check as ``env create`` (hardware/glibc.py)."""
    from mlstack_env.core.errors import MlstackError
    from mlstack_env.hardware.glibc import check_glibc, host_glibc, needed_glibc

    if ctx.wanted is None:
        return
    entry = ctx.wanted.entry
    needed = needed_glibc(entry.platform)
    try:
        found = host_glibc()
        check_glibc(entry.platform, f"entry {entry.key}")
    except MlstackError as e:
        yield fail("glibc", e.message, e.hint)
        return
    if needed is None or found is None:
        return
    yield ok("glibc", f"glibc {found[0]}.{found[1]} runs the wheels of {entry.key} "
             f"({entry.platform})")


def env_drift(ctx: Context) -> Iterator[Finding]:
    """With --env: has the machine changed since the env's variables were decided?"""
    from mlstack_env.store.fingerprint import MachineFacts

    wanted = ctx.wanted
    if wanted is None or wanted.env_name is None:
        return
    fp = wanted.fingerprint
    name = wanted.env_name
    if fp is None:
        yield warn("env-drift", f"env {name} has no fingerprint: its origin is unknown",
                   f"re-create it: mlstack env create {wanted.entry.profile} --name {name}")
        return
    now = MachineFacts.of(ctx.machine)
    changes = []
    if fp.machine.gfx != now.gfx:
        changes.append(f"GPUs {','.join(fp.machine.gfx) or 'none'} -> "
                       f"{','.join(now.gfx) or 'none'}")
    if fp.machine.rocm != now.rocm:
        changes.append(f"ROCm {fp.machine.rocm or 'none'} -> {now.rocm or 'none'}")
    if changes:
        yield warn(
            "env-drift",
            f"env {name} was made on this machine as it was: {'; '.join(changes)}; its "
            "GPU variables (visible devices, overrides) may no longer fit",
            f"re-create it: {fp.recreate_command()}",
        )
        return
    yield ok("env-drift", f"env {name} (generation {fp.generation}, made {fp.created} by "
             f"mlstack {fp.mlstack_version}) matches this machine's GPUs and ROCm")


def envs_behind_lock(ctx: Context) -> Iterator[Finding]:
    """Every env made from a lock file: is it behind it (the lock's entry for it changed
    since, e.g. a profile edit and `mlstack lock`)? `mlstack run` syncs such an env first."""
    from mlstack_env.store.generations import all_envs
    from mlstack_env.store.lookup import lock_stamp_changed

    for env in all_envs():
        gen = env.current()
        lock = lock_stamp_changed(str(gen.path)) if gen is not None else None
        if gen is None or lock is None:
            continue
        from mlstack_env.actions.create import behind_lock

        behind = behind_lock(env.name, str(gen.path), lock)
        if behind is not None:
            yield warn("env-lock", behind.message(),
                       f"`mlstack run {env.name} -- CMD` syncs it first, or by hand: "
                       f"`{behind.recreate}`")


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
            model = gpu_table().model(gpu.gfx)
            would = (f"would need HSA_OVERRIDE_GFX_VERSION={model.override}"
                     if model.override else "no override applies")
            yield ok("gpu-support", f"{label}: integrated, left out of envs beside the "
                     f"discrete GPU; {would}" + (f"; {off_text}" if off_text else ""))
            continue
        if code is None:
            carried = ", ".join(_indexes_carrying(gpu.gfx)) or "none"
            why = (f"no PyTorch index is known for ROCm {wheels}" if wheels
                   else "no ROCm release to judge against (none installed, no --lock)")
            yield ok("gpu-support", f"{label}: {why}; wheels that carry it: {carried}"
                     + (f"; {off_text}" if off_text else ""))
            continue
        if code.kind is CodeKind.UNSUPPORTED:
            carried = ", ".join(_indexes_carrying(gpu.gfx)) or "none"
            yield fail(
                "gpu-support",
                f"{label}: the {index} PyTorch wheels carry no code it can run",
                f"use a ROCm release whose wheels carry {gpu.gfx} ({carried})",
            )
            continue
        if code.kind is CodeKind.OVERRIDE:
            runs = (f"the {index} wheels lack {gpu.gfx}; it runs their "
                    f"{_as_gfx(code.override)} code with HSA_OVERRIDE_GFX_VERSION="
                    f"{code.override} (mlstack envs set it)")
        else:
            runs = f"runs natively with the {index} PyTorch wheels"
        message = f"{label}: {runs}" + (f"; {off_text}" if off_text else "")
        yield _runs_finding(message, official, code)


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
    rocr = ctx.environ.get(envvars.ROCR_VISIBLE_DEVICES)
    if rocr is not None:
        shown = {p.strip() for p in rocr.split(",") if p.strip()}
        ids = {str(g.index) for g in igpus} | {g.uuid for g in igpus if g.uuid}
        if not shown & ids:
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

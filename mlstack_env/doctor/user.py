"""Checks of the user's own setup: variables, shell startup files, disk, uv."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path

from packaging.version import Version

from mlstack_env.catalog import gpu_table
from mlstack_env.catalog.sources import target_rocm_version
from mlstack_env.catalog.support import override_gfx
from mlstack_env.catalog.target import Backend, Target
from mlstack_env.core import envvars
from mlstack_env.doctor.findings import Context, Finding, fail, ok, warn
from mlstack_env.doctor.machine import wheel_rocm
from mlstack_env.gpu.gpuvars import GpuCode, GpuSet, decide, gpu_code
from mlstack_env.hardware import rocm as rocm_files
from mlstack_env.hardware.machine import Gpu
from mlstack_env.rocmwheels.rocmroot import version_at

_OVERRIDE_RE = re.compile(r"^\d+\.\d+\.\d+$")
UNSET_HINT = "unset {name} and remove it from your shell startup files"


def _env_code(ctx: Context) -> GpuCode | None:
    """The GPU code of the wheels this machine's envs run (the lock's ROCm, else the
    installed one); None when neither is known."""
    rocm = wheel_rocm(ctx)
    if rocm is None:
        return None
    gfx = tuple(dict.fromkeys(g.gfx for g in ctx.machine.compute_gpus))
    return gpu_code(Target(Backend.ROCM, target_rocm_version(rocm), gfx))


def _runs_as(gpu: Gpu, code: GpuCode) -> str:
    """The ISA ``gpu`` runs as in an env of ``code``: what the one rule (gpuvars) builds
    extensions for, for an env of this GPU alone."""
    decided = decide(GpuSet((gpu,), (gpu,), True), code).variables
    return decided.get(envvars.PYTORCH_ROCM_ARCH, gpu.gfx)


def hsa_override(ctx: Context) -> Iterator[Finding]:
    """A global ``HSA_OVERRIDE_GFX_VERSION`` in the user's shell, judged against what an
    mlstack env would set on this machine (gpuvars decides; doctor only compares)."""
    name = envvars.HSA_OVERRIDE_GFX_VERSION
    value = ctx.environ.get(name)
    if value is None:
        yield ok("hsa-override", f"{name} is not set (mlstack envs set it where a GPU needs it)")
        return
    value = value.strip()
    if not _OVERRIDE_RE.match(value):
        yield fail("hsa-override", f"{name}={value!r} is not a major.minor.step version",
                   UNSET_HINT.format(name=name))
        return
    gpus = [g for g in ctx.machine.compute_gpus if g.gfx in gpu_table().models]
    if not gpus:
        yield warn("hsa-override", f"{name}={value} is set, but there is no known GPU to use it",
                   UNSET_HINT.format(name=name))
        return
    code = _env_code(ctx)
    if code is None:
        yield warn("hsa-override", f"{name}={value} is set; with no ROCm installed or locked "
                   "there are no wheels to judge it against",
                   UNSET_HINT.format(name=name) + ": mlstack envs set the right value")
        return
    decided = decide(GpuSet.of_machine(ctx.machine), code).variables
    problems = _override_problems(value, decided, gpus, code)
    if problems:
        yield fail("hsa-override", f"{name}={value} is wrong: " + "; ".join(problems),
                   UNSET_HINT.format(name=name) + ": mlstack envs set the right value")
        return
    yield ok("hsa-override", f"{name}={value} is right for this machine's GPUs")


def _override_problems(value: str, decided: Mapping[str, str], gpus: list[Gpu],
                       code: GpuCode) -> list[str]:
    """What is wrong with a global override ``value`` where an env sets ``decided``."""
    name = envvars.HSA_OVERRIDE_GFX_VERSION
    expected = decided.get(name)
    per_node = {k: v for k, v in decided.items() if k.startswith(f"{name}_")}
    pretends = override_gfx(value)
    problems = []
    if per_node:
        problems.append("the GPUs need a value each (" + ", ".join(
            f"{k}={v}" for k, v in per_node.items()) + "); a global one changes every GPU")
    elif expected is not None and value != expected:
        needing = [g for g in gpus if g.gfx != override_gfx(expected)]
        other = " (another family)" if any(pretends[:-1] != g.gfx[:-1] for g in needing) else ""
        names = ", ".join(f"{g.name} ({g.gfx})" for g in needing)
        problems.append(f"{names} need{'s' if len(needing) == 1 else ''} {expected} (for "
                        f"{code.name}), not {value}: {pretends}{other}")
    elif expected is None:
        problems.extend(f"set on {g.name} ({g.gfx}), which needs none (it runs natively with "
                        f"{code.name}); it makes it pretend to be {pretends}"
                        for g in gpus if g.gfx != pretends)  # its own ISA: harmless
    return problems


def hsa_tools_lib(ctx: Context) -> Iterator[Finding]:
    name = envvars.HSA_TOOLS_LIB
    value = ctx.environ.get(name)
    if value is None:
        yield ok("hsa-tools-lib", f"{name} is not set")
    elif value.strip() in ("1", "0", ""):
        # An older installer wrote HSA_TOOLS_LIB=1: the runtime then tries to load a
        # tools library named "1" and fails at start-up.
        yield fail("hsa-tools-lib",
                   f"{name}={value!r} is a known bad value: it must name a tools library",
                   UNSET_HINT.format(name=name))
    else:
        yield ok("hsa-tools-lib", f"{name}={value} (a profiler or debugger library)")


def pytorch_rocm_arch(ctx: Context) -> Iterator[Finding]:
    name = envvars.PYTORCH_ROCM_ARCH
    value = ctx.environ.get(name)
    if value is None:
        yield ok("pytorch-rocm-arch", f"{name} is not set (extensions build for the "
                 "machine's GPUs)")
        return
    archs = {a.strip().split(":")[0] for a in re.split(r"[;,\s]+", value) if a.strip()}
    gpus = ctx.machine.compute_gpus
    code = _env_code(ctx)
    lacking = []
    want: dict[str, None] = {}  # what an mlstack env would set: the ISAs the GPUs run as
    for gpu in gpus:
        runs_as = _runs_as(gpu, code) if code is not None else gpu.gfx
        want[runs_as] = None
        if gpu.gfx not in archs and runs_as not in archs:
            lacking.append(gpu.gfx)
    unknown = sorted(a for a in archs if a not in gpu_table().models)
    if lacking:
        want_text = ";".join(want)
        yield warn("pytorch-rocm-arch",
                   f"{name}={value} leaves out this machine's {', '.join(sorted(set(lacking)))}",
                   f"export {name}='{want_text}', or unset it")
    elif unknown:
        yield warn("pytorch-rocm-arch", f"{name}={value} names unknown targets: "
                   f"{', '.join(unknown)}", "write gfx names separated by ';'")
    else:
        yield ok("pytorch-rocm-arch", f"{name}={value} covers this machine's GPUs")


def rocm_path(ctx: Context) -> Iterator[Finding]:
    default = rocm_files.read_install(ctx.root, "/opt/rocm")
    wanted = ctx.wanted.rocm if ctx.wanted is not None else None
    seen = False
    for name in (envvars.ROCM_PATH, envvars.ROCM_HOME):
        value = ctx.environ.get(name)
        if not value:
            continue
        seen = True
        in_env = version_at(Path(value))
        if in_env is not None:  # an active env that holds ROCm as wheels (FACTS §4b)
            yield ok("rocm-path", f"{name}={value} (ROCm {in_env} from an env's "
                     "rocm-sdk-core wheels)")
            continue
        version = rocm_files.read_install(ctx.root, value)
        if version is None:
            yield fail("rocm-path", f"{name}={value} holds no ROCm install "
                       "(no .info/version)", f"point {name} at a ROCm install, or unset it")
        elif default is not None and version != default:
            yield warn("rocm-path", f"{name}={value} is ROCm {version}, but /opt/rocm is "
                       f"ROCm {default}", f"unset {name} to use /opt/rocm, or keep it on purpose")
        elif wanted and _minor(version) != _minor(wanted):
            yield warn("rocm-path", f"{name}={value} is ROCm {version}, but the lock targets "
                       f"ROCm {wanted}", f"point {name} at a ROCm {wanted} install")
        else:
            yield ok("rocm-path", f"{name}={value} (ROCm {version})")
    if not seen:
        yield ok("rocm-path", "ROCM_PATH and ROCM_HOME are not set (tools use /opt/rocm)")


def _minor(version: str) -> tuple[int, ...]:
    return Version(version).release[:2]


OLD_ENV_FILES = (".mlstack_env", ".rocmrc")
STARTUP_FILES = (".bashrc", ".zshrc", ".profile", ".bash_profile", ".config/fish/config.fish")


def _source_re(file: str) -> re.Pattern[str]:
    home = r"(?:~|\$HOME|\$\{HOME\}|/[^\s;&|\"']*)"
    return re.compile(
        r"(?:^|[;&|({]\s*|\bthen\s+)(?:source|\.)\s+[\"']?" + home + r"/" + re.escape(file)
        + r"[\"']?(?=\s|;|&|\||\)|$)"
    )


def sourcing_lines(home: Path) -> list[tuple[str, int, str]]:
    """(startup file, line number, old file) for each line that sources an old env file."""
    found = []
    patterns = [(f, _source_re(f)) for f in OLD_ENV_FILES]
    for rel in STARTUP_FILES:
        try:
            text = (home / rel).read_text(errors="replace")
        except OSError:
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            code = line.strip()
            if code.startswith("#"):
                continue
            for old, pattern in patterns:
                if pattern.search(code):
                    found.append((f"~/{rel}", number, old))
    return found


def old_env_files(ctx: Context) -> Iterator[Finding]:
    lines = sourcing_lines(ctx.home)
    present = [f for f in OLD_ENV_FILES if (ctx.home / f).exists()]
    if lines:
        where = ", ".join(f"{rc} line {n} sources ~/{old}" for rc, n, old in lines)
        yield warn(
            "old-env-files",
            f"{where}: variables from an older installer fight the ones mlstack envs set",
            "delete those lines" + (f" and {', '.join('~/' + f for f in present)}"
                                    if present else "") + ", then open a new shell",
        )
        return
    if present:
        names = ", ".join(f"~/{f}" for f in present)
        yield ok("old-env-files", f"{names} from an older installer exists but no shell "
                 "startup file sources it", f"you may delete {names}")
        return
    yield ok("old-env-files", "no old ~/.mlstack_env or ~/.rocmrc in use")


GiB = 1 << 30
# A ROCm PyTorch env is several GiB of wheels, hardlinked from the uv cache beside it.
DISK_FAIL = 5 * GiB
DISK_WARN = 20 * GiB


def store_disk(ctx: Context) -> Iterator[Finding]:
    free = ctx.disk_free(ctx.store)
    text = f"{free / GiB:.1f} GiB free for the store at {ctx.store}"
    hint = (f"free space there, or move the store with {envvars.MLSTACK_HOME}; "
            "`mlstack gc` removes unused envs")
    if free < DISK_FAIL:
        yield fail("disk", f"only {text}: a ROCm PyTorch env needs several GiB", hint)
    elif free < DISK_WARN:
        yield warn("disk", f"{text}: room for few ROCm envs", hint)
    else:
        yield ok("disk", text)


def uv_binary(ctx: Context) -> Iterator[Finding]:
    from mlstack_env.uv import PINNED_VERSION

    info = ctx.uv()
    override = ctx.environ.get(envvars.MLSTACK_UV)
    if info.error or info.version is None:
        hint = (f"point {envvars.MLSTACK_UV} at a working uv, or unset it" if override
                else "reinstall mlstack (its uv dependency is missing or broken)")
        yield fail("uv", info.error or f"cannot tell the version of {info.path}", hint)
        return
    if info.version != PINNED_VERSION:
        how = f" (from {envvars.MLSTACK_UV})" if override else ""
        yield warn("uv", f"uv {info.version} at {info.path}{how}, but mlstack is tested with "
                   f"uv {PINNED_VERSION}",
                   f"unset {envvars.MLSTACK_UV} to use the pinned uv" if override
                   else f"reinstall mlstack to get uv=={PINNED_VERSION}")
        return
    yield ok("uv", f"uv {info.version} at {info.path}")

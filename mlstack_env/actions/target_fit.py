"""The target an env is created for when none is given: the machine's, unless a component
of the profile (vLLM) has no build there — then the nearest target this machine's driver
runs that has one, or one error whose hint is the one command that works.

Why another target can be right: up to rocm7.2, PyTorch's ROCm wheels (and vLLM's, which
bring their own torch) bundle ROCm's user space; the host gives only the amdgpu kernel
driver. Which releases run is the driver's matter (``catalog/drivers.toml``, from AMD's
user and kernel-space support matrix), not only the ROCm packages installed.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from mlstack_env.catalog import DATA_DIR, torch_index_name
from mlstack_env.catalog.target import Target
from mlstack_env.core import tomlmemo
from mlstack_env.core.errors import TargetError

if TYPE_CHECKING:
    from mlstack_env.catalog.components import Component
    from mlstack_env.hardware.machine import Machine
    from mlstack_env.manifest.profiles import Profile
    from mlstack_env.manifest.project import Project


@dataclass(frozen=True)
class TargetChoice:
    """The target to create for, and why when it is not the detected one ("" if it is)."""
    target: Target
    why: str = ""


@cache
def driver_runs() -> dict[str, tuple[str, ...]]:
    """Host ROCm release (X.Y) -> the releases whose user space its driver runs."""
    raw = tomlmemo.load(DATA_DIR / "drivers.toml")
    return {k: tuple(v) for k, v in raw["runs"].items()}


def runnable_releases(host_minor: str) -> tuple[str, ...]:
    """The ROCm releases (X.Y) the driver of a host with ROCm ``host_minor`` runs: the
    host's own first, then the others nearest first (newer before older at equal distance)."""
    order = sorted({*driver_runs().get(host_minor, ()), host_minor}, key=Version)
    here = order.index(host_minor)
    return tuple(sorted(order, key=lambda v: (abs(order.index(v) - here),
                                              order.index(v) < here)))


def needed_components(profile: Profile) -> list[Component]:
    """The profile's components that come only from a source of their own (vLLM)."""
    from mlstack_env.catalog.components import components

    names = {canonicalize_name(Requirement(r).name) for r in profile.packages}
    return [c for c in components() if c.source and not c.required
            and names & {canonicalize_name(Requirement(p).name) for p in c.packages}]


def _missing(comps: list[Component], target: Target) -> list[str]:
    """Why the components cannot be had on ``target`` (Python aside), one line each."""
    out = []
    for c in comps:
        problems = c.problems(target, None)
        if problems:
            out.append(f"{c.title} has {'; '.join(problems)}")
    return out


def _runs_gpus(target: Target) -> bool:
    """Do the torch wheels of ``target``'s ROCm run every GPU of it (natively or through
    an override)?"""
    from mlstack_env.catalog.support import CodeKind, torch_code_support

    if target.rocm is None or torch_index_name(target.rocm) is None:
        return False
    return all(torch_code_support(g, target.rocm).kind is not CodeKind.UNSUPPORTED
               for g in target.gfx)


def choose_target(profile: Profile, machine: Machine) -> TargetChoice:
    """The target ``env create`` uses for ``profile`` without ``--target`` (module doc).

    The detected target when every source-only component of the profile has a build
    there; else the nearest ROCm release the host's driver runs where they all have one
    and whose wheels run the GPUs; else an error naming what is missing, with a hint."""
    return choose_for(needed_components(profile), profile.name, machine)


def choose_for(comps: list[Component], name: str, machine: Machine) -> TargetChoice:
    """:func:`choose_target` for the source-only components ``comps`` of profile ``name``
    (``mlstack init`` asks it for the components picked)."""
    detected = machine.target
    missing = _missing(comps, detected)
    titles = " and ".join(c.title for c in comps)
    if comps and detected.is_rocm and machine.rocm is None:
        # No ROCm installed: detect proposes ROCm as wheels, whose vLLM builds are
        # nightlies (wheels.vllm.ai/rocm/rocm100). The kernel's amdgpu driver runs the
        # bundling rocm7.x wheels; take the oldest of those with a build, as released.
        newest = max(driver_runs(), key=Version)
        for release in sorted(driver_runs()[newest], key=Version):
            candidate = Target.rocm_for(release, detected.gfx)
            if _runs_gpus(candidate) and not _missing(comps, candidate):
                return TargetChoice(candidate, (
                    f"no ROCm installed, and {titles}'s builds for {detected} are nightlies; "
                    f"PyTorch's ROCm wheels up to rocm7.2 bring their own ROCm libraries and "
                    f"need only the amdgpu driver: {candidate} is the oldest with {titles}"))
    if not missing:
        return TargetChoice(detected)
    if not detected.is_rocm:
        example = next((Target.rocm_for(r, [c.gfx[0]]) for c in comps for r in
                        _releases_of(c) if c.gfx), None)
        lock_cmd = (f"; to lock it for a GPU machine from here: `mlstack lock {name} "
                    f"--target {example} -o {name}.lock`") if example else ""
        raise TargetError(
            f"profile {name!r} needs {titles}, which runs only on an AMD GPU; "
            f"this machine's target is {detected} ({'; '.join(missing)})",
            f"use `mlstack env create minimal` here{lock_cmd}",
        )
    if machine.rocm is not None:
        host = machine.rocm.minor
        span = _span(driver_runs().get(host, (host,)))
        for release in runnable_releases(host):
            candidate = Target.rocm_for(release, detected.gfx)
            if candidate == detected or not _runs_gpus(candidate):
                continue
            if not _missing(comps, candidate):
                return TargetChoice(candidate, (
                    f"{titles} has no build for {detected}; PyTorch's ROCm wheels up to "
                    f"rocm7.2 bring their own ROCm libraries, and the amdgpu driver of "
                    f"ROCm {host} runs the user space of ROCm {span}: "
                    f"{candidate} is the nearest of those with {titles}"))
        raise TargetError(
            f"profile {name!r} needs {titles}, which has no build for {detected} "
            f"nor for any ROCm release the amdgpu driver of ROCm {host} runs "
            f"({'; '.join(missing)})",
            "upgrade the host's ROCm and amdgpu driver (see `mlstack system plan`), or leave "
            f"{titles} out of the profile",
        )
    raise TargetError(
        f"profile {name!r} needs {titles}, which has no build for {detected} "
        f"({'; '.join(missing)})",
        f"name a target it has a build for: `mlstack env create {name} --target "
        f"{_example(comps, detected)}`",
    )


def _releases_of(c: Component) -> list[str]:
    from mlstack_env.catalog.sources import catalog

    src = catalog().sources.get(c.source or "")
    return sorted(src.variants, key=Version) if src is not None else []


def _example(comps: list[Component], detected: Target) -> Target:
    releases = [r for c in comps for r in _releases_of(c)]
    return Target.rocm_for(releases[0] if releases else "7.0", detected.gfx)


def _span(releases: tuple[str, ...]) -> str:
    ordered = sorted(releases, key=Version)
    return ordered[0] if len(ordered) == 1 else f"{ordered[0]} to {ordered[-1]}"


def python_hint(profile: Profile, target: Target, python: str, why: str) -> TargetError:
    """The error for a fixed Python (``--python``, the project's) that the profile or a
    source-only component of it has no build for: its hint is the one command that works."""
    comps = needed_components(profile)
    wanted = next((c.python[0] for c in comps if c.python), None) or _profile_python(profile)
    needer = " and ".join(c.title for c in comps if c.python) or f"profile {profile.name!r}"
    return TargetError(
        f"{needer} has no build for Python {python} ({python} is {why})",
        f"run `mlstack env create {profile.name} --python {wanted} --target {target}`",
    )


def _profile_python(profile: Profile) -> str:
    from packaging.specifiers import SpecifierSet

    spec = SpecifierSet(profile.python or "")
    for minor in range(14, 9, -1):
        if spec.contains(f"3.{minor}.0"):
            return f"3.{minor}"
    return "3.12"



def for_profile(name: str, machine: Machine, project: Project | None,
                python: str | None) -> TargetChoice:
    """:func:`choose_target` for profile ``name`` (the project's or a built-in one), and
    the Python check: a fixed Python (``python``: --python, else the project's) that a
    source-only component has no build for is an error whose hint is the whole command."""
    from mlstack_env.manifest.profiles import ProfileSet

    profiles = project.profile_set() if project is not None else ProfileSet.load()
    profile = profiles.get(name)
    choice = choose_target(profile, machine)
    fixed, why = (python, "--python") if python else (
        (project.python, f"python in {project.manifest_path.name}")
        if project is not None and project.python else (None, ""))
    if fixed is not None:
        comps = needed_components(profile)
        if any(c.python and fixed not in c.python for c in comps) \
                or not profile.allows_python(fixed):
            raise python_hint(profile, choice.target, fixed, why)
    return choice

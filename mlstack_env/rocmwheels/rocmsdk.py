"""ROCm's user space as wheels in a lock entry (ROCM-FACTS §4b): the rules, in one place.

For a target on a ROCm-as-wheels release (catalog ``[rocm-wheels]``: 7.14, 10.0):

* **What to resolve** (:func:`sdk_request`): torch and torchvision with the device extras
  for exactly the target's gfx (``torch[device-gfx1100]``, ``torchvision[device-gfx1100]``:
  TheRock splits both, :data:`SPLIT`; ``device-all``, ~10 GB, only when the profile names
  it), and the ``rocm-sdk-*`` wheels pinned to the release (``rocm-sdk-core``,
  ``-libraries``, one ``-device-<gfx>`` per gfx). torch's ``rocm[libraries]`` points at the
  ``rocm`` selector, an sdist that picks its dependencies on the machine that builds it; a
  lock must hold wheels only, so the selector is overridden away (uv ``--overrides`` with a
  marker that is never true) and its wheels are required directly — what the selector
  itself asks for in a multi-arch build (TheRock ``templates/rocm/setup.py``:
  ``<dist>==<version>`` per extra). The selector's sdist is then pinned beside them (URL,
  sha256) for the ``rocm_sdk`` package torch imports, and unpacked without being built:
  :mod:`mlstack_env.rocmwheels.rocmselector`.
* **What to refuse** (:func:`check_entry`): PyPI's placeholders under AMD's names
  (``rocm-sdk-device-gfx*``/``amd-torch-device-gfx*`` 0.0.1.dev0, old ``rocm-sdk-*``
  0.1.0): any of AMD's names taken from the default index (PyPI); ``rocm-sdk-*`` wheels of
  two ROCm builds, torch/vision/audio of two builds, torch or torchvision without the device
  kernels of a target gfx (``hipErrorInvalidImage`` at run time, TheRock#7839); PyTorch's
  own torch from its mirror unless the profile asks for every GPU (:func:`from_pytorch_mirror`).

The ROCm such an entry brings, once installed in an env (its root, variables, ``rocm-sdk
init`` at create): :mod:`mlstack_env.rocmwheels.rocmroot`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from mlstack_env.catalog import (
    WheelsRelease,
    is_rocm_wheel_name,
    wheel_gfx,
    wheels_release,
)
from mlstack_env.catalog.target import Target
from mlstack_env.core.errors import ManifestError, SourceError, TargetError
from mlstack_env.core.record import record
from mlstack_env.lockfile import SELECTOR, LockedPackage

# The selector (sdist only) and the marker that removes it from a resolution.
NEVER = 'sys_platform == "never"'
# The ROCm SDK's wheels that mlstack pins itself (one -device-<gfx> wheel per gfx beside).
CORE = "rocm-sdk-core"
LIBRARIES = "rocm-sdk-libraries"
DEVEL = "rocm-sdk-devel"
# Versions PyPI's placeholders carry under AMD's names (ROCM-FACTS §4b).
PLACEHOLDER_VERSIONS = ("0.0.1.dev0", "0.1.0")
# torch and the companions that must come from one ROCm build (rocm-cli; FACTS §4b).
TORCH_FAMILY = ("torch", "torchvision", "torchaudio")
# PyTorch's mirrors of ROCm-as-wheels releases live under it (pytorch/test-infra#8662).
PYTORCH_MIRROR = "https://download.pytorch.org/whl/"
# The packages TheRock splits into a host wheel and per-GPU kernel wheels, -> the prefix of
# those wheels' names: its PyTorch workflows run rocm_kpack's split_python_wheels on torch
# (`--device-package-prefix amd-torch-device`) and on torchvision (`… amd-torchvision-device`)
# (TheRock .github/workflows/multi_arch_build_portable_linux_pytorch_wheels.yml;
# rocm_whl_next_ownership.yaml lists amd-torchvision-device-gfx*; RELEASES.md installs
# `"torch[device-gfx942]" "torchvision[device-gfx942]"`). torchaudio ships unsplit.
SPLIT = {"torch": "amd-torch-device", "torchvision": "amd-torchvision-device"}


def release_of(target: Target) -> WheelsRelease | None:
    """The ROCm-as-wheels release of a target, else None (cpu, ROCm up to 7.2)."""
    return wheels_release(target.rocm) if target.rocm is not None else None


def device_gfx(target: Target) -> list[str]:
    """The gfx whose device wheels the entry needs: exactly the target's (one device wheel
    per gfx; a release carries every GPU of the table but gfx900/906, so no GPU of a
    target runs another's code through an override)."""
    return list(target.gfx)


@record
class SdkRequest:
    """What uv resolves for a ROCm-as-wheels entry: requirements and overrides."""

    requirements: tuple[str, ...]
    overrides: tuple[str, ...]


def sdk_request(target: Target, packages: Sequence[str]) -> SdkRequest | None:
    """The requirements (and overrides) for ``packages`` on ``target``; None when the target
    is not a ROCm-as-wheels release (nothing changes then)."""
    release = release_of(target)
    if release is None:
        return None
    gfx = _kernel_gfx(target, release, packages)
    pins = {CORE: release.sdk, LIBRARIES: release.sdk}
    pins.update({f"rocm-sdk-device-{g}": release.sdk for g in gfx})
    out, named = _rewritten(packages, release, gfx)
    pins.update(named)
    out += [f"{name}=={spec}" for name, spec in sorted(pins.items())]
    return SdkRequest(tuple(out), (f"{SELECTOR}; {NEVER}",))


def _kernel_gfx(target: Target, release: WheelsRelease, packages: Sequence[str]) -> list[str]:
    """The gfx whose kernels the entry takes: the target's, each carried by the release,
    or every one the release carries when the profile asks for device-all."""
    carried = wheel_gfx(release.rocm) or frozenset()
    gfx = device_gfx(target)
    missing = [g for g in gfx if g not in carried]
    if missing:
        raise TargetError(
            f"{release.name} ships no device wheels for {', '.join(missing)} (target {target})",
            f"its wheels carry: {', '.join(sorted(carried))}; lock for a gfx they carry",
        )
    if asks_device_all(packages):
        # Asked for by name (torch[device-all] or rocm[device-all]): every GPU's kernels,
        # about 10 GB. The selector is overridden away, so its device wheels are pinned here.
        return sorted(carried, key=lambda g: (len(g), g))
    return gfx


def _rewritten(packages: Sequence[str], release: WheelsRelease,
               gfx: list[str]) -> tuple[list[str], dict[str, str]]:
    """The profile's requirements as uv gets them (the split packages with their device
    extras for ``gfx``), and the rocm-sdk-* wheels they name, pinned to the release (the
    selector's extras, rocm-sdk-devel or -libraries named bare)."""
    from packaging.requirements import Requirement  # resolving only: not on a store hit
    from packaging.utils import canonicalize_name

    out: list[str] = []
    pins: dict[str, str] = {}
    for text in packages:
        req = Requirement(text)
        name = canonicalize_name(req.name)
        if name in (DEVEL, LIBRARIES) and not req.specifier:
            pins[name] = release.sdk  # named bare: the release's own build
        elif name == SELECTOR:
            # rocm[devel] etc.: the wheels the selector would pick, pinned to the release.
            for extra in sorted(req.extras - {"device-all"}):
                pins.update(_selector_extra(extra, release))
        else:
            if name in SPLIT and "device-all" not in req.extras:
                # torch[device-gfx1100], torchvision[device-gfx1100]: their kernels for the gfx.
                req.extras |= {f"device-{g}" for g in gfx}
            out.append(str(req))
    return out, pins


def asks_device_all(packages: Sequence[str]) -> bool:
    """Does a profile ask for every GPU's kernels by name (``torch[device-all]``,
    ``torchvision[device-all]``, ``rocm[device-all]``)? Never implied: about 10 GB download,
    19 GB installed (ultralytics#24137)."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    for text in packages:
        req = Requirement(text)
        if canonicalize_name(req.name) in (*SPLIT, SELECTOR) and "device-all" in req.extras:
            return True
    return False


def _selector_extra(extra: str, release: WheelsRelease) -> dict[str, str]:
    if extra == "libraries":
        return {LIBRARIES: release.sdk}
    if extra == "devel":
        return {DEVEL: release.sdk}
    if extra.startswith("device-gfx"):
        return {f"rocm-sdk-{extra}": release.sdk}
    raise ManifestError(f"unknown extra rocm[{extra}]",
                        "the rocm extras are libraries, devel, device-<gfx> and device-all")


def _describe(p: LockedPackage) -> str:
    return f"{p.name} {p.version} from {p.index or 'an unknown index'}"


def check_entry(target: Target, packages: Iterable[LockedPackage], wheel_indexes: Iterable[str],
                key: str, *, device_all: bool = False) -> None:
    """Refuse an entry that holds ROCm's wheels from the wrong place or of two builds.

    ``wheel_indexes`` are the canonical URLs AMD's names may come from (every source of the
    request but the default index);
    ``key`` names the entry in messages; ``device_all``: the profile asks for every GPU's
    kernels (:func:`asks_device_all`). Applies to every ROCm target (a rocm6.4 entry that
    pulled a PyPI placeholder is as wrong); the build checks apply to ROCm-as-wheels ones.
    """
    if not target.is_rocm:
        return
    pkgs = {p.name: p for p in packages}
    release = release_of(target)
    _refuse_placeholders(pkgs, {u.rstrip("/") for u in wheel_indexes}, release, key)
    if release is None:
        return
    if SELECTOR in pkgs:  # pragma: no cover - the override removes it; kept as a guard
        raise SourceError(f"resolving {key} took the rocm selector from uv's resolution",
                          "report this: mlstack pins the selector sdist itself, unbuilt")
    _refuse_mixed_builds(pkgs, release, key)
    torch = pkgs.get("torch")
    if torch is not None and from_pytorch_mirror(torch):
        if not device_all:
            raise _pytorch_torch_error(torch, target, key)
        return  # its kernels are in torch itself; torchvision from there is not split
    _refuse_missing_kernels(pkgs, target, key)


def _refuse_placeholders(pkgs: dict[str, LockedPackage], allowed: set[str],
                         release: WheelsRelease | None, key: str) -> None:
    """AMD's names taken from anywhere but ``allowed`` (PyPI's empty placeholders)."""
    wrong = [
        p for p in pkgs.values()
        if is_rocm_wheel_name(p.name) and (
            p.version in PLACEHOLDER_VERSIONS or (p.index or "").rstrip("/") not in allowed)
    ]
    if not wrong:
        return
    names = ", ".join(p.name for p in wrong)
    where = (f"the configured {release.name} index has no real wheel under that name: "
             f"remove {names} from the profile (torch[device-<gfx>], which mlstack "
             "adds, brings the device wheels a target needs)" if release is not None else
             f"they belong to ROCm-as-wheels releases: remove {names} from the profile, "
             "or lock a rocm7.14/rocm10.0 target")
    raise SourceError(
        f"resolving {key} took placeholders of AMD's ROCm wheels: "
        + "; ".join(_describe(p) for p in wrong),
        f"PyPI holds empty placeholders under AMD's names (0.0.1.dev0, 0.1.0); {where}",
    )


def _refuse_mixed_builds(pkgs: dict[str, LockedPackage], release: WheelsRelease,
                         key: str) -> None:
    """rocm-sdk-* wheels of two builds, or torch, torchvision, torchaudio of two."""
    sdk = {p.name: p.version for p in pkgs.values() if p.name.startswith("rocm-sdk-")}
    if len(set(sdk.values())) > 1:
        raise SourceError(
            f"resolving {key} mixed ROCm builds: "
            + ", ".join(f"{n} {v}" for n, v in sorted(sdk.items())),
            f"pin every rocm-sdk-* wheel to one {release.name} build (or none: mlstack pins them)",
        )
    from packaging.version import Version

    labels = {n: Version(pkgs[n].version).local or "" for n in TORCH_FAMILY if n in pkgs}
    if len(set(labels.values())) > 1:
        raise SourceError(
            f"resolving {key} mixed ROCm builds of torch: "
            + ", ".join(f"{n} {pkgs[n].version}" for n in labels),
            "pin torch, torchvision and torchaudio to versions of one build of the "
            f"{release.name} index",
        )


def _pytorch_torch_error(torch: LockedPackage, target: Target, key: str) -> SourceError:
    return SourceError(
        f"resolving {key}: torch {torch.version} from {torch.index} is PyTorch's own "
        "build: it has no per-GPU kernel wheels and requires "
        "rocm[libraries,device-all], every GPU's ROCm kernels (about 10 GB to "
        f"download, 19 GB installed), where this lock is for {', '.join(target.gfx)}",
        "take torch from AMD's index, which splits it per GPU: in mlstack.toml remove "
        "`enabled = false` from [sources.amd-rocm-wheels] (PyTorch's mirror copies "
        "only rocm and rocm-sdk-*); or name torch[device-all] in the profile to take "
        "every GPU's kernels",
    )


def _refuse_missing_kernels(pkgs: dict[str, LockedPackage], target: Target, key: str) -> None:
    """A split package (AMD's torch) without the device wheels of a GPU of the target."""
    for host, prefix in SPLIT.items():
        split = pkgs.get(host)
        if split is None:
            continue
        lacking = [g for g in device_gfx(target) if f"{prefix}-{g}" not in pkgs]
        if lacking:
            raise SourceError(
                f"resolving {key}: {host} {split.version} holds no GPU kernels for "
                f"{', '.join(lacking)} (it would fail with hipErrorInvalidImage)",
                f"name {host} in the profile's packages, so mlstack adds its device extras",
            )


def from_pytorch_mirror(package: LockedPackage) -> bool:
    """Was ``package`` taken from PyTorch's mirror of a ROCm-as-wheels release
    (``download.pytorch.org/whl/{test,nightly}/rocm7.14``, ``rocm10.0``)? Its torch is
    PyTorch's own, not AMD's split one (pytorch#191688, pytorch#190276)."""
    return (package.index or "").startswith(PYTORCH_MIRROR)


def device_all_note(target: Target, packages: Iterable[LockedPackage]) -> str | None:
    """The lock note of an entry holding every GPU's ROCm kernels: what it costs."""
    release = release_of(target)
    names = {p.name for p in packages}
    carried = wheel_gfx(release.rocm) if release is not None else None
    if not carried or not all(f"rocm-sdk-device-{g}" in names for g in carried):
        return None
    return (f"every GPU's ROCm kernels ({len(carried)} rocm-sdk-device-* wheels, device-all): "
            "about 10 GB to download, 19 GB installed")

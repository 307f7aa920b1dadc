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
* **Where ROCm is in an env** (:func:`rocm_root`): what ``rocm-sdk path --root`` answers
  there — the devel tree with rocm-sdk-devel, core's tree without (``path --root`` then
  fails by design; the ``rocm_sdk_core._cli`` trampolines run the tools from core).
* **The post-install step** (:func:`initialize`): ``rocm-sdk init`` (the selector's
  console script) expands the devel tarball, deletes it, appends RECORD rows and links the
  device files in; it has work only when the entry holds ``rocm-sdk-devel``. mlstack
  records what it changed and the root it answers, for ``env verify`` and the variables.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from mlstack_env.catalog import (
    WheelsRelease,
    is_rocm_wheel_name,
    wheel_gfx,
    wheels_release,
)
from mlstack_env.catalog.target import Target
from mlstack_env.core.errors import MlstackError
from mlstack_env.core.record import record
from mlstack_env.lockfile import SELECTOR, LockedPackage, LockEntry

# The selector (sdist only) and the marker that removes it from a resolution.
NEVER = 'sys_platform == "never"'

# Written by :func:`initialize`, read by store/verify.py: the files `rocm-sdk init` created
# or changed (RECORD format), and those it deleted.
INIT_RECORD = "mlstack-rocm-init.RECORD"
INIT_REMOVED = "mlstack-rocm-init.removed"


def record_digest(path: Path) -> str:
    """A file's digest as a wheel RECORD writes it (urlsafe base64 sha256, unpadded)."""
    import base64
    import hashlib  # OpenSSL's: loaded only when a file is hashed, not on a store hit

    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return base64.urlsafe_b64encode(h.digest()).rstrip(b"=").decode()
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
    carried = wheel_gfx(release.rocm) or frozenset()
    gfx = device_gfx(target)
    missing = [g for g in gfx if g not in carried]
    if missing:
        raise MlstackError(
            f"{release.name} ships no device wheels for {', '.join(missing)} (target {target})",
            f"its wheels carry: {', '.join(sorted(carried))}; lock for a gfx they carry",
        )
    if asks_device_all(packages):
        # Asked for by name (torch[device-all] or rocm[device-all]): every GPU's kernels,
        # about 10 GB. The selector is overridden away, so its device wheels are pinned here.
        gfx = sorted(carried, key=lambda g: (len(g), g))
    pins = {CORE: release.sdk, LIBRARIES: release.sdk}
    pins.update({f"rocm-sdk-device-{g}": release.sdk for g in gfx})
    from packaging.requirements import Requirement  # resolving only: not on a store hit
    from packaging.utils import canonicalize_name

    out: list[str] = []
    for text in packages:
        req = Requirement(text)
        name = canonicalize_name(req.name)
        if name in (DEVEL, LIBRARIES) and not req.specifier:
            pins[name] = release.sdk  # named bare: the release's own build
            continue
        if name == SELECTOR:
            # rocm[devel] etc.: the wheels the selector would pick, pinned to the release.
            for extra in sorted(req.extras - {"device-all"}):
                pins.update(_selector_extra(extra, release))
            continue
        if name in SPLIT and "device-all" not in req.extras:
            # torch[device-gfx1100], torchvision[device-gfx1100]: their kernels for the gfx.
            req.extras |= {f"device-{g}" for g in gfx}
        out.append(str(req))
    out += [f"{name}=={spec}" for name, spec in sorted(pins.items())]
    return SdkRequest(tuple(out), (f"{SELECTOR}; {NEVER}",))


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
    raise MlstackError(f"unknown extra rocm[{extra}]",
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
        raise MlstackError(f"resolving {key} took the rocm selector from uv's resolution",
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
    raise MlstackError(
        f"resolving {key} took placeholders of AMD's ROCm wheels: "
        + "; ".join(_describe(p) for p in wrong),
        f"PyPI holds empty placeholders under AMD's names (0.0.1.dev0, 0.1.0); {where}",
    )


def _refuse_mixed_builds(pkgs: dict[str, LockedPackage], release: WheelsRelease,
                         key: str) -> None:
    """rocm-sdk-* wheels of two builds, or torch, torchvision, torchaudio of two."""
    sdk = {p.name: p.version for p in pkgs.values() if p.name.startswith("rocm-sdk-")}
    if len(set(sdk.values())) > 1:
        raise MlstackError(
            f"resolving {key} mixed ROCm builds: "
            + ", ".join(f"{n} {v}" for n, v in sorted(sdk.items())),
            f"pin every rocm-sdk-* wheel to one {release.name} build (or none: mlstack pins them)",
        )
    from packaging.version import Version

    labels = {n: Version(pkgs[n].version).local or "" for n in TORCH_FAMILY if n in pkgs}
    if len(set(labels.values())) > 1:
        raise MlstackError(
            f"resolving {key} mixed ROCm builds of torch: "
            + ", ".join(f"{n} {pkgs[n].version}" for n in labels),
            "pin torch, torchvision and torchaudio to versions of one build of the "
            f"{release.name} index",
        )


def _pytorch_torch_error(torch: LockedPackage, target: Target, key: str) -> MlstackError:
    return MlstackError(
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
            raise MlstackError(
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


def holds_rocm(entry: LockEntry) -> bool:
    """Does the entry carry ROCm's user space itself (rocm-sdk-core)?"""
    return entry.package(CORE) is not None


def needs_init(entry: LockEntry) -> bool:
    """``rocm-sdk init`` has work only with the devel tree (TheRock ``rocm-sdk init``)."""
    return holds_rocm(entry) and entry.package(DEVEL) is not None


# The ROCm root's directory in site-packages. TheRock names the platform packages
# "_" + dist name + a build nonce (rocm_sdk/_dist_info.py get_py_package_name; the nonce is
# empty in the builds seen), so what an env holds is asked of it at create (ROOT_FILE).
CORE_ROOT = "_rocm_sdk_core"
DEVEL_ROOT = "_rocm_sdk_devel"
# In a store entry: the ROCm root `rocm-sdk path --root` answered at create, relative to
# site-packages (the entry is built in a temporary folder and moved, so never absolute).
ROOT_FILE = "mlstack-rocm-root"


def rocm_root(site_packages: Path, entry: LockEntry) -> Path:
    """ROCm's root inside an env whose site-packages is ``site_packages``: what
    ``rocm-sdk path --root`` answers there — the devel tree when the entry holds
    rocm-sdk-devel (TheRock's docs: ``-DROCM_HOME=$(rocm-sdk path --root)``); without
    rocm-sdk-devel that command fails by design, and the tools run from core's tree (the
    ``rocm_sdk_core._cli`` trampolines fall back to it), so that is the root then.

    The answer recorded at create (:data:`ROOT_FILE`) wins; before create (or in an image
    mlstack did not build) it is the name TheRock's builds use."""
    recorded = site_packages.parent.parent.parent / ROOT_FILE
    try:
        name = recorded.read_text(encoding="utf-8").strip()
    except OSError:
        name = DEVEL_ROOT if entry.package(DEVEL) is not None else CORE_ROOT
    return site_packages / name


# --- the post-install step, inside a store entry before it is published -----------------

def _site_packages(venv: Path) -> Path | None:
    found = sorted(venv.glob("lib/python3.*/site-packages"))
    return found[0] if found else None


def _files(root: Path) -> dict[str, tuple[int, int]]:
    """rel path -> (inode, size) of every regular file under ``root``."""
    out = {}
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            st = path.stat()
            out[path.relative_to(root).as_posix()] = (st.st_ino, st.st_size)
    return out


def initialize(entry: LockEntry, venv: Path) -> int:
    """Run ``rocm-sdk init`` in a store entry being built, record what it changed, and ask
    the env for its ROCm root.

    TheRock's init (``rocm_sdk/_devel.py``) expands ``rocm_sdk_devel/_devel.tar[.xz]`` into
    ``_rocm_sdk_devel/``, appends a row without hash for each new file to rocm-sdk-devel's
    RECORD, DELETES the tarball, and hard-links the installed device wheels' files into the
    tree (rows appended to each device wheel's RECORD). So ``env verify`` can check the
    entry afterwards, mlstack writes beside the venv:

    * ``mlstack-rocm-init.RECORD``: every file init created or changed (the expanded tree,
      the rewritten RECORDs), RECORD format with sha256, relative to site-packages;
    * ``mlstack-rocm-init.removed``: every file init deleted (the tarball), one a line;
      verify expects those absent although their wheel's RECORD still lists them;
    * :data:`ROOT_FILE`: ``rocm-sdk path --root``'s answer, relative to site-packages.

    Returns how many files init created or changed (0 when there is nothing to initialize;
    an entry locked before the selector was pinned has no ``rocm-sdk`` either).
    """
    tool = venv / "bin" / "rocm-sdk"
    site = _site_packages(venv)
    if not needs_init(entry) or site is None or not tool.is_file():
        return 0
    before = _files(site)
    _run_tool(entry, tool, venv, "init", "--quiet")
    # `path --root` goes through the same expansion and device linking: asked before the
    # files are taken stock of, whatever it touched is recorded too.
    answer = Path(_run_tool(entry, tool, venv, "path", "--root").strip())
    after = _files(site)
    made = sorted(rel for rel, ident in after.items() if before.get(rel) != ident)
    lines = [f"{rel},sha256={record_digest(site / rel)},{after[rel][1]}\n" for rel in made]
    (venv / INIT_RECORD).write_text("".join(lines), encoding="utf-8")
    removed = sorted(set(before) - set(after))
    (venv / INIT_REMOVED).write_text("".join(f"{rel}\n" for rel in removed), encoding="utf-8")
    try:
        relative = answer.resolve().relative_to(site.resolve())
    except ValueError:
        raise MlstackError(
            f"`rocm-sdk path --root` in the new store entry for {entry.key} answered "
            f"{answer}, outside the env's site-packages",
            "nothing was published; report it with the output of `rocm-sdk path --root` "
            "from that env",
        ) from None
    (venv / ROOT_FILE).write_text(f"{relative.as_posix()}\n", encoding="utf-8")
    return len(made)


def _run_tool(entry: LockEntry, tool: Path, venv: Path, *args: str) -> str:
    """``rocm-sdk ARGS`` in a store entry being built; its stdout, or an error."""
    import subprocess

    # No inherited ROCm variables: rocm-sdk must see the env's ROCm, not the host's.
    environ = {k: v for k, v in os.environ.items()
               if not k.startswith(("ROCM_", "HIP_", "HSA_", "PYTHON"))}
    proc = subprocess.run([str(tool), *args], capture_output=True, text=True,
                          env=environ, cwd=venv, check=False)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise MlstackError(
            f"`rocm-sdk {' '.join(args)}` failed in the new store entry for {entry.key}: "
            f"{last}",
            "nothing was published; run the create again with -v, or report it with the "
            f"output of `rocm-sdk {' '.join(args)}` from that env",
        )
    return proc.stdout


def root_in(venv: Path, entry: LockEntry) -> Path:
    """ROCm's root in ``venv`` holding ``entry`` (:func:`rocm_root`), built or not yet."""
    return rocm_root(venv / "lib" / f"python{entry.python}" / "site-packages", entry)


def env_variables(root: Path) -> dict[str, str]:
    """``ROCM_PATH`` and what PyTorch also looks for (``ROCM_HOME``, ``HIP_PATH``: FACTS §6),
    all at the ROCm inside the env."""
    return {"ROCM_PATH": str(root), "ROCM_HOME": str(root), "HIP_PATH": str(root)}


def entry_variables(entry: LockEntry, venv: Path) -> dict[str, str]:
    """The ROCm variables of ``entry`` installed at ``venv`` (a store entry, or a path inside
    an image): none when the entry holds no ROCm, or when its profile sets ``ROCM_PATH``
    itself (the way to keep a system ROCm)."""
    if not holds_rocm(entry) or "ROCM_PATH" in entry.env:
        return {}
    return env_variables(root_in(venv, entry))


def version_at(root: Path) -> str | None:
    """The rocm-sdk-core version whose ROCm root (``site-packages/_rocm_sdk_core`` or
    ``_rocm_sdk_devel``) this is, from the dist-info beside it; None for any other
    directory."""
    if not root.name.startswith((CORE_ROOT, DEVEL_ROOT)) or not root.is_dir():
        return None
    for dist_info in sorted(root.parent.glob("rocm_sdk_core-*.dist-info")):
        return dist_info.name.removeprefix("rocm_sdk_core-").removesuffix(".dist-info")
    return None

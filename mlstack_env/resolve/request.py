"""What to resolve: one :class:`Request` (merged profile x target x Python x sources), the
hash of its inputs, the Python it is for, and the variables its entry carries."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from mlstack_env.catalog import gpu_table, wheel_gfx
from mlstack_env.catalog.components import is_rdna
from mlstack_env.catalog.sourcemodel import ConcreteSource, newest_platform
from mlstack_env.catalog.sources import Catalog, exact_pins
from mlstack_env.catalog.target import Target, parse_python
from mlstack_env.core.errors import TargetError
from mlstack_env.gpu import gpuvars
from mlstack_env.lockfile import FORMAT_VERSION, Lock, LockEntry, fits
from mlstack_env.manifest.profiles import Profile
from mlstack_env.manifest.project import Project
from mlstack_env.rocmwheels import rocmsdk

PLATFORM = "x86_64-manylinux_2_28"

# Variables that mean nothing without a GPU: left out of cpu entries.
_ROCM_ONLY = ("HSA_", "HIP_", "ROCR_", "ROCM_", "MIOPEN_", "PYTORCH_ROCM_", "TORCH_ROCM_",
              "PYTORCH_TUNABLEOP_", "NCCL_", "RCCL_", "VLLM_ROCM_",
              "FLASH_ATTENTION_TRITON_AMD_")
# Variables that only apply to RDNA GPUs (ROCM-FACTS §6).
_RDNA_ONLY = ("TORCH_ROCM_AOTRITON_ENABLE_EXPERIMENTAL", "FLASH_ATTENTION_TRITON_AMD_ENABLE")


@dataclass(frozen=True)
class Request:
    """One lock entry to produce: a merged profile for a target and Python."""

    profile: Profile
    target: Target
    python: str
    sources: tuple[ConcreteSource, ...]
    torch_rocm: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Packages that must carry a +rocm label in a ROCm entry, from every catalog source
    # (also switched-off ones: without the PyTorch index, PyPI's CUDA torch must not pass).
    labelled: tuple[str, ...] = ()
    # What uv resolves for: x86_64-manylinux_2_28, or newer when a source's wheels need it.
    platform: str = PLATFORM
    python_why: str = field(default="", compare=False)  # PythonChoice.why; not an input

    @property
    def key(self) -> str:
        return f"{self.profile.name}@{self.target}@py{self.python}"

    def requirements(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(requirements, overrides) for uv: the profile's packages, and for a
        ROCm-as-wheels target its ROCm wheels too
        (:func:`mlstack_env.rocmwheels.rocmsdk.sdk_request`)."""
        sdk = rocmsdk.sdk_request(self.target, self.profile.packages)
        if sdk is None:
            return tuple(self.profile.packages), ()
        return sdk.requirements, sdk.overrides

    @property
    def wheel_indexes(self) -> tuple[str, ...]:
        """The indexes ROCm's own wheels may come from: every source but the default one
        (PyPI, where only placeholders live under those names)."""
        return tuple(s.url for s in self.sources if not s.default)

    def inputs_hash(self) -> str:
        """sha256 over everything the entry is a function of — never over mirrors."""
        profile = self.profile.inputs()
        del profile["description"], profile["extends"]
        table = gpu_table()
        catalog_data: dict[str, Any] = {"torch-rocm": self.torch_rocm}
        if self.target.rocm is not None:
            carried = wheel_gfx(self.target.rocm)
            catalog_data["wheel-gfx"] = sorted(carried or ())
            catalog_data["overrides"] = {g: list(table.model(g).overrides)
                                         for g in self.target.gfx if g in table.models}
            catalog_data["torch-gfx"] = {k: sorted(v) for k, v in table.torch_gfx.items()}
            release = rocmsdk.release_of(self.target)
            if release is not None:
                catalog_data["rocm-wheels"] = {"index": release.index, "sdk": release.sdk,
                                               "names": list(table.rocm_wheel_names)}
        data = {
            "format": FORMAT_VERSION,
            "profile": profile,
            "target": str(self.target),
            "python": self.python,
            "platform": self.platform,
            "sources": [s.to_json() for s in self.sources],
            "labelled": list(self.labelled),
            "catalog": catalog_data,
        }
        text = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()

    def is_fresh(self, entry: LockEntry | None) -> TypeGuard[LockEntry]:
        """**The one freshness check**: ``entry`` was locked from exactly this request's
        inputs (profile, target, Python, sources, catalog: :meth:`inputs_hash`), so it is
        used as it is, without uv; else it is stale (or missing) and is re-resolved."""
        return entry is not None and entry.inputs_hash == self.inputs_hash()


def make_request(profile: Profile, target: Target, python: str | PythonChoice,
                 cat: Catalog) -> Request:
    why = python.why if isinstance(python, PythonChoice) else ""
    version = python.version if isinstance(python, PythonChoice) else python
    names = tuple(Requirement(r).name for r in profile.packages)
    pins, labels = exact_pins(tuple(profile.packages))
    cat.check_exclusive(target, version, names, profile.name, labels=labels, pins=pins)
    labelled = sorted({str(canonicalize_name(n)) for s in cat.sources.values()
                       for n in s.labelled})
    sources = tuple(cat.for_target(target, names, pins))
    platform = newest_platform([s.platform for s in sources], PLATFORM)
    return Request(profile, target, version, sources, dict(cat.torch_rocm), tuple(labelled),
                   platform, why)


@dataclass(frozen=True)
class PythonChoice:
    """The Python a profile is locked for, and why that one (said in every output)."""

    version: str  # "3.12"
    why: str  # "from mlstack.lock's entries for ml on rocm6.4:gfx1100"

    def __str__(self) -> str:
        return f"{self.version} ({self.why})"


@dataclass(frozen=True)
class PythonNeeds:
    """What narrows the Python beyond the profile's range, for ``mlstack init``: the
    Pythons its chosen components have wheels for (vLLM's: one), and for the messages
    whose the profile's range is (``the built-in profiles``); ``running`` (X.Y) stands in
    for the interpreter mlstack runs on, in tests."""

    versions: frozenset[str] | None = None  # None: no component narrows it
    who: str = ""  # the component that narrows it ("vLLM")
    range_of: str = ""  # whose range the profile's is; "": the profile's own
    running: str | None = None


def choose_python(profile: Profile, explicit: str | None, project: Project | None,
                  lock: Lock | None = None, targets: Sequence[Target] = (), *,
                  needs: PythonNeeds | None = None) -> PythonChoice:
    """The Python to lock ``profile`` for — chosen, never guessed; the one rule of
    ``lock``, ``env create``, ``detect`` and ``init``:

    1. ``--python`` (within ``needs``); 2. the newest of ``needs`` (``init``'s
    components); 3. the project's ``python``; 4. the Python of ``lock``'s entries for this
    profile on these ``targets`` (else on any target); 5. the interpreter mlstack runs on,
    when the profile allows it; 6. the newest installed one the profile allows — only then
    are installed interpreters probed. Each must be in the profile's range (``needs``'
    versions, where they narrow it, stand for that range: ``init`` writes them as it).
    """
    needs = needs or PythonNeeds()
    if explicit:
        choice = PythonChoice(parse_python(explicit), "--python")
        if needs.versions is None:
            return _allowed(profile, choice, needs)
        _check_needs(needs, choice.version)
        return choice
    if needs.versions is not None:
        return _needed(needs)
    if project is not None and project.python:
        return _allowed(profile, PythonChoice(project.python,
                                              f"python in {project.manifest_path.name}"), needs)
    locked = _from_lock(profile, lock, targets) if lock is not None else None
    if locked is not None:
        return locked
    return _fallback(profile.allows_python, profile.python or "any",
                     needs.range_of or f"profile {profile.name!r}", needs.running)


def _check_needs(needs: PythonNeeds, version: str) -> None:
    if needs.versions is not None and version not in needs.versions:
        raise TargetError(
            f"{needs.who} needs Python {' or '.join(sorted(needs.versions))}, not {version}",
            hint=f"drop --python, or leave {needs.who} out",
        )


def _needed(needs: PythonNeeds) -> PythonChoice:
    if not needs.versions:
        raise TargetError("the chosen components need different Pythons",
                          hint="leave one of them out")
    version = max(needs.versions, key=lambda v: int(v.split(".")[1]))
    return PythonChoice(version, f"{needs.who} has wheels for Python {version} only")


def _from_lock(profile: Profile, lock: Lock, targets: Sequence[Target]) -> PythonChoice | None:
    """The newest Python of ``lock``'s entries for ``profile`` on ``targets``, else on
    any target, that the profile allows."""
    mine = [e for e in lock.entries if e.profile == profile.name]
    here = [e for e in mine if any(fits(e, t) for t in targets)]
    where = " on " + ", ".join(str(t) for t in targets) if here and targets else ""
    for entries, what in ((here, f"entries for {profile.name}{where}"),
                          (mine, f"other entries for {profile.name}")):
        pythons = sorted({e.python for e in entries if profile.allows_python(e.python)},
                         key=Version, reverse=True)
        if pythons:
            return PythonChoice(pythons[0], f"from the lock's {what}")
    return None


def _fallback(allows: Callable[[str], bool], allowed: str, what: str,
              running: str | None = None) -> PythonChoice:
    """Steps 5 and 6 of :func:`choose_python`: the interpreter mlstack runs on
    (``running``: X.Y, for tests) when ``allows`` it, else the newest installed one it
    allows — only then are installed interpreters probed. ``allowed`` is the constraint
    as written, ``what`` whose it is, for the messages."""
    from mlstack_env import uv  # only when no flag, project or lock entry names one

    mine = running or uv.running_python()[0]
    if allows(mine):
        return PythonChoice(mine, "the Python mlstack runs on")
    installed = sorted(uv.installed_pythons(), key=Version, reverse=True)
    for version in installed:
        if allows(version):
            return PythonChoice(version, f"the newest installed Python allowed by {what} "
                                f"({allowed}); mlstack runs on {mine}")
    raise TargetError(
        f"no installed Python satisfies {what} ({allowed}); "
        f"found: {', '.join(installed) or 'none'}",
        "install a matching Python, or set python = \"X.Y\" in mlstack.toml",
    )


def _allowed(profile: Profile, choice: PythonChoice, needs: PythonNeeds) -> PythonChoice:
    if not profile.allows_python(choice.version) and needs.range_of:
        raise TargetError(
            f"{needs.range_of} allow Python {profile.python}, not {choice.version} "
            f"({choice.version} is {choice.why})",
            "choose another Python with --python")
    if not profile.allows_python(choice.version):
        raise TargetError(
            f"profile {profile.name!r} does not support Python {choice.version} "
            f"(it needs {profile.python}; {choice.version} is {choice.why})",
            "choose another Python with --python, or change the profile's python",
        )
    return choice


def entry_env(profile: Profile, target: Target, torch: str | None = None
              ) -> tuple[dict[str, str], list[str]]:
    """The entry's variables and notes: the profile's that apply to the target, plus the
    GPU variables of its gfx list (:func:`mlstack_env.gpu.gpuvars.decide`) for the GPU code of
    the locked ``torch`` version (None: the entry has no torch, the index decides)."""
    if not target.is_rocm or target.rocm is None:
        env = {k: v for k, v in profile.env.items() if not k.startswith(_ROCM_ONLY)}
        return env, []
    rdna = is_rdna(target)
    env = {k: v for k, v in profile.env.items() if rdna or k not in _RDNA_ONLY}
    decided = gpuvars.decide(gpuvars.GpuSet.of_target(target), gpuvars.gpu_code(target, torch))
    env.update(decided.variables)
    return env, list(decided.notes)

"""Profile x target -> lock entry, through uv; locking a project; the entry for an env.

Resolution is cross-target (ROCM-FACTS §8): ``uv pip compile --format pylock.toml
--python-version X.Y --python-platform x86_64-manylinux_2_28``, the target's sources as
``--index`` (the PyTorch index of its ROCm version first) ahead of the default index,
uv's default ``first-index`` strategy (never ``unsafe-best-match``), wheels only. URLs go
to uv through the user's ``[mirrors]`` and come back canonical, so a lock never holds a
mirror URL. A ROCm entry holding a torch without a ``+rocm`` label or any ``nvidia-*``
package is refused, naming the package that pulled it in (ROCM-FACTS §4).

The API for other commands:

* :func:`find_project` (re-exported from ``project``)
* :func:`entry_for_env` — the lock entry an environment should install
* :func:`lock` — what ``mlstack lock`` does
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from mlstack_env import __version__, gpuvars, paths, uv
from mlstack_env.catalog import gpu_table, wheel_gfx
from mlstack_env.config import UserConfig, load_config
from mlstack_env.errors import MlstackError
from mlstack_env.lockfile import (
    FORMAT_VERSION,
    Lock,
    LockedPackage,
    LockEntry,
    Wheel,
    dumps,
    fits,
    read_lock,
    to_pylock,
    write_atomic,
)
from mlstack_env.profiles import Profile, ProfileSet
from mlstack_env.project import Project, find_project
from mlstack_env.sources import Catalog, ConcreteSource, catalog
from mlstack_env.target import Target

__all__ = ["PLATFORM", "Request", "entry_for_env", "find_project", "lock", "resolve"]

PLATFORM = "x86_64-manylinux_2_28"

# Variables that mean nothing without a GPU: left out of cpu entries.
_ROCM_ONLY = ("HSA_", "HIP_", "ROCR_", "ROCM_", "MIOPEN_", "PYTORCH_ROCM_", "TORCH_ROCM_",
              "PYTORCH_TUNABLEOP_", "NCCL_", "RCCL_", "VLLM_ROCM_")
# Variables that only apply to RDNA GPUs (ROCM-FACTS §6).
_RDNA_ONLY = ("TORCH_ROCM_AOTRITON_ENABLE_EXPERIMENTAL",)

Progress = Callable[[str], None]


# --- what to resolve -------------------------------------------------------------------


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

    @property
    def key(self) -> str:
        return f"{self.profile.name}@{self.target}@py{self.python}"

    def inputs_hash(self) -> str:
        """sha256 over everything the entry is a function of — never over mirrors."""
        profile = self.profile.inputs()
        del profile["description"], profile["extends"]
        table = gpu_table()
        catalog_data: dict[str, Any] = {"torch-rocm": self.torch_rocm}
        if self.target.rocm is not None:
            carried = wheel_gfx(self.target.rocm)
            catalog_data["wheel-gfx"] = sorted(carried or ())
            catalog_data["overrides"] = {g: table.model(g).override for g in self.target.gfx}
        data = {
            "format": FORMAT_VERSION,
            "profile": profile,
            "target": str(self.target),
            "python": self.python,
            "platform": PLATFORM,
            "sources": [s.to_json() for s in self.sources],
            "labelled": list(self.labelled),
            "catalog": catalog_data,
        }
        text = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def make_request(profile: Profile, target: Target, python: str, cat: Catalog) -> Request:
    names = tuple(Requirement(r).name for r in profile.packages)
    labelled = sorted({str(canonicalize_name(n)) for s in cat.sources.values()
                       for n in s.labelled})
    return Request(profile, target, python, tuple(cat.for_target(target, names)),
                   dict(cat.torch_rocm), tuple(labelled))


def choose_python(profile: Profile, explicit: str | None, project: Project | None) -> str:
    """``--python``, else the project's ``python``, else the newest installed one allowed."""
    wanted = explicit or (project.python if project else None)
    if wanted:
        if not re.fullmatch(r"3\.\d+", wanted):
            raise MlstackError(f"bad Python version {wanted!r}",
                               "write it as X.Y, e.g. --python 3.12")
        if not profile.allows_python(wanted):
            raise MlstackError(
                f"profile {profile.name!r} does not support Python {wanted} "
                f"(it needs {profile.python})",
                "choose another Python with --python, or change the profile's python",
            )
        return wanted
    installed = sorted(uv.installed_pythons(), key=Version, reverse=True)
    for version in installed:
        if profile.allows_python(version):
            return version
    raise MlstackError(
        f"no installed Python satisfies profile {profile.name!r} ({profile.python}); "
        f"found: {', '.join(installed) or 'none'}",
        "install a matching Python, or set python = \"X.Y\" in mlstack.toml",
    )


# --- the environment variables of an entry ---------------------------------------------


def entry_env(profile: Profile, target: Target) -> tuple[dict[str, str], list[str]]:
    """The entry's variables and notes: the profile's that apply to the target, plus the
    GPU variables of its gfx list (:func:`mlstack_env.gpuvars.decide`)."""
    if not target.is_rocm or target.rocm is None:
        env = {k: v for k, v in profile.env.items() if not k.startswith(_ROCM_ONLY)}
        return env, []
    table = gpu_table()
    rdna = any(g in table.models and table.models[g].family.is_rdna for g in target.gfx)
    env = {k: v for k, v in profile.env.items() if rdna or k not in _RDNA_ONLY}
    decided = gpuvars.decide(gpuvars.GpuSet.of_target(target), gpuvars.gpu_code(target))
    env.update(decided.variables)
    return env, list(decided.notes)


# --- running uv ------------------------------------------------------------------------


def _uv_args(request: Request, config: UserConfig, requirements: Path, output: Path, *,
             interpreter: Path, fmt: str) -> list[str]:
    args = [
        "pip", "compile", str(requirements),
        "--format", fmt, "-o", str(output),
        "--python", str(interpreter),
        "--python-version", request.python,
        "--python-platform", PLATFORM,
        "--index-strategy", "first-index",
        "--only-binary", ":all:",
        "--no-header",
    ]
    for src in request.sources:
        url = config.rewrite(src.url)
        if src.default:
            args += ["--default-index", url]
        elif src.kind == "find-links":
            args += ["--find-links", url]
        else:
            args += ["--index", url]
    return args


def _run_uv(request: Request, config: UserConfig, workdir: Path, fmt: str, output: Path, *,
            offline: bool) -> None:
    requirements = workdir / "requirements.in"
    requirements.write_text("".join(r + "\n" for r in request.profile.packages),
                            encoding="utf-8")
    interpreter = uv.find_python(request.python)
    what = f"resolving {request.key}"
    try:
        args = _uv_args(request, config, requirements, output, interpreter=interpreter, fmt=fmt)
        uv.run(args, what=what, cwd=workdir, offline=offline)
    except MlstackError as err:
        raise MlstackError(err.message, _failure_hint(err.message, request, config)) from None


def _failure_hint(message: str, request: Request, config: UserConfig) -> str:
    lowered = message.lower()
    if any(s in lowered for s in ("failed to fetch", "error sending request", "connect",
                                  "dns error", "timed out", "network")):
        file = config.path or paths.config_file()
        where = (f"the [mirrors] in {file}" if config.mirrors else
                 f"your network, or point [mirrors] in {file} at a reachable mirror "
                 "(docs/team.md)")
        urls = ", ".join(config.rewrite(s.url) for s in request.sources)
        return f"an index could not be reached ({urls}); check {where}"
    if "offline" in lowered:
        return "drop --offline, or resolve once online so uv's cache holds these packages"
    if "python implementation tag" in lowered or "requires-python" in lowered \
            or "python version" in lowered or "python>=" in lowered:
        return (f"no wheels for Python {request.python} satisfy the profile; lock for another "
                "Python with --python X.Y (or python = \"X.Y\" in mlstack.toml)")
    hint = "change the profile's requirements, or lock for another target"
    if request.target.rocm is not None and "torch" in message:
        from mlstack_env.catalog import torch_index_name

        index = torch_index_name(request.target.rocm)
        builds = catalog().torch_builds(index or "")
        if builds:
            hint = (f"the {index} index carries torch {', '.join(builds)}; pin torch to one of "
                    "those, or lock for another ROCm version")
    return hint


def _via(request: Request, config: UserConfig, workdir: Path, offline: bool) -> dict[str, set[str]]:
    """Who requires whom, from uv's annotated requirements output (only on failure)."""
    out = workdir / "annotated.txt"
    _run_uv(request, config, workdir, "requirements.txt", out, offline=offline)
    parents: dict[str, set[str]] = {}
    current: str | None = None
    for raw_line in out.read_text(encoding="utf-8").splitlines():
        line = raw_line.strip()
        if line and not line.startswith("#"):
            current = canonicalize_name(re.split(r"[=<>!~ ;\[]", line, maxsplit=1)[0])
            parents.setdefault(current, set())
        elif current and line.startswith("#"):
            text = line.lstrip("#").strip().removeprefix("via").strip()
            if text and not text.startswith("-r"):
                parents[current].add(canonicalize_name(text))
    return parents


def _pulled_by(name: str, parents: dict[str, set[str]], direct: set[str]) -> list[str]:
    """The profile's direct requirements that (transitively) pull ``name``."""
    seen: set[str] = set()
    stack = [name]
    roots: set[str] = set()
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        if n in direct and n != name:
            roots.add(n)
        stack.extend(parents.get(n, ()))
    return sorted(roots)


def _check_rocm(entry_packages: list[LockedPackage], request: Request, config: UserConfig,
                workdir: Path, offline: bool) -> None:
    if not request.target.is_rocm:
        return
    labelled = set(request.labelled)
    bad = [
        p for p in entry_packages
        if p.name.startswith("nvidia-")
        or (p.name in labelled and not _local_label(p.version).startswith("rocm"))
    ]
    if not bad:
        return
    parents = _via(request, config, workdir, offline)
    direct = {str(canonicalize_name(Requirement(r).name)) for r in request.profile.packages}
    described = []
    for p in bad:
        roots = _pulled_by(p.name, parents, direct)
        why = f" (pulled by {', '.join(roots)})" if roots else (
            " (a direct requirement)" if p.name in direct else "")
        described.append(f"{p.name} {p.version}{why}")
    culprits = sorted({r for p in bad for r in _pulled_by(p.name, parents, direct)}
                      | {p.name for p in bad if p.name in direct})
    raise MlstackError(
        f"resolving {request.key} pulled CUDA builds into a ROCm entry: "
        + "; ".join(described),
        f"{', '.join(culprits) or 'a requirement'} has no ROCm build on the configured "
        "sources: remove it from the profile, pin a version the ROCm index carries, or add "
        "a [sources.NAME] index that has its ROCm build",
    )


def _local_label(version: str) -> str:
    return Version(version).local or ""


def _parse_pylock(path: Path, request: Request, config: UserConfig) -> list[LockedPackage]:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        from mlstack_env.errors import InternalError

        raise InternalError(f"cannot read uv's pylock output {path}: {exc}") from None
    packages: list[LockedPackage] = []
    for p in raw.get("packages", []):
        name = canonicalize_name(p["name"])
        wheels = []
        for w in p.get("wheels", []):
            url = config.canonical(w["url"])
            sha = w.get("hashes", {}).get("sha256")
            if not sha:
                raise MlstackError(
                    f"resolving {request.key}: {w['url']} has no sha256 on its index",
                    "use an index that publishes hashes (PEP 503 #sha256= fragments)",
                )
            wheels.append(Wheel(url, sha, w.get("size")))
        if not wheels:
            raise MlstackError(
                f"resolving {request.key}: {name} {p.get('version')} has no wheel for "
                f"Python {request.python} on {PLATFORM}",
                "pin a version with wheels, or choose another Python",
            )
        index = next((s.url for s in request.sources if s.kind == "index"
                      and all(s.owns(w.url) for w in wheels)), None)
        if index is None:
            index = next((s.url for s in request.sources if s.default), None)
        packages.append(LockedPackage(name, str(p["version"]), index, tuple(wheels)))
    return packages


def resolve(request: Request, config: UserConfig | None = None, offline: bool = False) -> LockEntry:
    """Resolve one request through uv into a lock entry (canonical URLs, checked for CUDA)."""
    config = config or load_config()
    with tempfile.TemporaryDirectory(prefix="mlstack-lock-") as tmp:
        workdir = Path(tmp)
        output = workdir / "pylock.toml"  # uv insists on this name
        _run_uv(request, config, workdir, "pylock.toml", output, offline=offline)
        packages = _parse_pylock(output, request, config)
        _check_rocm(packages, request, config, workdir, offline)
    env, notes = entry_env(request.profile, request.target)
    return LockEntry(
        profile=request.profile.name,
        target=request.target,
        python=request.python,
        platform=PLATFORM,
        packages=tuple(sorted(packages, key=lambda p: p.name)),
        env=env,
        system=request.profile.system if request.target.is_rocm else (),
        notes=tuple(notes),
        inputs_hash=request.inputs_hash(),
    )


# --- locking a project -----------------------------------------------------------------


@dataclass(frozen=True)
class EntryOutcome:
    request: Request
    entry: LockEntry | None  # None with --check
    status: str  # "resolved", "unchanged", "stale", "missing", "fresh"


@dataclass(frozen=True)
class LockOutcome:
    path: Path
    outcomes: tuple[EntryOutcome, ...]
    written: bool
    checked: bool
    exported: tuple[Path, ...] = ()

    @property
    def up_to_date(self) -> bool:
        return all(o.status in ("fresh", "unchanged") for o in self.outcomes)


def _existing(path: Path) -> Lock | None:
    return read_lock(path) if path.exists() else None


def plan(
    project: Project | None,
    profiles: Sequence[str],
    targets: Sequence[Target],
    python: str | None,
    existing: Lock | None,
) -> list[Request]:
    """The requests for ``mlstack lock``: profiles x targets, plus kept extra entries."""
    profile_set = project.profile_set() if project else ProfileSet.load()
    cat = project.catalog() if project else catalog()
    full = not profiles and not targets
    names = list(profiles) or (project.lock_profiles() if project else [])
    if not names:
        raise MlstackError("no profile to lock",
                           "name one (mlstack lock minimal) or create mlstack.toml")
    chosen_targets = list(targets) or list(project.targets if project else ())
    if not chosen_targets:
        from mlstack_env.hardware import detect

        chosen_targets = [detect().target]
    requests: list[Request] = []
    seen: set[str] = set()
    for name in names:
        merged = profile_set.get(name)
        py = choose_python(merged, python, project)
        wanted = list(chosen_targets)
        if full and existing is not None:
            # Keep entries added for other machines (env create on a new target).
            wanted += [e.target for e in existing.entries
                       if e.profile == name and e.python == py and e.target not in wanted]
        for target in wanted:
            req = make_request(merged, target, py, cat)
            if req.key not in seen:
                seen.add(req.key)
                requests.append(req)
    return requests


def lock(
    *,
    project: Project | None,
    profiles: Sequence[str] = (),
    targets: Sequence[Target] = (),
    python: str | None = None,
    output: Path | None = None,
    check: bool = False,
    export_dir: Path | None = None,
    offline: bool = False,
    progress: Progress | None = None,
) -> LockOutcome:
    """What ``mlstack lock`` does. Fresh entries are reused without calling uv."""
    if output is None:
        if project is None:
            raise MlstackError(
                "no mlstack.toml here or in any parent directory, and no -o FILE",
                "create mlstack.toml (see docs/profiles.md), pass --project DIR, or write "
                "the lock elsewhere with -o FILE",
            )
        output = project.lock_path
    existing = _existing(output)
    requests = plan(project, profiles, targets, python, existing)
    full = not profiles and not targets
    outcomes: list[EntryOutcome] = []
    config = load_config()
    for req in requests:
        old = existing.get(req.key) if existing else None
        fresh = old is not None and old.inputs_hash == req.inputs_hash()
        if check:
            outcomes.append(EntryOutcome(req, old, "fresh" if fresh else
                                         ("stale" if old else "missing")))
            continue
        if fresh and old is not None:
            outcomes.append(EntryOutcome(req, old, "unchanged"))
            continue
        if progress:
            progress(req.key)
        outcomes.append(EntryOutcome(req, resolve(req, config, offline), "resolved"))
    if check:
        return LockOutcome(output, tuple(outcomes), written=False, checked=True)
    new_entries = [o.entry for o in outcomes if o.entry is not None]
    resolved_any = any(o.status == "resolved" for o in outcomes)
    if existing is not None and not resolved_any:
        base = Lock((), existing.mlstack_version, existing.uv_version)
    else:
        base = Lock((), __version__, uv.version())
    if full or existing is None:
        new_lock = base.merged(new_entries)
    else:
        new_lock = Lock(existing.entries, base.mlstack_version, base.uv_version).merged(
            new_entries)
    text = dumps(new_lock)
    written = not output.exists() or output.read_text(encoding="utf-8") != text
    if written:
        write_atomic(output, text)
    exported: list[Path] = []
    if export_dir is not None:
        for entry in new_lock.entries:
            path = export_dir / f"pylock.{pylock_name(entry)}.toml"
            write_atomic(path, to_pylock(entry))
            exported.append(path)
    return LockOutcome(output, tuple(outcomes), written, False, tuple(exported))


def pylock_name(entry: LockEntry) -> str:
    """A PEP 751 file name part: ``ml-rocm6.4-gfx1100-py3.12`` (letters, digits, ``.-_``)."""
    raw = f"{entry.profile}-{entry.target}-py{entry.python}"
    return re.sub(r"[^A-Za-z0-9._-]+", "-", raw.replace(":", "-").replace(",", "-"))


# --- the entry an environment installs -------------------------------------------------


def entry_for_env(  # noqa: PLR0917 - the signature env creation calls
    profile: str,
    target: Target,
    python: str | None,
    project_dir: Path | None,
    locked: bool = False,
    offline: bool = False,
) -> LockEntry:
    """The lock entry that ``mlstack env create`` should install for ``profile`` on ``target``.

    * In a project (``project_dir`` = ``--project DIR``, else ``mlstack.toml`` found from the
      working directory upward): the entry of the project's ``mlstack.lock`` for this
      profile that fits ``target`` (and ``python``; see ``lockfile.fits``). A stale entry
      (its inputs changed) is re-resolved and the lock rewritten first; with
      ``locked=True`` that is an MlstackError instead. When the lock has no entry for this
      target (or no lock exists), one is resolved and added to ``mlstack.lock`` (with
      ``locked=True``: an MlstackError).
    * Outside a project: the built-in (or named) profile resolved for ``target``; nothing
      is written.

    ``python`` None means the project's ``python``, else the newest installed Python the
    profile allows. ``offline`` makes uv resolve from its cache only. Raises MlstackError
    for every user-facing failure (unknown profile, no Python, unreachable index, …).
    """
    project = find_project(Path.cwd(), project_dir)
    profile_set = project.profile_set() if project else ProfileSet.load()
    cat = project.catalog() if project else catalog()
    merged = profile_set.get(profile)
    py = choose_python(merged, python, project)
    if project is None:
        return resolve(make_request(merged, target, py, cat), offline=offline)
    existing = _existing(project.lock_path)
    candidates = [e for e in (existing.entries if existing else ())
                  if e.profile == profile and fits(e, target, py)]
    candidates.sort(key=lambda e: (len(e.target.gfx), e.target != target))
    if candidates:
        entry = candidates[0]
        request = make_request(merged, entry.target, py, cat)
        if entry.inputs_hash == request.inputs_hash():
            return entry
        if locked:
            raise MlstackError(
                f"{project.lock_path} is stale for {entry.key}: its inputs changed "
                "(profile, sources or catalog)",
                "run `mlstack lock` and commit the lock, or drop --locked",
            )
    else:
        if locked:
            have = ", ".join(sorted({str(e.target) for e in existing.entries
                                     if e.profile == profile})) if existing else "none"
            raise MlstackError(
                f"{project.lock_path} has no entry for {profile} on {target} (Python {py}); "
                f"locked targets: {have or 'none'}",
                f"run `mlstack lock --target {target}` and commit the lock, or drop --locked",
            )
        request = make_request(merged, target, py, cat)
    entry = resolve(request, offline=offline)
    if existing is not None:
        new_lock = Lock(existing.entries, __version__, uv.version()).merged([entry])
    else:
        new_lock = Lock((entry,), __version__, uv.version())
    write_atomic(project.lock_path, dumps(new_lock))
    return entry

"""What an env (or a lock entry) holds and why: ``mlstack tree``; and the versions that
matter, for ``env create``'s last lines.

The lock records packages, versions and wheel sizes, but not who requires whom (uv's
resolution graph is not in it). That comes from the installed ``*.dist-info/METADATA``
``Requires-Dist`` lines: of the env's venv, else of the store entry that an env of the
same lock entry would use, else of uv's unpacked wheels in its cache. Which packages are
the profile's own requirements comes from the profile as it is now; when it cannot be
loaded, the packages nothing else requires stand in for them.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlstack_env.core import paths
from mlstack_env.core.metadata import canonical_name
from mlstack_env.core.record import field, record
from mlstack_env.core.requiresdist import LeanRequirement, parse
from mlstack_env.lockfile import LockedPackage, LockEntry, key_versions

if TYPE_CHECKING:  # packaging loads only for what core/requiresdist.py leaves to it
    from packaging.requirements import Requirement

# --- metadata ---------------------------------------------------------------------------


@record
class DistMeta:
    name: str  # normalized
    version: str
    requires: tuple[str, ...]  # Requires-Dist lines


def read_metadata(dist_info: Path) -> DistMeta | None:
    from mlstack_env.core.metadata import metadata_headers

    try:
        text = (dist_info / "METADATA").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    headers = metadata_headers(text)
    name, version = headers.get("name", [""])[0], headers.get("version", [""])[0]
    if not name or not version:
        return None
    return DistMeta(canonical_name(name), version,
                    tuple(headers.get("requires-dist", ())))


def site_packages(venv: Path) -> list[Path]:
    return sorted(p for p in (venv / "lib").glob("python3*/site-packages") if p.is_dir())


def installed(venv: Path) -> dict[str, DistMeta]:
    """The dists installed in a venv, by normalized name."""
    out: dict[str, DistMeta] = {}
    for sp in site_packages(venv):
        for d in sorted(sp.glob("*.dist-info")):
            meta = read_metadata(d)
            if meta is not None:
                out[meta.name] = meta
    return out


def cached(wanted: Mapping[str, str]) -> dict[str, DistMeta]:
    """Metadata of the ``{name: version}`` wanted, from the wheels uv unpacked in its cache."""
    out: dict[str, DistMeta] = {}
    archive = paths.uv_cache_dir()
    for d in sorted(archive.glob("archive-v*/*/*.dist-info")):
        # `{name}-{version}.dist-info`: a cache holds every wheel uv ever unpacked, so
        # only the METADATA of the names wanted is read.
        name, dash, _version = d.name.removesuffix(".dist-info").rpartition("-")
        if dash and canonical_name(name) not in wanted:
            continue
        meta = read_metadata(d)
        if meta is not None and wanted.get(meta.name) == meta.version:
            out[meta.name] = meta
    return out


# --- the graph --------------------------------------------------------------------------

_PLAIN_PYTHON = re.compile(r"[0-9]+\.[0-9]+")


def _marker_env(python: str) -> dict[str, str]:
    """Marker values of the entry's platform (``x86_64-manylinux_2_28``) and Python."""
    return {
        "python_version": python,
        "python_full_version": python + ".0",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "platform_system": "Linux",
        "platform_machine": "x86_64",
        "sys_platform": "linux",
        "os_name": "posix",
        "extra": "",
    }


def _requirements(lines: Iterable[str], lean: bool) -> list[LeanRequirement | Requirement]:
    """The lines packaging reads (an invalid one left out), each read by
    core/requiresdist.py where it can (``lean``), else by packaging."""
    out: list[LeanRequirement | Requirement] = []
    for line in lines:
        found = parse(line) if lean else None
        if found is not None:
            out.append(found)
            continue
        from packaging.requirements import InvalidRequirement, Requirement

        try:
            out.append(Requirement(line))
        except InvalidRequirement:
            continue
    return out


def _invalid_marker() -> tuple[type[Exception], ...]:
    """What packaging raises for a marker it cannot evaluate (invalid, a comparison it
    does not define such as ``python_version ~= "3"``, a name it does not know), once
    packaging has read a line (a marker read by core/requiresdist.py raises nothing)."""
    markers = sys.modules.get("packaging.markers")
    if markers is None:
        return ()
    return (markers.InvalidMarker, markers.UndefinedComparison,
            markers.UndefinedEnvironmentName)


def edges(metas: Mapping[str, DistMeta], present: set[str], python: str,
          direct: Iterable[Requirement] = ()) -> dict[str, set[str]]:
    """name -> the present packages it requires, with markers evaluated for the entry
    (an extra's requirements count when some present package, or the profile, asks for
    that extra)."""
    env = _marker_env(python)
    # core/requiresdist.py evaluates markers for a plain release of Python only; the
    # lock's `python` is one.
    lean = _PLAIN_PYTHON.fullmatch(python) is not None
    parsed = {n: _requirements(m.requires, lean) for n, m in metas.items()}
    extras: dict[str, set[str]] = {}
    every: list[Iterable[LeanRequirement | Requirement]] = [*parsed.values(), list(direct)]
    for reqs in every:
        for r in reqs:
            extras.setdefault(canonical_name(r.name), set()).update(r.extras)
    invalid = _invalid_marker()
    out: dict[str, set[str]] = {n: set() for n in present}
    for name, reqs in parsed.items():
        for r in reqs:
            child = canonical_name(r.name)
            if child not in present or child == name:
                continue
            try:
                ok = r.marker is None or any(
                    r.marker.evaluate({**env, "extra": e}) for e in ("", *extras.get(name, ())))
            except invalid:
                ok = True
            if ok:
                out.setdefault(name, set()).add(child)
    return out


@record
class TreePackage:
    name: str
    version: str
    wheel_size: int | None
    requires: tuple[str, ...]
    required_by: tuple[str, ...]
    requirement: str | None  # the profile's requirement string, for a direct one
    pulled_by: tuple[str, ...]  # the direct requirements that bring it in

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "version": self.version, "wheel_size": self.wheel_size,
            "requires": list(self.requires), "required_by": list(self.required_by),
            "direct": self.requirement is not None, "requirement": self.requirement,
            "pulled_by": list(self.pulled_by),
        }


@record
class PackageTree:
    key: str
    source: str  # "env ml (generation 3)" or the lock file
    packages: tuple[TreePackage, ...]
    graph_from: str | None  # where Requires-Dist came from; None: unknown
    direct_from: str  # "profile ml (mlstack.toml)" or "packages nothing else requires"
    missing_metadata: tuple[str, ...] = ()
    disk: int | None = None  # the env's venv on disk, hardlinks counted once
    key_versions: tuple[str, ...] = field(default_factory=tuple)

    @property
    def wheel_total(self) -> int:
        return sum(p.wheel_size or 0 for p in self.packages)

    def get(self, name: str) -> TreePackage | None:
        return next((p for p in self.packages if p.name == name), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "entry": self.key,
            "source": self.source,
            "graph_from": self.graph_from,
            "direct_from": self.direct_from,
            "missing_metadata": list(self.missing_metadata),
            "wheel_bytes": self.wheel_total,
            "disk_bytes": self.disk,
            "key_versions": list(self.key_versions),
            "packages": [p.to_json() for p in self.packages],
        }


def wheel_size(package: LockedPackage, python: str) -> int | None:
    """The size of the wheel an install takes: the only one, else the one for this
    CPython, else the pure-Python one."""
    wheels = list(package.wheels)
    if len(wheels) > 1:
        cp = "-cp" + python.replace(".", "")
        wheels = [w for w in wheels if cp in w.filename] or \
            [w for w in wheels if w.filename.endswith("-none-any.whl")] or wheels[:1]
    return wheels[0].size if wheels else None


def build(entry: LockEntry, metas: Mapping[str, DistMeta], *, source: str,
          graph_from: str | None, direct: list[Requirement] | None, direct_from: str,
          disk: int | None = None) -> PackageTree:
    present = {p.name for p in entry.packages}
    known = {n: m for n, m in metas.items() if n in present}
    children = edges(known, present, entry.python, direct or ())
    parents: dict[str, set[str]] = {n: set() for n in present}
    for parent, kids in children.items():
        for kid in kids:
            parents[kid].add(parent)
    if direct is not None:
        requirement: dict[str, str] = {canonical_name(r.name): str(r) for r in direct
                                       if canonical_name(r.name) in present}
    else:
        requirement = {}
        direct_from = "packages nothing else requires (the profile could not be read)"
    if not requirement:
        requirement = {n: n for n in present if not parents[n]}
    pulled = _pulled_by(present, requirement, children)
    packages = tuple(
        TreePackage(
            name=p.name, version=p.version, wheel_size=wheel_size(p, entry.python),
            requires=tuple(sorted(children.get(p.name, ()))),
            required_by=tuple(sorted(parents[p.name])),
            requirement=requirement.get(p.name),
            pulled_by=tuple(sorted(pulled[p.name])),
        )
        for p in sorted(entry.packages, key=lambda p: p.name)
    )
    missing = tuple(sorted(present - set(known))) if graph_from else ()
    return PackageTree(entry.key, source, packages, graph_from, direct_from, missing, disk,
                       tuple(key_versions(entry)))


def _pulled_by(present: set[str], roots: Iterable[str], children: Mapping[str, Iterable[str]]
               ) -> dict[str, set[str]]:
    """For each package, the requirements (``roots``) that pull it in."""
    pulled: dict[str, set[str]] = {n: set() for n in present}
    for root in roots:
        stack, seen = [root], set()
        while stack:
            n = stack.pop()
            if n in seen:
                continue
            seen.add(n)
            if n != root:
                pulled[n].add(root)
            stack.extend(children.get(n, ()))
    return pulled


def profile_requirements(profile: str, near: Path | None) -> tuple[list[Requirement], str] | None:
    """The requirements of ``profile`` as it is now: the project's (``mlstack.toml`` found
    from ``near``, else from the working directory) or the built-in one; None when it
    cannot be read."""
    from mlstack_env.core.errors import ManifestError
    from mlstack_env.manifest.project import find_project

    try:
        project = find_project(near) if near is not None else None
        project = project or find_project(Path.cwd())
        if not (project and profile in project.profiles) \
                and profile not in paths.builtin_profile_names():
            return None  # unknown: loading every built-in profile would only say so
        from mlstack_env.manifest.profiles import ProfileSet

        profiles = project.profile_set() if project else ProfileSet.load()
        merged = profiles.get(profile)
    except ManifestError:
        return None
    from packaging.requirements import Requirement

    where = str(project.manifest_path) if project and profile in project.profiles else "built-in"
    return [Requirement(r) for r in merged.packages], f"profile {profile} ({where})"


def env_tree(name: str) -> PackageTree:
    """The tree of env ``name``'s current generation, from its own venv."""
    from mlstack_env.core.diskusage import usage
    from mlstack_env.core.errors import EnvNotFound
    from mlstack_env.store.generations import get_env

    env = get_env(name)
    gen = env.current()
    if gen is None:
        raise EnvNotFound(name)
    entry = gen.entry()
    fp = gen.fingerprint()
    near = Path(fp.source).parent if fp and fp.source.endswith(".lock") else None
    venv = gen.venv.resolve()
    found = profile_requirements(entry.profile, near)
    return build(entry, installed(venv), source=f"env {name} (generation {gen.number})",
                 graph_from=f"the env's venv ({venv})",
                 direct=found[0] if found else None, direct_from=found[1] if found else "",
                 disk=usage(venv).total)


def entry_tree(entry: LockEntry, source: str, near: Path | None) -> PackageTree:
    """The tree of a lock entry: the graph from the store entry an env of it uses, else
    from uv's cache, else unknown."""
    from mlstack_env.store.entries import Store, store_key

    store = Store()
    key = store_key(entry)
    wanted = {p.name: p.version for p in entry.packages}
    metas: dict[str, DistMeta] = {}
    graph_from: str | None = None
    if store.has(key):
        metas = installed(store.entry(key).path)
        graph_from = f"the store entry {key}"
    else:
        metas = cached(wanted)
        if metas:
            graph_from = f"the wheels in uv's cache ({paths.uv_cache_dir()})"
    found = profile_requirements(entry.profile, near)
    return build(entry, metas, source=source, graph_from=graph_from,
                 direct=found[0] if found else None, direct_from=found[1] if found else "")

"""One request through uv into a lock entry: compile to pylock, read it back with canonical
URLs (a lock never holds a mirror URL), check for CUDA builds, add the entry's variables."""

from __future__ import annotations

import tempfile
import tomllib
import urllib.parse
from pathlib import Path

from packaging.utils import canonicalize_name

from mlstack_env.catalog.sourcemodel import ConcreteSource, SourceKind
from mlstack_env.core.errors import InternalError, SourceError, TargetError
from mlstack_env.fetch.config import UserConfig, load_config
from mlstack_env.fetch.indexpages import PageError, ProjectPages
from mlstack_env.lockfile import Lock, LockedPackage, LockEntry, Wheel
from mlstack_env.resolve.cudacheck import check_rocm
from mlstack_env.resolve.prerelease import check_prereleases
from mlstack_env.resolve.request import Request, entry_env
from mlstack_env.resolve.uvcompile import Relock, Upgrade, compile_request
from mlstack_env.rocmwheels import rocmsdk


def resolve(request: Request, config: UserConfig | None = None, offline: bool = False, *,
            previous: LockEntry | None = None, upgrade: Upgrade | None = None,
            lock: Lock | None = None) -> LockEntry:
    """Resolve one request through uv into a lock entry (canonical URLs, checked for CUDA).

    ``previous``: the entry it replaces, whose versions uv keeps where it can (only what
    the changed inputs or ``upgrade`` need moves). ``lock``: the lock it goes into, whose
    canonical URLs a file fetched through a mirror of another layout keeps."""
    config = config or load_config()
    with tempfile.TemporaryDirectory(prefix="mlstack-lock-") as tmp:
        workdir = Path(tmp)
        output = workdir / "pylock.toml"  # uv insists on this name
        compile_request(request, config, workdir, "pylock.toml", output, offline=offline,
                        relock=Relock(previous, upgrade))
        known = [*(previous.packages if previous else ()),
                 *(p for e in (lock.entries if lock else ()) for p in e.packages)]
        packages = _parse_pylock(output, request, config, known)
        rocmsdk.check_entry(request.target, packages, request.wheel_indexes, request.key,
                            device_all=rocmsdk.asks_device_all(request.profile.packages))
        check_prereleases(packages, request, config, offline=offline)
        check_rocm(packages, request, config, workdir, offline)
    core = next((p for p in packages if p.name == rocmsdk.CORE), None)
    if rocmsdk.release_of(request.target) is not None and core is not None \
            and core.index is not None:
        # torch imports rocm_sdk, which only the selector sdist ships: pin it beside the
        # rocm-sdk-* wheels, same index, same version (rocmselector: unpacked, never built).
        from mlstack_env.rocmwheels.rocmselector import locate

        packages.append(locate(core.index, core.version, config, offline=offline,
                               previous=previous, key=request.key))
    torch = next((p.version for p in packages if p.name == "torch"), None)
    env, notes = entry_env(request.profile, request.target, torch)
    size = rocmsdk.device_all_note(request.target, packages)
    if size is not None:
        notes.append(size)
    system = request.profile.system if request.target.is_rocm else ()
    if rocmsdk.release_of(request.target) is not None:
        # ROCm itself is in the entry: the host provides none of ROCm's packages.
        from mlstack_env.system.catalog import system_catalog

        system, dropped = system_catalog().beside_rocm_wheels(system)
        if dropped:
            notes.append(f"ROCm's user space is in the entry (rocm-sdk-* wheels): "
                         f"{', '.join(dropped)} not needed from the host")
    return LockEntry(
        profile=request.profile.name,
        target=request.target,
        python=request.python,
        platform=request.platform,
        packages=tuple(sorted(packages, key=lambda p: p.name)),
        env=env,
        system=tuple(system),
        notes=tuple(notes),
        inputs_hash=request.inputs_hash(),
    )


def _parse_pylock(path: Path, request: Request, config: UserConfig,
                  previously: list[LockedPackage]) -> list[LockedPackage]:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InternalError(f"cannot read uv's pylock output {path}: {exc}") from None
    # Files the lock already records, with a URL first (a lock keeps what it knew).
    known: dict[tuple[str, str], Wheel] = {}
    for w in (w for p in previously for w in p.files):
        if w.url or (w.filename, w.sha256) not in known:
            known[(w.filename, w.sha256)] = w
    pages = ProjectPages()  # a mirror's project pages, read once for the whole entry
    packages: list[LockedPackage] = []
    for p in raw.get("packages", []):
        name = canonicalize_name(p["name"])
        served: list[tuple[str, str, int | None]] = []  # (url uv fetched, sha256, size)
        for w in p.get("wheels", []):
            sha = w.get("hashes", {}).get("sha256")
            if not sha:
                raise SourceError(
                    f"resolving {request.key}: {w['url']} has no sha256 on its index",
                    "use an index that publishes hashes (PEP 503 #sha256= fragments)",
                )
            served.append((w["url"], sha, w.get("size")))
        if not served:
            raise TargetError(
                f"resolving {request.key}: {name} {p.get('version')} has no wheel for "
                f"Python {request.python} on {request.platform}",
                "pin a version with wheels, or choose another Python",
            )
        canonical = [config.canonical(url) for url, _, _ in served]
        owner = next((s for s in request.sources if all(s.owns(u) for u in canonical)), None)
        if owner is not None:
            # Fetched from the source itself, or through a mirror that copies its layout
            # (a [mirrors] prefix maps the file back under the source's URLs).
            wheels = [Wheel(u, sha, size) for u, (_, sha, size) in zip(canonical, served,
                                                                        strict=True)]
            # A find-links folder is no index: its files are found by their URLs (never
            # by name on PyPI's mirror, which does not carry them).
            index = owner.url if owner.kind is SourceKind.INDEX else None
        else:
            source = _served_by(str(name), served, request, config, pages)
            index = source.url if source.kind is SourceKind.INDEX else None
            wheels = [_by_name(url, sha, source, known) for url, sha, _ in served]
        packages.append(LockedPackage(name, str(p["version"]), index, tuple(wheels)))
    return packages


def _by_name(url: str, sha: str, source: ConcreteSource,
             known: dict[tuple[str, str], Wheel]) -> Wheel:
    """A file uv fetched from a mirror with its own layout: the mirror's URL says nothing
    of the canonical one, so the lock records the file's name and sha256 only (what any
    mirror of the index serves alike) — or what the entry it replaces knew of the same
    file. A find-links folder's files sit in the folder: its URL is the folder's + name."""
    filename = urllib.parse.unquote(urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1])
    if (filename, sha) in known:
        return known[(filename, sha)]
    if source.kind is SourceKind.FIND_LINKS:
        return Wheel(source.url.rstrip("/") + "/" + urllib.parse.quote(filename), sha)
    return Wheel("", sha, None, name=filename)


def _served_by(name: str, served: list[tuple[str, str, int | None]], request: Request,
               config: UserConfig, pages: ProjectPages) -> ConcreteSource:
    """The source whose mirror uv took a package from, when the file URLs do not say (a
    mirror with its own layout): the first source, in uv's search order, whose mirror's
    project page lists the files with their sha256 — uv's first-index rule, replayed."""
    want = {(urllib.parse.unquote(urllib.parse.urlsplit(u).path.rsplit("/", 1)[-1]), sha)
            for u, sha, _ in served}
    for source in request.sources:
        mirror = config.rewrite(source.url)
        if mirror == source.url:
            continue  # not mirrored: a file from it would carry its canonical URL
        try:
            listed = pages.files(mirror, name, flat=source.kind is SourceKind.FIND_LINKS)
        except PageError as err:
            if err.missing:
                continue
            raise SourceError(
                f"resolving {request.key}: cannot read the mirror page {err.url} for "
                f"{name}: {err.why}",
                f"check that the mirror of {source.url} is up ([mirrors] in the mlstack "
                "config)") from None
        if want <= {(f.filename, f.sha256) for f in listed.values()}:
            return source
    urls = ", ".join(u for u, _, _ in served)
    raise SourceError(
        f"resolving {request.key}: uv took {name} from {urls}, which is neither under a "
        "configured source nor listed by the mirror of one",
        "map each source's index URL to its mirror in [mirrors] (docs/team.md#mirrors)")

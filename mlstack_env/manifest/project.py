"""The project manifest ``mlstack.toml``: found from a directory upward, or named.

The one check of ``mlstack.toml`` (:func:`load_project`); finding it and reading its
table (``read_manifest``, through ``core/userfile.py``'s TOML reader) are
``core/projectdir.py``'s. The catalog, the lock format and the sites load when a project
is checked, not with this module.

Top-level keys: ``default-env``, ``targets``, ``python``, ``locked`` (never change
mlstack.lock implicitly), ``site`` (a cluster preset, see ``sites``), ``[profiles.NAME]``
(the profile schema, see ``profiles``), ``[sources.NAME]`` (overrides of
catalog/sources.toml), ``[sites.NAME]`` (overrides of catalog/sites.toml) and
``allow-urls`` (wheel URL prefixes a lock may use beyond the sources' servers).
``mlstack.lock`` lives beside it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from mlstack_env.core.errors import ManifestError, TargetError
from mlstack_env.core.projectdir import MANIFEST_NAME, find_manifest, read_manifest
from mlstack_env.core.record import field, record
from mlstack_env.lockfile import LOCK_NAME
from mlstack_env.manifest.sites import Site, load_site

TYPE_CHECKING = False  # typing costs an import on the fast paths; mypy reads it
if TYPE_CHECKING:  # the profile code (and packaging) loads with a manifest, not before
    from typing import Any

    from mlstack_env.catalog.target import Target
    from mlstack_env.manifest.profiles import Profile, ProfileSet
    from mlstack_env.manifest.sites import Site
PROJECT_KEYS = ("default-env", "targets", "python", "locked", "site", "profiles", "sources",
                "sites", "allow-urls")


@record
class Project:
    """A parsed ``mlstack.toml``. ``profiles`` are as written (see :meth:`profile_set`)."""

    root: Path
    manifest_path: Path
    default_env: str | None = None
    targets: tuple[Target, ...] = ()
    python: str | None = None  # "3.12"
    locked: bool = False  # never change mlstack.lock implicitly (env create refuses)
    profiles: Mapping[str, Profile] = field(default_factory=dict)
    sources: Mapping[str, Any] = field(default_factory=dict)
    text: str = ""
    allow_urls: tuple[str, ...] = ()
    site: str | None = None  # a cluster preset (catalog/sites.toml or [sites.NAME])
    sites: Mapping[str, Any] = field(default_factory=dict)

    @property
    def lock_path(self) -> Path:

        return self.root / LOCK_NAME

    def profile_set(self) -> ProfileSet:
        from mlstack_env.manifest.profiles import ProfileSet

        return ProfileSet.load(self.profiles)

    def catalog(self) -> Any:
        """The source catalog with this project's ``[sources.NAME]`` applied."""
        from mlstack_env.catalog.sources import catalog

        return catalog().with_overrides(self.sources, str(self.manifest_path), self.text)

    def site_preset(self) -> Site | None:
        """The ``site`` preset, or None."""
        if self.site is None:
            return None

        return load_site(self.site, self.sites, str(self.manifest_path))

    def lock_profiles(self) -> list[str]:
        """What a bare ``mlstack lock`` locks: the project's profiles, else its default-env."""
        if self.profiles:
            return sorted(self.profiles)
        if self.default_env:
            return [self.default_env]
        raise ManifestError(
            f"{self.manifest_path} defines no profile and no default-env",
            "add [profiles.NAME] or default-env = \"minimal\", or name a profile: "
            "mlstack lock minimal",
        )


def load_project(manifest: Path, edited: str | None = None) -> Project:
    """The project of ``manifest``; with ``edited``, as if the file held that text."""
    from mlstack_env.catalog.target import parse_python
    from mlstack_env.core.userfile import unknown_key_error
    from mlstack_env.core.userfile import where_key as _where

    raw, text = read_manifest(manifest, edited)
    source = str(manifest)
    for key in raw:
        if key not in PROJECT_KEYS:
            raise unknown_key_error(source, text, key, PROJECT_KEYS, MANIFEST_NAME)

    def where(key: str) -> str:
        return _where(source, text, key)

    default_env = raw.get("default-env")
    if default_env is not None and not isinstance(default_env, str):
        raise ManifestError(f"{where('default-env')}: default-env must be a "
                            "profile name", 'write default-env = "inference"')
    python = raw.get("python")
    if python is not None:
        try:
            parse_python(str(python) if isinstance(python, str) else repr(python),
                         f"{where('python')}: python =")
        except TargetError as err:  # a value in mlstack.toml: the file's kind
            raise ManifestError(err.message, err.hint) from None
    locked = raw.get("locked", False)
    if not isinstance(locked, bool):
        raise ManifestError(f"{where('locked')}: locked must be true or false",
                            "write locked = true")
    targets = _manifest_targets(raw, where)
    profiles = _manifest_profiles(raw, where, source, text)
    sources = raw.get("sources", {})
    if not isinstance(sources, dict):
        raise ManifestError(f"{where('sources')}: 'sources' must be tables "
                            "[sources.NAME]", 'write [sources.NAME] then url = "…"')
    allow_urls = raw.get("allow-urls", [])
    if not isinstance(allow_urls, list) or not all(
        isinstance(u, str) and "://" in u for u in allow_urls
    ):
        raise ManifestError(f"{where('allow-urls')}: allow-urls must be a list "
                            "of URL prefixes", 'write allow-urls = ["https://wheels.example/"]')
    site, sites = _manifest_sites(raw, where)
    project = Project(
        allow_urls=tuple(allow_urls),
        root=manifest.parent,
        manifest_path=manifest,
        default_env=default_env,
        targets=tuple(targets),
        python=python,
        locked=locked,
        profiles=profiles,
        sources=sources,
        text=text,
        site=site,
        sites=sites,
    )
    _check_loaded(project, where)
    return project


def _manifest_targets(raw: Mapping[str, Any], where: Callable[[str], str]) -> list[Target]:
    """``targets = [...]``, parsed, each once."""
    from mlstack_env.catalog.target import Target

    targets_raw = raw.get("targets", [])
    if not isinstance(targets_raw, list) or not all(isinstance(t, str) for t in targets_raw):
        raise ManifestError(f"{where('targets')}: targets must be a list of "
                            "strings", 'write targets = ["rocm6.4:gfx1100", "cpu"]')
    targets: list[Target] = []
    for t in targets_raw:
        try:
            parsed = Target.parse(t)
        except TargetError as err:
            raise ManifestError(f"{where(t)}: {err.message}", err.hint) from None
        if parsed not in targets:
            targets.append(parsed)
    return targets


def _manifest_profiles(raw: Mapping[str, Any], where: Callable[[str], str], source: str,
                       text: str) -> dict[str, Profile]:
    """The ``[profiles.NAME]`` tables, parsed."""
    from mlstack_env.manifest.profiles import parse_profile

    profiles_raw = raw.get("profiles", {})
    if not isinstance(profiles_raw, dict):
        raise ManifestError(f"{where('profiles')}: 'profiles' must be tables "
                            "[profiles.NAME]", "write [profiles.NAME] then packages = [\"…\"]")
    profiles: dict[str, Profile] = {}
    for name, body in profiles_raw.items():
        if not isinstance(body, dict):
            raise ManifestError(f"{where(name)}: profiles.{name} must be a table",
                                f"write [profiles.{name}] then packages = [\"…\"]")
        profiles[name] = parse_profile(name, body, origin="project", source=source, text=text,
                                       table=f"[profiles.{name}]")
    return profiles


def _manifest_sites(raw: Mapping[str, Any], where: Callable[[str], str]
                    ) -> tuple[str | None, dict[str, Any]]:
    """``site = "NAME"`` and the ``[sites.NAME]`` tables, their names checked."""
    site = raw.get("site")
    if site is not None and not isinstance(site, str):
        raise ManifestError(f"{where('site')}: site must be a preset name",
                            'write site = "slurm" (or "lumi", "frontier")')
    sites = raw.get("sites", {})
    if not isinstance(sites, dict):
        raise ManifestError(f"{where('sites')}: 'sites' must be tables "
                            "[sites.NAME]", "write [sites.NAME] then job-cache = true")
    from mlstack_env.manifest.sites import validate_site_name

    for name in ([site] if site is not None else []) + list(sites):
        validate_site_name(name, where("site"), kind=ManifestError)
    return site, sites


def _check_loaded(project: Project, where: Callable[[str], str]) -> None:
    """What needs the whole project: its sources, sites and site, and default-env."""
    project.catalog()  # validate [sources.*] now, naming the file
    if project.sites:
        from mlstack_env.manifest.sites import known_sites

        known_sites(project.sites, str(project.manifest_path))  # and [sites.*], used or not
    project.site_preset()  # and the site
    default_env = project.default_env
    if default_env is not None:
        names = project.profile_set().names()
        if default_env not in names:
            from mlstack_env.manifest.profiles import unknown_profile_error

            unknown = unknown_profile_error(default_env, names)
            raise ManifestError(
                f"{where('default-env')}: default-env {default_env!r} is not "
                "a known profile",
                unknown.hint,
            )


def find_project(start: Path, explicit: Path | None = None) -> Project | None:
    """The project for ``start`` (searching it and its parents for ``mlstack.toml``).

    ``explicit`` (``--project DIR``, or the manifest file itself) must hold a manifest;
    None when there is no project.
    """
    if explicit is not None:
        manifest = explicit / MANIFEST_NAME if explicit.is_dir() else explicit
        if not manifest.is_file():
            raise ManifestError(
                f"no {MANIFEST_NAME} in {explicit}",
                f"pass the directory that holds {MANIFEST_NAME}, or create one there",
            )
        return load_project(manifest.absolute())
    found = find_manifest(start)
    return load_project(Path(found)) if found is not None else None


def with_target(project: Project, target: Target) -> str:
    """mlstack.toml's text with ``target`` appended to ``targets`` (tomlkit: comments and
    layout kept). A new machine's target joins the project here, as pixi's platforms do, so
    that what ``mlstack lock`` writes depends on mlstack.toml alone (docs/team.md)."""
    import tomlkit

    doc = tomlkit.parse(project.text)
    targets = doc.get("targets")
    if targets is None:
        targets = tomlkit.array()
        doc["targets"] = targets
    targets.append(str(target))
    return tomlkit.dumps(doc)


def user_lock_path(project: Project) -> Path:
    """Where this user's entries for the project's *unused* built-in profiles are locked
    (``env create minimal`` in a project whose mlstack.toml does not use ``minimal``):
    under MLSTACK_HOME, one file per project directory, never the team's mlstack.lock."""
    import hashlib
    import os

    from mlstack_env.core import paths

    real = os.path.realpath(project.root)
    key = hashlib.sha256(real.encode()).hexdigest()[:16]
    slug = "".join(c if c.isalnum() or c in "-_." else "-" for c in project.root.name)[:40]
    return paths.home() / "user-locks" / f"{slug or 'project'}-{key}.lock"

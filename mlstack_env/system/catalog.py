"""Loader for ``catalog/system.toml``: distro families, package names, ROCm repositories."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from packaging.specifiers import SpecifierSet

from mlstack_env.catalog import DATA_DIR, parse_version
from mlstack_env.core import tomlmemo
from mlstack_env.core.errors import SystemPackagesError
from mlstack_env.hardware.machine import Distro


@dataclass(frozen=True)
class Family:
    name: str  # debian, el, fedora, suse, arch
    manager: str  # apt, dnf, zypper, pacman
    database: str  # dpkg, rpm, pacman
    ids: tuple[str, ...]
    like: tuple[str, ...]
    update: tuple[str, ...]
    install: tuple[str, ...]
    release_id: str | None = None


@dataclass(frozen=True)
class Repo:
    """How to add AMD's ROCm repository on some releases of a family."""

    family: str
    rocm: SpecifierSet
    kind: str  # apt, dnf, zypper
    key_url: str
    url: str  # with {rocm} and {release} placeholders
    releases: Mapping[str, str]  # "ubuntu:24.04" -> "noble"; "rhel:9" -> "el9"
    keyring: str = ""
    list_file: str = ""
    arch: str = ""
    component: str = ""
    pin_file: str = ""
    pin: str = ""
    pin_priority: int = 0
    repo_file: str = ""
    unconfirmed: bool = False
    # apt: more repositories listed beside ``url`` in the same list file, same suite and
    # component (ROCm 7.x: repo.radeon.com/graphics/<ver>/ubuntu)
    extra_urls: tuple[str, ...] = ()


@dataclass(frozen=True)
class Prerequisite:
    """One step AMD's install guide asks for before ROCm's packages (EPEL, CRB, SUSE
    modules, kernel headers): a command, or a file written whole (idempotent)."""

    family: str
    title: str
    ids: tuple[str, ...] = ()  # only these os-release IDs; empty: the whole family
    command: tuple[str, ...] = ()  # argv, with {major} / {version} placeholders
    file: str = ""
    lines: tuple[str, ...] = ()  # the file's lines, with the same placeholders


@dataclass(frozen=True)
class PackageNames:
    debian: str
    repo: str  # rocm, amdgpu, distro
    per_family: Mapping[str, tuple[str, ...]]
    missing: frozenset[str]


@dataclass(frozen=True)
class SystemCatalog:
    families: Mapping[str, Family]
    repos: tuple[Repo, ...]
    packages: Mapping[str, PackageNames]
    kernels: Mapping[str, tuple[str, ...]]
    prerequisites: tuple[Prerequisite, ...] = ()

    def family_of(self, distro: Distro) -> Family:
        """The family of a distro: by ID, then by ID_LIKE; unknown ones are an error."""
        for family in self.families.values():
            if distro.id in family.ids:
                return family
        for like in distro.id_like:
            for family in self.families.values():
                if like in family.like:
                    return family
        known = ", ".join(sorted(i for f in self.families.values() for i in f.ids))
        raise SystemPackagesError(
            f"unsupported distribution {distro.name!r} (ID={distro.id})",
            hint=f"mlstack knows the package managers of: {known}; plan for one of them "
            "with --distro ID:VERSION, e.g. --distro ubuntu:24.04",
        )

    def names(self, debian_name: str, family: Family) -> tuple[str, ...] | None:
        """The family's package names for a Debian name; None if it has no package."""
        entry = self.packages.get(debian_name)
        if entry is None:
            return (debian_name,)
        if family.name in entry.missing:
            return None
        return entry.per_family.get(family.name, (debian_name,))

    def source(self, debian_name: str) -> str:
        entry = self.packages.get(debian_name)
        return entry.repo if entry else "distro"

    def beside_rocm_wheels(self, names: Iterable[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(kept, dropped): an entry that holds ROCm's user space as wheels (ROCM-FACTS §4b)
        needs none of ROCm's own packages from the host; the driver and distro packages
        stay."""
        kept = tuple(sorted({n for n in names if self.source(n) != "rocm"}))
        dropped = tuple(sorted({n for n in names if self.source(n) == "rocm"}))
        return kept, dropped

    def has_repo(self, family: Family) -> bool:
        """False for families that package ROCm themselves (Fedora, Arch)."""
        return any(r.family == family.name for r in self.repos)

    def repo_for(self, family: Family, distro: Distro, rocm: str) -> tuple[Repo, str]:
        """AMD's repository row and release word for this distro release and ROCm version;
        an error when there is none for them."""
        rows = [r for r in self.repos if r.family == family.name]
        version = parse_version(rocm)
        keys = release_keys(family, distro)
        for row in rows:
            if version not in row.rocm:
                continue
            for key in keys:
                if key in row.releases:
                    return row, row.releases[key]
        known = sorted(
            {k for r in rows if version in r.rocm for k in r.releases}
        )
        listed = ", ".join(known) or "none"
        raise SystemPackagesError(
            f"AMD's ROCm {rocm} repository has no packages for {distro.name} "
            f"({distro.id}:{distro.version_id})",
            hint=f"releases with a ROCm {rocm} repository: {listed}; plan for one with "
            "--distro ID:VERSION",
        )

    def prerequisites_for(self, family: Family, distro: Distro) -> tuple[Prerequisite, ...]:
        return tuple(p for p in self.prerequisites
                     if p.family == family.name and (not p.ids or distro.id in p.ids))

    def kernel_series(self, family: Family, distro: Distro) -> tuple[str, ...] | None:
        for key in release_keys(family, distro):
            if key in self.kernels:
                return self.kernels[key]
        return None


def release_keys(family: Family, distro: Distro) -> list[str]:
    """Lookup keys for a release, most specific first: ``rhel:9.4``, ``rhel:9``."""
    ident = family.release_id or distro.id
    version = distro.version_id
    keys = [f"{ident}:{version}"]
    major = version.split(".")[0]
    if major and major != version:
        keys.append(f"{ident}:{major}")
    return keys


def repo_version(rocm: str) -> str:
    """The ROCm version as repo.radeon.com folders spell it: 6.4.0 -> 6.4, 6.4.1 stays."""
    v = parse_version(rocm)
    return f"{v.major}.{v.minor}" if v.micro == 0 else f"{v.major}.{v.minor}.{v.micro}"


def _strs(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value)


@cache
def system_catalog() -> SystemCatalog:
    raw = tomlmemo.load(DATA_DIR / "system.toml")
    families = {
        name: Family(
            name=name,
            manager=row["manager"],
            database=row["database"],
            ids=_strs(row["ids"]),
            like=_strs(row.get("like", [])),
            update=_strs(row.get("update", [])),
            install=_strs(row["install"]),
            release_id=row.get("release-id"),
        )
        for name, row in raw["family"].items()
    }
    repos = tuple(
        Repo(
            family=row["family"],
            rocm=SpecifierSet(row["rocm"]),
            kind=row["kind"],
            key_url=row["key-url"],
            url=row["url"],
            releases=dict(row["releases"]),
            keyring=row.get("keyring", ""),
            list_file=row.get("list-file", ""),
            arch=row.get("arch", ""),
            component=row.get("component", ""),
            pin_file=row.get("pin-file", ""),
            pin=row.get("pin", ""),
            pin_priority=int(row.get("pin-priority", 0)),
            repo_file=row.get("repo-file", ""),
            unconfirmed=bool(row.get("unconfirmed", False)),
            extra_urls=_strs(row.get("extra-urls", [])),
        )
        for row in raw["repo"]
    )
    prerequisites = tuple(
        Prerequisite(
            family=row["family"],
            title=row["title"],
            ids=_strs(row.get("ids", [])),
            command=_strs(row.get("command", [])),
            file=row.get("file", ""),
            lines=_strs(row.get("lines", [])),
        )
        for row in raw.get("prerequisite", [])
    )
    packages = {
        name: PackageNames(
            debian=name,
            repo=row.get("repo", "distro"),
            per_family={f: _strs(row[f]) for f in families if f in row},
            missing=frozenset(row.get("missing", [])),
        )
        for name, row in raw["package"].items()
    }
    kernels = {k: _strs(v) for k, v in raw.get("kernels", {}).items()}
    return SystemCatalog(families, repos, packages, kernels, prerequisites)


def kernel_series(kernel: str) -> str | None:
    """``6.8`` for ``6.8.0-45-generic``."""
    parts = kernel.split(".")
    if len(parts) < 2 or not parts[0].isdigit():
        return None
    minor = "".join(c for c in parts[1] if c.isdigit()) if parts[1] else ""
    return f"{parts[0]}.{minor}" if minor else None

"""Which of an entry's system packages are installed: names mapped, database asked."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from mlstack_env.system.catalog import Family, SystemCatalog
from mlstack_env.system.packagedb import PackageDb


@dataclass(frozen=True)
class PackageStatus:
    name: str  # as the profile wrote it (ROCm's Debian name)
    packages: tuple[str, ...]  # this family's package names for it
    installed: bool
    version: str | None  # of the first of ``packages``, when installed
    available: bool = True  # False when the family has no package for it

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "installed": self.installed,
            "version": self.version,
            "packages": list(self.packages),
            "available": self.available,
        }


def check_packages(
    names: Iterable[str], family: Family, catalog: SystemCatalog, db: PackageDb
) -> list[PackageStatus]:
    """Ask ``db`` once for every package behind ``names``; one status per name, sorted.

    A name that maps to several packages is installed when all of them are; one that maps
    to none (the kernel carries it) counts as installed.
    """
    mapped: dict[str, tuple[str, ...] | None] = {
        n: catalog.names(n, family) for n in sorted(set(names))
    }
    wanted = sorted({p for pkgs in mapped.values() if pkgs for p in pkgs})
    found = db.query(wanted) if wanted else {}
    out = []
    for name, pkgs in mapped.items():
        if pkgs is None:
            out.append(PackageStatus(name, (), installed=False, version=None, available=False))
            continue
        versions = [found.get(p) for p in pkgs]
        installed = all(v is not None for v in versions)
        out.append(PackageStatus(name, pkgs, installed, versions[0] if pkgs else None))
    return out

"""The one seam to the system's package database (dpkg, rpm, pacman).

``mlstack system check`` and ``doctor`` ask a :class:`PackageDb` which packages are
installed; tests pass a hand-written fake, and one test asks the real dpkg.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable, Mapping
from typing import Protocol

from mlstack_env.core.errors import SystemPackagesError


class PackageDb(Protocol):
    """Installed versions by package name; None for a package that is not installed."""

    def query(self, names: Iterable[str]) -> dict[str, str | None]: ...


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    tool = argv[0]
    if shutil.which(tool) is None:
        raise SystemPackagesError(
            f"cannot read the package database: {tool} is not installed",
            hint="run on the machine the packages are for, or check them by hand",
        )
    try:
        return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise SystemPackagesError(
            f"cannot read the package database with {tool}: {e}",
            hint=f"run `{' '.join(argv)}` by hand to see why",
        ) from None


# dpkg's Status-Abbrev: desired action, then the state; these states mean installed
# (config-files, half-installed and the like do not).
_DPKG_INSTALLED = frozenset("iWt")


def parse_dpkg(text: str) -> dict[str, str]:
    """``name<TAB>status<TAB>version`` lines (dpkg-query -W) -> installed versions."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) != 3:
            continue
        name, status, version = parts
        if len(status) >= 2 and status[1] in _DPKG_INSTALLED and version:
            found.setdefault(name.split(":")[0], version)
    return found


class DpkgDb:
    def query(self, names: Iterable[str]) -> dict[str, str | None]:
        wanted = sorted(set(names))
        if not wanted:
            return {}
        # Exit status 1 and "no packages found matching" on stderr for unknown names:
        # that is an answer (not installed), not a failure.
        proc = _run(
            ["dpkg-query", "-W", "-f=${Package}\t${db:Status-Abbrev}\t${Version}\n", "--", *wanted]
        )
        if proc.returncode > 1:
            raise SystemPackagesError(
                f"dpkg-query failed: {proc.stderr.strip() or f'exit {proc.returncode}'}",
                hint="run `dpkg-query -W` by hand to see why",
            )
        found = parse_dpkg(proc.stdout)
        return {n: found.get(n) for n in wanted}


def parse_rpm(text: str) -> dict[str, str]:
    """``name<TAB>version-release`` lines (rpm -q --qf) -> installed versions.

    rpm prints ``package X is not installed`` for the others, without a tab.
    """
    found: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) == 2 and parts[0] and parts[1]:
            found.setdefault(parts[0], parts[1])
    return found


class RpmDb:
    def query(self, names: Iterable[str]) -> dict[str, str | None]:
        wanted = sorted(set(names))
        if not wanted:
            return {}
        proc = _run(["rpm", "-q", "--qf", "%{NAME}\t%{VERSION}-%{RELEASE}\n", "--", *wanted])
        found = parse_rpm(proc.stdout)
        return {n: found.get(n) for n in wanted}


def parse_pacman(text: str) -> dict[str, str]:
    """``name version`` lines (pacman -Q) -> installed versions."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2:
            found.setdefault(parts[0], parts[1])
    return found


class PacmanDb:
    def query(self, names: Iterable[str]) -> dict[str, str | None]:
        wanted = sorted(set(names))
        if not wanted:
            return {}
        proc = _run(["pacman", "-Q", "--", *wanted])
        found = parse_pacman(proc.stdout)
        return {n: found.get(n) for n in wanted}


_DATABASES: Mapping[str, type[DpkgDb] | type[RpmDb] | type[PacmanDb]] = {
    "dpkg": DpkgDb,
    "rpm": RpmDb,
    "pacman": PacmanDb,
}


def package_db(database: str) -> PackageDb:
    """The real database of a family (``dpkg``, ``rpm``, ``pacman``)."""
    return _DATABASES[database]()

"""``env verify``: every installed file against its wheel's RECORD hash (the dist-info
RECORD in site-packages), and the installed set against the locked versions."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from email.parser import HeaderParser
from enum import StrEnum
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from mlstack_env.lockfile import LockEntry
from mlstack_env.rocmwheels.rocmroot import INIT_RECORD, INIT_REMOVED, record_digest
from mlstack_env.store.files import own_directory


class ProblemKind(StrEnum):
    """What is wrong with an installed package (its value is the JSON ``kind``)."""

    MODIFIED = "modified"
    MISSING_FILE = "missing-file"
    VERSION = "version"
    MISSING = "missing"
    EXTRA = "extra"
    VENV = "venv"
    STRAY = "stray"


@dataclass(frozen=True)
class Problem:
    package: str
    kind: ProblemKind
    detail: str

    def to_json(self) -> dict[str, str]:
        return {"package": self.package, "kind": self.kind, "detail": self.detail}


@dataclass(frozen=True)
class Installed:
    name: str
    version: str
    dist_info: Path


@dataclass
class VerifyReport:
    venv: Path
    packages: int = 0
    files: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def changed(self) -> list[str]:
        return sorted({p.package for p in self.problems})

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "packages": self.packages,
            "files": self.files,
            "changed": self.changed,
            "problems": [p.to_json() for p in self.problems],
        }


def site_packages(venv: Path) -> Path | None:
    found = sorted(venv.glob("lib/python3.*/site-packages"))
    return found[0] if found else None


def installed(site: Path) -> list[Installed]:
    out = []
    for dist_info in sorted(site.glob("*.dist-info")):
        try:
            meta = HeaderParser().parsestr(
                (dist_info / "METADATA").read_text(encoding="utf-8", errors="replace")
            )
        except OSError:
            continue
        name, version = meta.get("Name"), meta.get("Version")
        if name and version:
            out.append(Installed(str(canonicalize_name(name)), version, dist_info))
    return out


def _same_version(a: str, b: str) -> bool:
    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return a == b


def check_record(dist: Installed, site: Path, report: VerifyReport,
                 record: Path | None = None, removed: frozenset[str] = frozenset()) -> None:
    """Each row of ``dist``'s RECORD (or ``record``) against the file; the paths in
    ``removed`` are expected absent (``rocm-sdk init`` deleted them)."""
    try:
        rows = list(csv.reader(
            (record or dist.dist_info / "RECORD").read_text(encoding="utf-8").splitlines()
        ))
    except OSError:
        report.problems.append(
            Problem(dist.name, ProblemKind.MISSING_FILE, "its RECORD is missing"))
        return
    for row in rows:
        if len(row) < 2 or not row[1]:
            continue  # RECORD itself, or a file recorded without a hash (.pyc)
        rel, digest = row[0], row[1]
        algo, _, value = digest.partition("=")
        path = Path(os.path.normpath(site / rel))
        report.files += 1
        if algo != "sha256":
            continue
        if rel in removed:
            if path.exists():
                report.problems.append(Problem(dist.name, ProblemKind.MODIFIED,
                                               f"{rel} is back (rocm-sdk init had deleted it)"))
            continue
        if not path.is_file():
            report.problems.append(
                Problem(dist.name, ProblemKind.MISSING_FILE, f"{rel} is missing"))
        elif record_digest(path) != value:
            report.problems.append(Problem(dist.name, ProblemKind.MODIFIED, f"{rel} was changed"))


def verify_venv(venv: Path, entry: LockEntry) -> VerifyReport:
    """Check ``venv`` (a generation's ``venv`` link) against ``entry``. The store entry it
    links to must be a real directory this user owns (else an error, nothing read)."""
    if venv.is_symlink():
        own_directory(Path(os.path.normpath(venv.parent / venv.readlink())), "store entry")
    report = VerifyReport(venv)
    site = site_packages(venv) if venv.is_dir() else None
    if site is None:
        report.problems.append(Problem("(venv)", ProblemKind.VENV,
                                       f"{venv} is missing or has no site-packages"))
        return report
    have = {d.name: d for d in installed(site)}
    report.packages = len(have)
    try:  # TheRock's init deletes rocm_sdk_devel/_devel.tar[.xz], still in its RECORD
        removed = frozenset((venv / INIT_REMOVED).read_text(encoding="utf-8").splitlines())
    except OSError:
        removed = frozenset()
    for pkg in sorted(entry.packages, key=lambda p: p.name):
        name = str(canonicalize_name(pkg.name))
        dist = have.get(name)
        if dist is None:
            report.problems.append(
                Problem(name, ProblemKind.MISSING, f"locked {pkg.version}, not installed"))
            continue
        if not _same_version(dist.version, pkg.version):
            report.problems.append(Problem(name, ProblemKind.VERSION,
                                           f"locked {pkg.version}, installed {dist.version}"))
        check_record(dist, site, report, removed=removed)
    init_record = venv / INIT_RECORD
    if init_record.is_file():  # files `rocm-sdk init` made in the store entry
        check_record(Installed("rocm-sdk init", "", init_record.parent), site, report,
                     record=init_record)
    locked = {str(canonicalize_name(p.name)) for p in entry.packages}
    for name, dist in sorted(have.items()):
        if name not in locked:
            report.problems.append(
                Problem(name, ProblemKind.EXTRA, f"{dist.version} is not in the lock"))
    recorded = _recorded(site, [*have.values()], init_record)
    for path in _stray(site, recorded, shims="pip" not in locked):
        rel = path.relative_to(site)
        report.problems.append(Problem(rel.parts[0], ProblemKind.STRAY,
                                       f"{rel} is in no package's RECORD "
                                       "(written into the env by hand or by a tool)"))
    return report


# Files a venv holds that no wheel's RECORD lists: uv's venv helper, and mlstack's
# read-only pip (store/pipshim.py), unless the entry locks pip itself.
VENV_FILES = ("_virtualenv.py", "_virtualenv.pth")
SHIM_FILES = ("pip/__init__.py", "pip/__main__.py")


def _recorded(site: Path, dists: list[Installed], init_record: Path) -> set[str]:
    """Every path (normalized, absolute) some RECORD lists, RECORD files included."""
    out: set[str] = set()
    records = [d.dist_info / "RECORD" for d in dists]
    records += [init_record] if init_record.is_file() else []
    for record in records:
        out.add(os.path.normpath(record))
        try:
            rows = csv.reader(record.read_text(encoding="utf-8").splitlines())
            out.update(os.path.normpath(site / row[0]) for row in rows if row)
        except OSError:
            continue
    return out


def _stray(site: Path, recorded: set[str], *, shims: bool) -> list[Path]:
    """Files under site-packages that no RECORD lists (bytecode caches aside)."""
    known = set(VENV_FILES) | (set(SHIM_FILES) if shims else set())
    out = []
    for root, dirs, files in os.walk(site):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            path = Path(root) / name
            rel = path.relative_to(site).as_posix()
            if str(path) in recorded or rel in known or name.endswith(".pyc"):
                continue
            out.append(path)
    return out

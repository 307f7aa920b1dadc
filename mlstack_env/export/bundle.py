"""Wheel bundles: every wheel of a lock in one folder, checked against it.

A bundle is what an air-gapped site installs from (``mlstack env create --wheels DIR``).
It is made on a connected machine: the files come from mlstack's download cache, fetched
into it first when missing — found through ``[mirrors]`` like every fetch (by name on
its index's mirror: locate.py), resumed, checked against the lock's sha256 while
streaming (mlstack_env/fetch/download.py). Each file is copied into ``DIR/.part-*`` and
renamed to the wheel's name: a file in DIR with a wheel's name always has the bytes the
lock names, even after an interrupted run. A re-run checks the files already there and
brings only what is missing or different.
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlstack_env.core.errors import LockError, ManifestError, UsageError
from mlstack_env.fetch.config import UserConfig, load_config
from mlstack_env.lockfile import Lock, LockEntry, Wheel, read_lock

if TYPE_CHECKING:
    from mlstack_env.fetch.download import DownloadProgress

PART_PREFIX = ".part-"


class WheelStatus(StrEnum):
    """Where a bundled wheel came from this run (its value is the JSON ``status``)."""

    DOWNLOADED = "downloaded"  # fetched into the download cache, then copied
    CACHED = "cached"  # copied from mlstack's download cache
    PRESENT = "present"  # already in the folder, checked against the lock


@dataclass(frozen=True)
class BundledWheel:
    wheel: Wheel
    status: WheelStatus
    size: int  # bytes on disk

    def to_json(self) -> dict[str, Any]:
        return {
            "filename": self.wheel.filename,
            "url": self.wheel.url or None,  # None: locked by name (no canonical URL)
            "sha256": self.wheel.sha256,
            "size": self.size,
            "status": self.status.value,
        }


@dataclass(frozen=True)
class Bundle:
    directory: Path
    lock_path: Path
    entries: tuple[str, ...]  # entry keys whose wheels are in it
    wheels: tuple[BundledWheel, ...]

    def count(self, status: WheelStatus) -> int:
        return sum(1 for w in self.wheels if w.status == status)


def lock_path_for(lock_file: Path | None, project_dir: Path | None, cwd: Path) -> Path:
    """``--lock FILE``, else the lock of the project found from ``cwd`` (or ``--project``)."""
    if lock_file is not None:
        if project_dir is not None:
            raise UsageError("--lock and --project both name a lock",
                             "pass one: --lock FILE, or --project DIR for its mlstack.lock")
        return lock_file
    from mlstack_env.manifest.project import find_project

    project = find_project(cwd, project_dir)
    if project is None:
        raise ManifestError("which lock? there is no mlstack.toml here or above",
                            "pass --lock FILE, or run it in a project (or with --project DIR)")
    return project.lock_path


def select_entries(lock: Lock, profiles: Sequence[str], source: str) -> tuple[LockEntry, ...]:
    """The entries of the named profiles (all entries when none is named)."""
    if not lock.entries:
        raise LockError(f"{source} has no entries", "lock something first: `mlstack lock`")
    if not profiles:
        return lock.entries
    known = sorted({e.profile for e in lock.entries})
    unknown = [p for p in profiles if p not in known]
    if unknown:
        raise LockError(f"{source} has no entry for profile {', '.join(map(repr, unknown))}",
                        f"profiles in this lock: {', '.join(known)}")
    return tuple(e for e in lock.entries if e.profile in profiles)


def wheels_of(entries: Sequence[LockEntry], source: str) -> list[Wheel]:
    """Every wheel of ``entries`` once, by filename (entries for two GPUs of one ROCm
    share their wheels); two different files under one name cannot share a folder."""
    by_name: dict[str, Wheel] = {}
    for entry in entries:
        for package in entry.packages:
            for wheel in package.files:  # wheels, and the rocm selector's sdist
                seen = by_name.setdefault(wheel.filename, wheel)
                if seen.sha256 != wheel.sha256:
                    raise LockError(
                        f"{source} names two different files {wheel.filename} "
                        f"({seen.url or seen.sha256} and {wheel.url or wheel.sha256}); one "
                        "folder cannot hold both",
                        "bundle the profiles separately, each into its own -o DIR",
                    )
    return [by_name[name] for name in sorted(by_name)]


def make_bundle(
    lock_path: Path,
    directory: Path,
    profiles: Sequence[str] = (),
    *,
    config: UserConfig | None = None,
    progress: DownloadProgress | None = None,
    on_present: Callable[[BundledWheel], None] | None = None,
) -> Bundle:
    """Put the wheels of ``profiles`` (every entry when empty) of the lock at ``lock_path``
    into ``directory``: files already there with the locked sha256 stay, the others come
    from mlstack's download cache, fetched first if missing (mlstack_env/fetch/download.py)."""
    lock = read_lock(lock_path)
    entries = select_entries(lock, profiles, str(lock_path))
    from mlstack_env.fetch.urlpolicy import url_policy

    policy = url_policy(str(lock_path))
    for entry in entries:  # fetch nothing a create of this lock would refuse
        policy.check(entry, str(lock_path))
    wheels = wheels_of(entries, str(lock_path))
    config = config or load_config()
    _prepare(directory)
    done = _present(directory, wheels, on_present)
    needed = [w for w in wheels if w.filename not in done]
    if needed:
        from mlstack_env.fetch import download
        from mlstack_env.fetch.locate import FileLocator

        wants = {w.sha256: download.want(w) for w in needed}
        before = {sha for sha, want in wants.items() if download.cached(want) is not None}
        # Where each missing file is, before any download: by name on the mirror of its
        # index, else its canonical URL (locate.py). A file no mirror lists stops it here.
        locator = FileLocator(config)  # project pages read once for the whole bundle
        owner = {w.sha256: p for e in entries for p in e.packages for w in p.files}
        for wheel in needed:
            if wheel.sha256 not in before:
                wants[wheel.sha256] = download.want(
                    wheel, locator.url(owner[wheel.sha256], wheel), config.mirrors)
        got = download.fetch_all(list(wants.values()),
                                 settings=download.settings_from(config.downloads),
                                 progress=progress)
        for wheel in needed:
            size = _place(got[wheel.sha256], directory, wheel)
            status = WheelStatus.CACHED if wheel.sha256 in before else WheelStatus.DOWNLOADED
            done[wheel.filename] = BundledWheel(wheel, status, size)
    return Bundle(directory, lock_path, tuple(e.key for e in entries),
                  tuple(done[w.filename] for w in wheels))


def _present(directory: Path, wheels: Sequence[Wheel],
             on_present: Callable[[BundledWheel], None] | None) -> dict[str, BundledWheel]:
    """The wheels already in ``directory`` with their locked sha256, by file name."""
    done: dict[str, BundledWheel] = {}
    for wheel in wheels:
        size = _matching_size(directory / wheel.filename, wheel)
        if size is not None:
            done[wheel.filename] = BundledWheel(wheel, WheelStatus.PRESENT, size)
            if on_present is not None:
                on_present(done[wheel.filename])
    return done


def _place(cached: Path, directory: Path, wheel: Wheel) -> int:
    """A copy of the cached file in ``directory`` under the wheel's name, by rename, so the
    name never holds a half-written file. A copy, not a hard link: a bundle is handed on
    and may be edited, and the cache must keep the bytes it checked."""
    # Not mkstemp: its files are 0600, and a bundle is often shared; a copy follows the umask.
    part = directory / f"{PART_PREFIX}{wheel.filename}-{secrets.token_hex(4)}"
    try:
        shutil.copyfile(cached, part)
        part.replace(directory / wheel.filename)
        return (directory / wheel.filename).stat().st_size
    except OSError as exc:
        part.unlink(missing_ok=True)
        raise UsageError(f"cannot write {wheel.filename} into {directory}: "
                         f"{exc.strerror or exc}",
                         "check the free space and permissions of the folder") from None


def _prepare(directory: Path) -> None:
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"{directory} is a file, not a folder",
                         "pass a folder for the wheels: -o DIR")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        # Leftovers of a killed run: never a wheel's name, so harmless, but not kept.
        for part in directory.glob(PART_PREFIX + "*"):
            part.unlink(missing_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot write to {directory}: {exc.strerror or exc}",
                         "pick a folder you can write to") from None


def _matching_size(path: Path, wheel: Wheel) -> int | None:
    """The size of ``path`` when it holds exactly the locked bytes, else None."""
    try:
        size = path.stat().st_size
        if not path.is_file() or (wheel.size is not None and size != wheel.size):
            return None
        from mlstack_env.fetch.download import file_sha256

        return size if file_sha256(path) == wheel.sha256 else None
    except OSError:
        return None

"""What ``mlstack lock`` does: profiles x targets into one lock file, fresh entries reused
without calling uv, ``--check`` writing nothing, ``--export-pylock`` beside it."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from mlstack_env import __version__, uv
from mlstack_env.config import load_config
from mlstack_env.errors import MlstackError
from mlstack_env.lockfile import Lock, LockEntry, dumps, read_lock, to_pylock, write_atomic
from mlstack_env.profiles import ProfileSet
from mlstack_env.project import Project
from mlstack_env.resolve.entry import resolve
from mlstack_env.resolve.request import Request, choose_python, make_request
from mlstack_env.sources import catalog
from mlstack_env.target import Target

Progress = Callable[[str], None]


class EntryStatus(StrEnum):
    RESOLVED = "resolved"  # uv ran for it
    UNCHANGED = "unchanged"  # its inputs did not change: kept without calling uv
    FRESH = "fresh"  # --check: up to date
    STALE = "stale"  # --check: its inputs changed
    MISSING = "missing"  # --check: not in the lock

    @property
    def up_to_date(self) -> bool:
        return self in (EntryStatus.FRESH, EntryStatus.UNCHANGED)


@dataclass(frozen=True)
class EntryOutcome:
    request: Request
    entry: LockEntry | None  # None with --check
    status: EntryStatus


@dataclass(frozen=True)
class LockOutcome:
    path: Path
    outcomes: tuple[EntryOutcome, ...]
    written: bool
    checked: bool
    exported: tuple[Path, ...] = ()

    @property
    def up_to_date(self) -> bool:
        return all(o.status.up_to_date for o in self.outcomes)


def existing_lock(path: Path) -> Lock | None:
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
    existing = existing_lock(output)
    requests = plan(project, profiles, targets, python, existing)
    full = not profiles and not targets
    outcomes: list[EntryOutcome] = []
    config = load_config()
    for req in requests:
        old = existing.get(req.key) if existing else None
        fresh = old is not None and old.inputs_hash == req.inputs_hash()
        if check:
            status = EntryStatus.FRESH if fresh else (
                EntryStatus.STALE if old else EntryStatus.MISSING)
            outcomes.append(EntryOutcome(req, old, status))
            continue
        if fresh and old is not None:
            outcomes.append(EntryOutcome(req, old, EntryStatus.UNCHANGED))
            continue
        if progress:
            progress(req.key)
        outcomes.append(EntryOutcome(req, resolve(req, config, offline), EntryStatus.RESOLVED))
    if check:
        return LockOutcome(output, tuple(outcomes), written=False, checked=True)
    new_entries = [o.entry for o in outcomes if o.entry is not None]
    resolved_any = any(o.status is EntryStatus.RESOLVED for o in outcomes)
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

"""What ``mlstack lock`` does: profiles x targets into one lock file, fresh entries reused
without calling uv, re-locked ones keeping their versions unless upgraded, ``--check``
writing nothing, ``--export-pylock`` beside it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.utils import canonicalize_name

from mlstack_env import __version__
from mlstack_env.catalog.sources import catalog
from mlstack_env.catalog.target import Target
from mlstack_env.core.errors import (
    InternalError,
    LockError,
    ManifestError,
    MlstackError,
    UsageError,
)
from mlstack_env.core.userfile import write_atomic
from mlstack_env.fetch.config import load_config
from mlstack_env.lockfile import (
    Lock,
    LockEntry,
    dumps,
    entry_pylock_name,
    read_lock,
    standalone_pylock,
)
from mlstack_env.manifest.profiles import Profile, ProfileSet
from mlstack_env.manifest.project import Project
from mlstack_env.resolve.lockwrite import LockChange, change_between, held, stale_keys
from mlstack_env.resolve.request import PythonChoice, Request, choose_python, make_request

if TYPE_CHECKING:  # the uv compile module (and uv) load only to resolve
    from mlstack_env.resolve.uvcompile import Upgrade

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
    """What `mlstack lock` did with one entry (resolved, unchanged, stale, ...)."""
    request: Request
    entry: LockEntry | None  # None with --check
    status: EntryStatus


@dataclass(frozen=True)
class LockOutcome:
    """What `mlstack lock` did: every entry's outcome, and whether and where it wrote."""
    path: Path
    outcomes: tuple[EntryOutcome, ...]
    written: bool
    checked: bool
    exported: tuple[Path, ...] = ()
    change: LockChange | None = None  # None with --check

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
    """The requests for ``mlstack lock``: profiles x targets, plus, unless targets were
    named, the entries the lock already holds for other machines (env create on a new
    target), so that they are re-resolved with the rest instead of left stale."""
    profile_set = project.profile_set() if project else ProfileSet.load()
    cat = project.catalog() if project else catalog()
    names = list(profiles) or (project.lock_profiles() if project else [])
    if not names:
        raise UsageError("no profile to lock",
                         "name one (mlstack lock minimal) or create mlstack.toml")
    chosen_targets = list(targets) or list(project.targets if project else ())
    if not chosen_targets:
        from mlstack_env.hardware import detect

        chosen_targets = [detect().target]
    requests: list[Request] = []
    seen: set[str] = set()
    for name in names:
        merged = profile_set.get(name)
        py = choose_python(merged, python, project, existing, chosen_targets)
        wanted = [(t, py) for t in chosen_targets]
        if not targets and existing is not None:
            fixed = python is not None or bool(project is not None and project.python)
            wanted += _kept_entries(existing, name, merged, py, fixed=fixed)
        for target, choice in wanted:
            req = make_request(merged, target, choice, cat)
            if req.key not in seen:
                seen.add(req.key)
                requests.append(req)
    return requests


@dataclass(frozen=True)
class LockRequest:
    """What one ``mlstack lock`` asks for: which entries (profiles x targets, a Python),
    the lock file (``output``; None: the project's), and how (``check`` writes nothing,
    ``export_dir`` gets a pylock per entry, ``upgrade`` says which versions to take anew,
    ``locked`` refuses any change)."""

    profiles: Sequence[str] = ()
    targets: Sequence[Target] = ()
    python: str | None = None
    output: Path | None = None
    check: bool = False
    export_dir: Path | None = None
    offline: bool = False
    upgrade: Upgrade | None = None
    locked: bool = False


def _kept_entries(existing: Lock, name: str, merged: Profile, py: PythonChoice, *,
                  fixed: bool) -> list[tuple[Target, PythonChoice]]:
    """The targets (and Pythons) the lock holds for profile ``name``, to re-resolve.
    Entries for other Pythons stay too, unless a Python was ``fixed`` (--python, or the
    project's python): a bare `mlstack lock` never drops what a teammate locked with
    `lock --python X.Y`."""
    return [(e.target, py if e.python == py.version else
             PythonChoice(e.python, "the Python of this entry of the lock"))
            for e in existing.entries
            if e.profile == name and merged.allows_python(e.python)
            and (e.python == py.version or not fixed)]


def lock(
    project: Project | None,
    request: LockRequest,
    *,
    progress: Progress | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> LockOutcome:
    """What ``mlstack lock`` does. Fresh entries are reused without calling uv; a re-locked
    entry keeps its versions where it can (uv's preferences) unless ``upgrade`` says which
    to take anew. Serialized with every other writer of ``output`` (:mod:`.lockwrite`);
    all or nothing: when an entry fails, nothing is written. ``locked`` refuses instead of
    changing anything."""
    output = request.output
    if output is None:
        if project is None:
            raise ManifestError(
                "no mlstack.toml here or in any parent directory, and no -o FILE",
                "create mlstack.toml (see docs/profiles.md), pass --project DIR, or write "
                "the lock elsewhere with -o FILE",
            )
        output = project.lock_path
    if request.check:
        return _check(project, request.profiles, request.targets, request.python, output)
    with held(output, on_wait):
        if project is not None:  # as it is now: an add may have changed it while we waited
            from mlstack_env.manifest.project import load_project

            project = load_project(project.manifest_path)
        return lock_held(project, request, output=output, progress=progress)


def _check(project: Project | None, profiles: Sequence[str], targets: Sequence[Target],
           python: str | None, output: Path) -> LockOutcome:
    existing = existing_lock(output)
    outcomes = []
    for req in plan(project, profiles, targets, python, existing):
        old = existing.get(req.key) if existing else None
        status = EntryStatus.FRESH if req.is_fresh(old) else (
            EntryStatus.STALE if old else EntryStatus.MISSING)
        outcomes.append(EntryOutcome(req, old, status))
    return LockOutcome(output, tuple(outcomes), written=False, checked=True)


Todo = list[tuple[Request, LockEntry | None]]  # entries to resolve, with their old one


def lock_held(
    project: Project | None,
    request: LockRequest,
    *,
    output: Path,
    progress: Progress | None = None,
) -> LockOutcome:
    """:func:`lock` for a caller already holding ``output``'s write lock (``mlstack add``
    re-locks and writes mlstack.toml under one hold); ``output`` is the lock file
    (``request.output`` is not read)."""
    existing = existing_lock(output)
    requests = plan(project, request.profiles, request.targets, request.python, existing)
    upgrade = request.upgrade
    if upgrade is not None and upgrade.packages:
        _check_upgrade_names(upgrade.packages, existing, output)
    outcomes, todo = _reuse_fresh(requests, existing, upgrade)
    if request.locked and todo:
        keys = ", ".join(f"{r.key} ({'stale' if o else 'missing'})" for r, o in todo)
        raise LockError(f"{output} would change: {keys}; refused by --locked",
                        "run `mlstack lock` without --locked and commit the lock")
    _resolve_todo(todo, outcomes, existing=existing, request=request, progress=progress,
                  output=output, total=len(requests))
    ordered = tuple(outcomes[r.key] for r in requests)
    new_entries = [o.entry for o in ordered if o.entry is not None]
    full = not request.profiles and not request.targets
    new_lock = _new_lock(existing, new_entries, resolved=bool(todo), full=full)
    # The entries asked for (every one of the project's without --target/profiles), each
    # pylock's text before anything is written: an entry no pylock can hold stops it.
    export_dir = request.export_dir
    pylocks = [(export_dir / pylock_name(e), standalone_pylock(e)) for e in new_entries
               ] if export_dir is not None else []
    written, change = _write_lock(project, output, existing, new_lock)
    exported: list[Path] = []
    for path, pylock in pylocks:
        write_atomic(path, pylock)
        exported.append(path)
    return LockOutcome(output, ordered, written, False, tuple(exported), change)


def _reuse_fresh(requests: Sequence[Request], existing: Lock | None, upgrade: Upgrade | None
                 ) -> tuple[dict[str, EntryOutcome], Todo]:
    """The entries kept as they are (their inputs unchanged, no upgrade asks for one of
    their packages), and the rest, to resolve."""
    todo: Todo = []
    outcomes: dict[str, EntryOutcome] = {}
    for req in requests:
        old = existing.get(req.key) if existing else None
        wanted = upgrade is not None and (upgrade.everything or (
            old is not None and any(old.package(str(canonicalize_name(p)))
                                    for p in upgrade.packages)))
        if req.is_fresh(old) and not wanted:
            outcomes[req.key] = EntryOutcome(req, old, EntryStatus.UNCHANGED)
        else:
            todo.append((req, old))
    return outcomes, todo


def _resolve_todo(todo: Todo, outcomes: dict[str, EntryOutcome], *, existing: Lock | None,
                  request: LockRequest, progress: Progress | None, output: Path,
                  total: int) -> None:
    """Resolve every entry of ``todo`` into ``outcomes``; when any fails, one error for all
    of them (nothing is written)."""
    config = load_config()
    failures: list[MlstackError] = []
    for req, old in todo:
        if progress:
            progress(req.key)
        try:
            from mlstack_env.resolve.entry import resolve  # not on a no-op lock's path

            entry = resolve(req, config, request.offline, previous=old,
                            upgrade=request.upgrade, lock=existing)
        except InternalError:
            raise  # a bug is not one more failed entry: it keeps its traceback and exit 2
        except MlstackError as err:  # any user-facing failure: reported with the others
            failures.append(err)
            continue
        outcomes[req.key] = EntryOutcome(req, entry, EntryStatus.RESOLVED)
    if failures:
        raise _failed(failures, total, output)


def _new_lock(existing: Lock | None, new_entries: Sequence[LockEntry], *, resolved: bool,
              full: bool) -> Lock:
    """The lock to write: a full lock holds the new entries only; a partial one (profiles
    or targets named) keeps the other entries. A lock where nothing was resolved keeps the
    versions of mlstack and uv it was written by."""
    if existing is not None and not resolved:
        base = Lock((), existing.mlstack_version, existing.uv_version)
    else:
        from mlstack_env import uv  # only when something is resolved: a no-op needs no uv

        base = Lock((), __version__, uv.version())
    if full or existing is None:
        return base.merged(new_entries)
    return Lock(existing.entries, base.mlstack_version, base.uv_version).merged(new_entries)


def _write_lock(project: Project | None, output: Path, existing: Lock | None,
                new_lock: Lock) -> tuple[bool, LockChange]:
    """Write ``new_lock`` when its text differs; whether it did, and the change (with the
    entries still stale)."""
    text = dumps(new_lock)
    written = not output.exists() or output.read_text(encoding="utf-8") != text
    if written:
        write_atomic(output, text)
    profile_set = project.profile_set() if project else ProfileSet.load()
    stale = stale_keys(new_lock, profile_set, project.catalog() if project else catalog())
    change = change_between(output, existing, new_lock, stale) if written else \
        LockChange(output, stale=tuple(stale))
    return written, change


def _check_upgrade_names(packages: Sequence[str], existing: Lock | None, output: Path
                         ) -> None:
    """``--upgrade-package P`` names a locked package: a typo is an error naming the
    locked packages closest to it, never a silent "up to date"."""
    import difflib

    locked = sorted({str(canonicalize_name(p.name))
                     for e in (existing.entries if existing else ()) for p in e.packages})
    for name in packages:
        wanted = str(canonicalize_name(name))
        if wanted in locked:
            continue
        close = difflib.get_close_matches(wanted, locked, n=3, cutoff=0.6)
        raise UsageError(
            f"--upgrade-package {name}: no entry of {output} holds {wanted}"
            + (f"; closest locked packages: {', '.join(close)}" if close else ""),
            f"name a locked package: `mlstack lock --upgrade-package {close[0]}`" if close else
            "name a locked package (`mlstack tree` lists them), or add it to the profile "
            "with `mlstack add`")


def _failed(failures: Sequence[MlstackError], total: int, output: Path) -> MlstackError:
    """One error for every entry that failed (each names its entry); nothing was written."""
    if len(failures) == 1:
        return failures[0]
    what = "; ".join(f.message for f in failures)
    return LockError(f"{len(failures)} of {total} entries failed, {output} left as it was: "
                     f"{what}", failures[0].hint)


def pylock_name(entry: LockEntry) -> str:
    """The entry's PEP 751 file name: ``pylock.ml-rocm6_4-gfx1100-py3_12.toml``
    (:func:`mlstack_env.lockfile.entry_pylock_name`)."""
    return entry_pylock_name(entry)

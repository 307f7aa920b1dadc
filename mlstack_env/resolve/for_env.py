"""The lock entry an environment installs, for ``mlstack env create``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mlstack_env import __version__, uv
from mlstack_env.catalog.sources import Catalog, catalog
from mlstack_env.catalog.target import Target, parse_python
from mlstack_env.core.errors import LockError, ManifestError
from mlstack_env.core.userfile import write_atomic
from mlstack_env.lockfile import Lock, LockEntry, dumps, fits
from mlstack_env.manifest.profiles import Profile, ProfileSet
from mlstack_env.manifest.project import Project, load_project, user_lock_path, with_target
from mlstack_env.resolve.entry import resolve
from mlstack_env.resolve.locking import existing_lock
from mlstack_env.resolve.lockwrite import LockChange, change_between, held, refusal, stale_keys
from mlstack_env.resolve.request import PythonChoice, Request, choose_python, make_request


@dataclass(frozen=True)
class EnvEntry:
    """The entry to install, why its Python, and what was changed in mlstack.lock for it."""

    entry: LockEntry
    python: PythonChoice
    change: LockChange | None = None  # None: the lock was not written
    lock_path: Path | None = None  # the lock file the entry is in (None: no project)
    notes: tuple[str, ...] = ()  # other changes to announce (a target added to mlstack.toml)


@dataclass(frozen=True)
class _Asked:
    """What a create asks of a project's lock: ``profile`` (merged) on ``target`` with
    ``python`` (None: chosen), the project read with its catalog."""

    profile: Profile
    target: Target
    python: str | None
    project: Project
    cat: Catalog

    def lookup(self, existing: Lock | None) -> tuple[LockEntry | None, Request, PythonChoice]:
        """The lock's entry for this machine (or None) and the request it should match."""
        py = choose_python(self.profile, self.python, self.project, existing, [self.target])
        candidates = [e for e in (existing.entries if existing else ())
                      if e.profile == self.profile.name and fits(e, self.target, py.version)]
        candidates.sort(key=lambda e: (len(e.target.gfx), e.target != self.target))
        if candidates:
            entry = candidates[0]
            return entry, make_request(self.profile, entry.target, py, self.cat), py
        return None, make_request(self.profile, self.target, py, self.cat), py


def entry_for_env(
    profile: str,
    target: Target,
    python: str | None,
    project: Project | None,
    *,
    locked: bool = False,
    offline: bool = False,
    on_wait: Callable[[str], None] | None = None,
) -> EnvEntry:
    """The lock entry that ``mlstack env create`` should install for ``profile`` on ``target``.

    * In a project (found by the caller, once: ``project.find_project``): the entry of the
      project's ``mlstack.lock`` for this profile that fits ``target`` (and the Python; see
      ``lockfile.fits``), used as it is when fresh — no uv. A stale entry (its inputs
      changed) is re-resolved, keeping its versions where it can, and the lock rewritten;
      a missing one is resolved and added. Both are refused (LockError naming the entry
      and the command to run) under ``--locked``, ``locked = true`` or ``CI``
      (:func:`.lockwrite.refusal`), and serialized with every other writer of the lock.
    * Outside a project (``project`` None): the built-in (or named) profile resolved for
      ``target``; nothing is written.

    ``python`` None: chosen by :func:`.request.choose_python` (the project's, the lock's,
    the running one, the newest allowed). ``offline`` makes uv resolve from its cache only.
    """
    profile_set = project.profile_set() if project else ProfileSet.load()
    cat = project.catalog() if project else catalog()
    merged = profile_set.get(profile)
    if project is None:
        py = choose_python(merged, python, None)
        return EnvEntry(resolve(make_request(merged, target, py, cat), offline=offline), py)
    asked = _Asked(merged, target, python, project, cat)
    if profile not in _locked_profiles(project):
        return _user_entry(asked, why=f"does not use the profile {profile}", offline=offline,
                           on_wait=on_wait)
    if python is not None and project.python and parse_python(python) != str(project.python):
        # `mlstack lock` locks the project's Python only: an entry for another one would
        # be dropped by the next `mlstack lock`.
        return _user_entry(asked, why=f"locks Python {project.python}, not {python}",
                           offline=offline, on_wait=on_wait)
    existing = existing_lock(project.lock_path)
    found, request, py = asked.lookup(existing)
    if request.is_fresh(found):
        return EnvEntry(found, py, lock_path=project.lock_path)
    why = refusal(project, locked)
    if why is not None:
        raise _refused(project, profile, target, py, found=found, existing=existing, why=why)
    return _relock(project, profile, target, python, offline=offline, on_wait=on_wait)


def _relock(project: Project, profile: str, target: Target, python: str | None, *,
            offline: bool, on_wait: Callable[[str], None] | None) -> EnvEntry:
    """:func:`entry_for_env` when the team's lock lacks the entry or holds it stale: the
    entry resolved and written into mlstack.lock, under the lock's write lock."""
    notes: list[str] = []
    with held(project.lock_path, on_wait):
        # Another command may have written the lock (or mlstack.toml) while this one waited.
        project = load_project(project.manifest_path)
        profile_set, cat = project.profile_set(), project.catalog()
        asked = _Asked(profile_set.get(profile), target, python, project, cat)
        existing = existing_lock(project.lock_path)
        found, request, py = asked.lookup(existing)
        if request.is_fresh(found):
            return EnvEntry(found, py, lock_path=project.lock_path)
        entry = resolve(request, offline=offline, previous=found, lock=existing)
        # A new machine's target joins the project (mlstack.toml `targets`), so the next
        # `mlstack lock` keeps this entry instead of undoing it (the project was read under
        # the hold: another create's target is already in it).
        if found is None and project.targets and entry.target not in project.targets:
            write_atomic(project.manifest_path, with_target(project, entry.target))
            notes.append(f"added target {entry.target} to "
                         f"{project.manifest_path.name} — commit it")
        base = Lock(existing.entries if existing else (), __version__, uv.version())
        new_lock = base.merged([entry])
        write_atomic(project.lock_path, dumps(new_lock))
    stale = stale_keys(new_lock, profile_set, cat)
    return EnvEntry(entry, py, change_between(project.lock_path, existing, new_lock, stale),
                    project.lock_path, tuple(notes))


def _locked_profiles(project: Project) -> list[str]:
    """The profiles the team's lock holds: what a bare `mlstack lock` locks."""
    try:
        return project.lock_profiles()
    except ManifestError:
        return []


def _user_entry(asked: _Asked, *, why: str, offline: bool,
                on_wait: Callable[[str], None] | None) -> EnvEntry:
    """A built-in profile the project does not use (``env create minimal`` in a project
    of other profiles): locked for this user under MLSTACK_HOME, never in the team's
    mlstack.lock, which `mlstack lock` would undo (docs/team.md, "The lock is a function
    of the project")."""
    project = asked.project
    path = user_lock_path(project)
    found, request, py = asked.lookup(existing_lock(path))
    if request.is_fresh(found):
        return EnvEntry(found, py, lock_path=path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with held(path, on_wait):
        existing = existing_lock(path)
        found, request, py = asked.lookup(existing)
        if request.is_fresh(found):
            return EnvEntry(found, py, lock_path=path)
        entry = resolve(request, offline=offline, previous=found)
        base = Lock(existing.entries if existing else (), __version__, uv.version())
        write_atomic(path, dumps(base.merged([entry])))
    note = (f"locked {entry.key} for you in {path}: {project.manifest_path.name} {why}, so "
            f"{project.lock_path.name} is left as it is")
    return EnvEntry(entry, py, lock_path=path, notes=(note,))


def _refused(project: Project, profile: str, target: Target, py: PythonChoice, *,
             found: LockEntry | None, existing: Lock | None, why: str) -> LockError:
    drop = ", or drop --locked" if why == "--locked" else ""
    if found is not None:
        return LockError(
            f"{project.lock_path} is stale for {found.key}: its inputs changed (profile, "
            f"sources or catalog); re-resolving it is refused by {why}",
            f"run `mlstack lock` and commit the lock{drop}",
        )
    have = ", ".join(sorted({str(e.target) for e in existing.entries
                             if e.profile == profile})) if existing else ""
    return LockError(
        f"{project.lock_path} has no entry for {profile} on {target} (Python "
        f"{py.version}); locked targets: {have or 'none'}; adding one is refused by {why}",
        f"run `mlstack lock --target {target} --python {py.version}` and commit the "
        f"lock{drop}",
    )

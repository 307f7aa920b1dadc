"""The lock entry an environment installs, for ``mlstack env create``."""

from __future__ import annotations

from mlstack_env import __version__, uv
from mlstack_env.errors import MlstackError
from mlstack_env.lockfile import Lock, LockEntry, dumps, fits, write_atomic
from mlstack_env.profiles import ProfileSet
from mlstack_env.project import Project
from mlstack_env.resolve.entry import resolve
from mlstack_env.resolve.locking import existing_lock
from mlstack_env.resolve.request import choose_python, make_request
from mlstack_env.sources import catalog
from mlstack_env.target import Target


def entry_for_env(
    profile: str,
    target: Target,
    python: str | None,
    project: Project | None,
    *,
    locked: bool = False,
    offline: bool = False,
) -> LockEntry:
    """The lock entry that ``mlstack env create`` should install for ``profile`` on ``target``.

    * In a project (found by the caller, once: ``project.find_project``): the entry of the
      project's ``mlstack.lock`` for this profile that fits ``target`` (and ``python``; see
      ``lockfile.fits``). A stale entry (its inputs changed) is re-resolved and the lock
      rewritten first; with ``locked=True`` that is an MlstackError instead. When the lock
      has no entry for this target (or no lock exists), one is resolved and added to
      ``mlstack.lock`` (with ``locked=True``: an MlstackError).
    * Outside a project (``project`` None): the built-in (or named) profile resolved for
      ``target``; nothing is written.

    ``python`` None means the project's ``python``, else the newest installed Python the
    profile allows. ``offline`` makes uv resolve from its cache only. Raises MlstackError
    for every user-facing failure (unknown profile, no Python, unreachable index, …).
    """
    profile_set = project.profile_set() if project else ProfileSet.load()
    cat = project.catalog() if project else catalog()
    merged = profile_set.get(profile)
    py = choose_python(merged, python, project)
    if project is None:
        return resolve(make_request(merged, target, py, cat), offline=offline)
    existing = existing_lock(project.lock_path)
    candidates = [e for e in (existing.entries if existing else ())
                  if e.profile == profile and fits(e, target, py)]
    candidates.sort(key=lambda e: (len(e.target.gfx), e.target != target))
    if candidates:
        entry = candidates[0]
        request = make_request(merged, entry.target, py, cat)
        if entry.inputs_hash == request.inputs_hash():
            return entry
        if locked:
            raise MlstackError(
                f"{project.lock_path} is stale for {entry.key}: its inputs changed "
                "(profile, sources or catalog)",
                "run `mlstack lock` and commit the lock, or drop --locked",
            )
    else:
        if locked:
            have = ", ".join(sorted({str(e.target) for e in existing.entries
                                     if e.profile == profile})) if existing else "none"
            raise MlstackError(
                f"{project.lock_path} has no entry for {profile} on {target} (Python {py}); "
                f"locked targets: {have or 'none'}",
                f"run `mlstack lock --target {target}` and commit the lock, or drop --locked",
            )
        request = make_request(merged, target, py, cat)
    entry = resolve(request, offline=offline)
    if existing is not None:
        new_lock = Lock(existing.entries, __version__, uv.version()).merged([entry])
    else:
        new_lock = Lock((entry,), __version__, uv.version())
    write_atomic(project.lock_path, dumps(new_lock))
    return entry

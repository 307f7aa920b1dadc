"""Writing a project's ``mlstack.lock``: one writer at a time, every change announced, and
no implicit change where the team said so.

* :func:`held` serializes every read-modify-write of one lock file and its mlstack.toml
  (``lock``, ``env create``'s re-lock, ``add``/``remove``): a file lock beside the lock
  (``.mlstack.lock.flock``, removed on release), so commands from any ``MLSTACK_HOME``
  wait for each other; held from the read of both files to the last rename — resolving
  included, so a waiting command always merges into what the previous one wrote (issue
  21: concurrent adds once computed mlstack.toml before waiting and lost edits).
* :func:`refusal` says why an *implicit* write (``env create`` adding or re-resolving
  its entry) is refused: ``--locked``, ``locked = true`` in mlstack.toml, or ``CI`` set.
  Commands whose point is to change the lock (``lock``, ``add``, ``remove``) refuse
  only with their own ``--locked``.
* :class:`LockChange` is what a write changed, for the stderr lines ("added … to
  mlstack.lock — commit it") and ``--json``, with the entries left stale.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlstack_env.catalog.sources import Catalog
    from mlstack_env.lockfile import Lock
    from mlstack_env.manifest.profiles import ProfileSet
    from mlstack_env.manifest.project import Project


def flock_path(lock_path: Path) -> Path:
    """The file whose ``flock`` serializes writers of ``lock_path``: beside it (the
    project's directory), so commands from any ``MLSTACK_HOME`` wait for each other."""
    real = Path(os.path.realpath(lock_path))
    return real.parent / f".{real.name}.flock"


@contextmanager
def held(lock_path: Path, on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the write lock of ``lock_path`` (blocking; ``on_wait`` is told once).

    Callers read mlstack.toml and the lock again inside: what they read before waiting
    may be what another writer just replaced. The lock file is removed when released (a
    waiter that then holds the removed file sees it gone and locks the new one:
    :func:`mlstack_env.core.locks.file_lock`), so a project keeps no file of mlstack's
    between commands; one left by a ``kill -9`` is empty and reused."""
    import contextlib

    from mlstack_env.core.errors import LockError
    from mlstack_env.core.locks import file_lock

    flock = flock_path(lock_path)
    told = (lambda: on_wait(f"waiting for another mlstack command writing {lock_path}")) \
        if on_wait is not None else None
    with ExitStack() as stack:
        try:
            stack.enter_context(file_lock(flock, on_wait=told, kind=LockError))
        except OSError as exc:
            raise LockError(f"cannot lock {flock} (to write {lock_path}): {exc.strerror}",
                            f"make {flock.parent} writable") from None
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                flock.unlink()


def ci_value() -> str | None:
    """``$CI`` when it means "this is CI": set, non-empty, not ``0``/``false``."""
    value = os.environ.get("CI", "")
    return value if value and value.strip().lower() not in ("0", "false") else None


def refusal(project: Project | None, locked: bool) -> str | None:
    """Why an implicit change of the project's lock is refused, or None when allowed."""
    if locked:
        return "--locked"
    if project is not None and project.locked:
        return f"locked = true in {project.manifest_path}"
    ci = ci_value()
    if ci is not None:
        return f"CI={ci}"
    return None


@dataclass(frozen=True)
class LockChange:
    """What one write did to a lock file, by entry key, and what it left stale."""

    path: Path
    added: tuple[str, ...] = ()
    re_resolved: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    stale: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.added or self.re_resolved or self.removed)

    def lines(self) -> list[str]:
        name = self.path.name
        out = [f"added {k} to {name} — commit it" for k in self.added]
        out += [f"re-resolved {k} in {name} — commit it" for k in self.re_resolved]
        out += [f"removed {k} from {name} — commit it" for k in self.removed]
        if self.stale:
            out.append(f"left stale in {name}: {', '.join(self.stale)} (their inputs changed; "
                       "`mlstack lock` re-resolves them)")
        return out

    def to_json(self) -> dict[str, Any]:
        return {"lock": str(self.path), "added": list(self.added),
                "re_resolved": list(self.re_resolved), "removed": list(self.removed),
                "stale": list(self.stale)}


def change_between(path: Path, old: Lock | None, new: Lock, stale: Iterable[str] = ()
                   ) -> LockChange:
    before = {e.key: e for e in old.entries} if old is not None else {}
    after = {e.key: e for e in new.entries}
    return LockChange(
        path,
        added=tuple(sorted(k for k in after if k not in before)),
        re_resolved=tuple(sorted(k for k, e in after.items() if k in before and before[k] != e)),
        removed=tuple(sorted(k for k in before if k not in after)),
        stale=tuple(sorted(stale)),
    )


def stale_keys(lock: Lock, profile_set: ProfileSet, cat: Catalog) -> list[str]:
    """Entries of ``lock`` whose inputs (profile, sources, catalog) changed since locking,
    or whose profile is gone. No uv: input hashes only."""
    from mlstack_env.core.errors import ManifestError, TargetError
    from mlstack_env.resolve.request import make_request

    out = []
    for e in lock.entries:
        try:
            request = make_request(profile_set.get(e.profile), e.target, e.python, cat)
        except (ManifestError, TargetError):  # its profile is gone, or no longer fits
            out.append(e.key)
            continue
        if not request.is_fresh(e):
            out.append(e.key)
    return out

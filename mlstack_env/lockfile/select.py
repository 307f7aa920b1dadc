"""Choosing the entry of a lock that fits a machine (target and Python)."""

from __future__ import annotations

from mlstack_env.catalog.target import Target
from mlstack_env.core.errors import LockError
from mlstack_env.lockfile.model import LOCK_NAME, Lock, LockEntry

# --- choosing the entry for a machine --------------------------------------------------


def fits(entry: LockEntry, target: Target, python: str | None = None) -> bool:
    """Does a lock entry fit a machine whose detected target is ``target``?

    Backend and ROCm major.minor must match (any two ROCm-as-wheels releases do:
    ``catalog.same_host_rocm``), Python too when given, and the entry's gfx list must
    cover the machine's GPUs.
    """
    from mlstack_env.catalog import same_host_rocm

    if entry.target.backend != target.backend:
        return False
    if python is not None and entry.python != python:
        return False
    if target.is_rocm:
        if not same_host_rocm(entry.target.rocm, target.rocm):
            return False
        return set(target.gfx) <= set(entry.target.gfx)
    return True


def select_entry(
    lock: Lock,
    target: Target,
    profile: str | None = None,
    python: str | None = None,
    source: str = LOCK_NAME,
) -> LockEntry:
    """The entry of ``lock`` for ``profile`` that fits ``target`` (and ``python``)."""
    candidates = [e for e in lock.entries if profile is None or e.profile == profile]
    if not candidates:
        known = ", ".join(sorted({e.profile for e in lock.entries})) or "none"
        raise LockError(
            f"{source} has no entry for profile {profile!r}",
            hint=f"profiles in this lock: {known}",
        )
    fitting = [e for e in candidates if fits(e, target, python)]
    if not fitting:
        locked = ", ".join(f"{e.target} (py{e.python})" for e in candidates)
        py = f", Python {python}" if python else ""
        raise LockError(
            f"no entry of {source} fits this machine (detected {target}{py})",
            hint=f"locked targets: {locked}; lock for this machine with "
            f"`mlstack lock --target {target}`",
        )
    # Prefer the narrowest gfx list (the entry made for exactly this machine), then the
    # detected ROCm release, then the newest Python.
    fitting.sort(key=lambda e: (len(e.target.gfx), e.target.rocm_minor != target.rocm_minor,
                                _neg_version(e.python)))
    return fitting[0]


def _neg_version(python: str) -> tuple[int, ...]:
    return tuple(-int(p) for p in python.split(".") if p.isascii() and p.isdigit())

"""File locks (``fcntl.flock``): one per env, one per store entry, one for the whole store.

A lock is held by an open file description, so it dies with the process that holds it:
a ``kill -9`` never leaves a stale lock behind (STYLE habit 7).
"""

from __future__ import annotations

import errno
import fcntl
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from mlstack_env.core.errors import MlstackError, StoreError


class Busy(Exception):
    """A non-blocking lock attempt found the lock held by another process."""


@contextmanager
def file_lock(
    path: Path,
    *,
    shared: bool = False,
    wait: bool = True,
    on_wait: Callable[[], None] | None = None,
    kind: type[MlstackError] = StoreError,
) -> Iterator[int]:
    """Hold ``path`` locked (exclusive unless ``shared``) for the ``with`` block.

    ``wait=False`` raises :class:`Busy` instead of blocking. ``on_wait`` is called once,
    before blocking, so the CLI can say what it is waiting for. ``kind``: the error a lock
    file that is a symbolic link raises (a store's or env's; the project lock's writer
    passes LockError).
    """
    mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
    told = False
    while True:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # Never through a link planted in MLSTACK_HOME (O_CREAT would make its target).
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
        except OSError as e:
            if e.errno != errno.ELOOP:
                raise
            raise kind(
                f"lock file {path} is a symbolic link; mlstack does not use it",
                hint=f"mlstack makes that file itself: remove the link {path} (after "
                "checking what it is) and run the command again",
            ) from None
        try:
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
            except BlockingIOError:
                if not wait:
                    raise Busy(str(path)) from None
                if on_wait is not None and not told:
                    told = True
                    on_wait()
                fcntl.flock(fd, mode)
        except BaseException:
            os.close(fd)
            raise
        # `env remove` renames the env directory (lock file included) away while holding
        # the lock; whoever waited on the old file must lock the new one instead.
        try:
            same = path.stat().st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        yield fd
    finally:
        os.close(fd)


def try_lock_dir(path: Path, *, shared: bool) -> int | None:
    """Lock a directory itself (its inode); the fd holding it, or None when busy/absent."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def each_idle(paths: Iterable[Path], flags: int) -> Iterator[tuple[Path, int]]:
    """Each of ``paths`` that no other process holds locked, in turn: opened with
    ``flags`` (``os.open``; created ``0o644`` with ``O_CREAT``), locked exclusively
    without waiting, and yielded with its fd, which is closed (and the lock released)
    when the loop moves on. One that cannot be opened or locked — a live command's,
    a download under way — is skipped: what cleans up after killed commands leaves it."""
    for path in paths:
        try:
            fd = os.open(path, flags, 0o644)
        except OSError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # held by a live process
            yield path, fd
        finally:
            os.close(fd)

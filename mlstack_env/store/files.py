"""Filesystem steps the store's atomic changes are made of."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

from mlstack_env.errors import MlstackError


def remove_tree(path: Path) -> None:
    """Remove a file, link or directory tree; gone already is fine. A folder made read-only
    by :func:`seal` is made writable again on the way (a user who is not root could not
    remove what is in it otherwise)."""
    import sys

    with contextlib.suppress(FileNotFoundError):
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif sys.version_info >= (3, 12):
            shutil.rmtree(path, onexc=_unseal_and_retry)
        else:
            shutil.rmtree(path, onerror=lambda f, p, e: _unseal_and_retry(f, p, e[1]))


def _unseal_and_retry(func: Callable[[str], object], path: str, exc: BaseException) -> None:
    if not isinstance(exc, PermissionError):
        raise exc
    parent = Path(path).parent
    parent.chmod(stat.S_IMODE(parent.stat().st_mode) | stat.S_IWUSR | stat.S_IXUSR)
    func(path)


def seal(venv: Path) -> None:
    """Make a store entry's ``bin/`` and ``site-packages/`` read-only, before it is
    published: nothing can then be added to them or removed from them — by pip or uv from
    outside the env, or by hand — except by root (the kernel does not stop root; `env
    verify` names what root changed). Only these two folders: files keep their modes (uv
    hard-links them with its cache), and each package's own folder stays writable for
    Python's bytecode cache (``site-packages/__pycache__`` is made first for the modules
    at the top level)."""
    site = next(iter(sorted(venv.glob("lib/python*/site-packages"))), None)
    if site is not None:
        (site / "__pycache__").mkdir(exist_ok=True)
    for folder in (venv / "bin", site):
        if folder is not None and folder.is_dir():
            folder.chmod(stat.S_IMODE(folder.stat().st_mode) & ~0o222)


def writable(mode: int) -> int:
    """A sealed folder's mode as a copy of it gets (a pack's members, a staging tree)."""
    return mode | stat.S_IWUSR


def temporary_dir(parent: Path, prefix: str) -> Path:
    """A new directory ``<prefix><random>`` in ``parent``, mode 0700: what
    ``tempfile.mkdtemp`` makes, without importing tempfile (with random) on a store hit."""
    for _ in range(100):
        path = parent / f"{prefix}{os.urandom(6).hex()}"
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:
            continue
        return path
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(parent))


def fsync_dir(path: Path) -> None:
    """Make a rename inside ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def own_directory(path: Path, what: str) -> None:
    """Refuse ``path`` unless it is a real directory (not a symlink) owned by this user.

    mlstack only writes below directories it made itself; a link planted there would send
    its writes (or a store entry's Python) somewhere else. Absent is fine.
    """
    try:
        st = path.lstat()
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode):
        why = f"is a symbolic link (to {path.readlink()})"
    elif not stat.S_ISDIR(st.st_mode):
        why = "is not a directory"
    elif st.st_uid != os.getuid():
        why = f"is owned by another user (uid {st.st_uid})"
    else:
        return
    raise MlstackError(
        f"{what} {path} {why}; mlstack does not use it",
        hint=f"mlstack makes that directory itself: move {path} away (after checking what "
        "it is) and run the command again",
    )

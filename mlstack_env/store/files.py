"""Filesystem steps the store's atomic changes are made of."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
from pathlib import Path

from mlstack_env.errors import MlstackError


def remove_tree(path: Path) -> None:
    """Remove a file, link or directory tree; gone already is fine."""
    with contextlib.suppress(FileNotFoundError):
        if path.is_symlink() or path.is_file():
            path.unlink()
        else:
            shutil.rmtree(path)


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

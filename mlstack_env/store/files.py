"""Filesystem steps the store's atomic changes are made of."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

from mlstack_env.core.errors import StoreError


def remove_tree(path: Path) -> None:
    """Remove a file, link or directory tree; gone already is fine. A folder made read-only
    by :func:`seal` is made writable again on the way (a user who is not root could not
    remove what is in it otherwise)."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(mode):  # a file or a link
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return
    if _remove_flat(path):
        return
    import shutil  # imports bz2 and lzma: loaded only when a tree is removed
    import sys

    with contextlib.suppress(FileNotFoundError):
        if sys.version_info >= (3, 12):
            shutil.rmtree(path, onexc=_unseal_and_retry)
        else:
            shutil.rmtree(path, onerror=lambda f, p, e: _unseal_and_retry(f, p, e[1]))


def _remove_flat(path: Path) -> bool:
    """A folder of files and links only (a store miss's build folder, once its venv is
    published) removed without ``shutil``; False when it holds a folder or a file cannot
    be removed (a sealed one): ``shutil.rmtree`` then removes what is left."""
    try:
        with os.scandir(path) as it:
            entries = list(it)
        if any(e.is_dir(follow_symlinks=False) for e in entries):
            return False
        for e in entries:
            (path / e.name).unlink()
        path.rmdir()
    except OSError:
        return False
    return True


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
    raise StoreError(
        f"{what} {path} {why}; mlstack does not use it",
        hint=f"mlstack makes that directory itself: move {path} away (after checking what "
        "it is) and run the command again",
    )


# --- temporaries outside MLSTACK_HOME --------------------------------------------------
#
# `env unpack` builds DIR beside it (`.DIR.unpack-*`), `env pack` writes `.FILE.*.part`
# (and for squashfs a hard-linked `*.stage-*` tree) beside the archive: places gc cannot
# list. While one exists, a record under MLSTACK_HOME/temporaries names it, locked by the
# process that made it; a record whose lock is free belongs to a killed command, and gc
# removes what it names (only a name of those three shapes, so a planted record can make
# gc delete nothing else).

TEMPORARY_SHAPES = (r"\..+\.unpack-[0-9a-f]{12}", r"\..+\.part",
                    r"\..+\.part\.stage-[0-9a-f]{12}")


def records_dir() -> Path:
    from mlstack_env.core import paths

    return paths.home() / "temporaries"


@contextlib.contextmanager
def recorded(path: Path) -> Iterator[None]:
    """Name ``path`` (a temporary outside MLSTACK_HOME, made just before) for gc while the
    block runs; the record goes when the block ends, however it ends (but ``kill -9``)."""
    import fcntl

    folder = records_dir()
    folder.mkdir(parents=True, exist_ok=True)
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    record = folder / f"{os.getpid()}-{os.urandom(6).hex()}"
    fd = os.open(record, flags, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, os.fsencode(str(path.absolute())))
        yield
    finally:
        record.unlink(missing_ok=True)
        os.close(fd)


def reclaim_recorded(dry_run: bool) -> list[Path]:
    """What records of killed commands name (see above), removed unless ``dry_run``."""
    import re

    from mlstack_env.core.locks import each_idle

    folder = records_dir()
    found: list[Path] = []
    records = sorted(folder.iterdir()) if folder.is_dir() else []
    # A record whose command runs is locked: skipped.
    for record, fd in each_idle(records, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC):
        target = Path(os.fsdecode(os.read(fd, 8192)))
        shaped = any(re.fullmatch(shape, target.name) for shape in TEMPORARY_SHAPES)
        if target.is_absolute() and shaped and (target.exists() or target.is_symlink()):
            found.append(target)
            if not dry_run:
                remove_tree(target)
        if not dry_run:
            record.unlink(missing_ok=True)
    return found


# --- what live processes use -------------------------------------------------------------


def live_paths(roots: list[str]) -> list[str]:
    """Paths under ``roots`` that a live process uses, read from ``/proc``: ``VIRTUAL_ENV``
    or a ``PATH`` entry in its environment (what ``env run`` and a sourced ``bin/activate``
    hand every program, a detached one included), a file it maps (native libraries), its
    working directory or an open file. Processes we may not read are skipped."""
    prefixes = tuple(r.rstrip("/") + "/" for r in roots)
    exact = {r.rstrip("/") for r in roots}
    found: list[str] = []

    def note(path: str) -> None:
        if path.startswith(prefixes) or path in exact:
            found.append(path)

    try:
        procs = [p for p in Path("/proc").iterdir() if p.name.isdigit()]
    except OSError:
        return found
    for proc in procs:
        try:
            environ = (proc / "environ").read_bytes()
        except OSError:
            continue
        for item in environ.split(b"\0"):
            name, _, value = item.partition(b"=")
            if name in (b"VIRTUAL_ENV", b"PATH"):
                for part in os.fsdecode(value).split(os.pathsep):
                    note(part)
        with contextlib.suppress(OSError):
            for line in (proc / "maps").read_bytes().decode(errors="replace").splitlines():
                mapped = line.split(None, 5)[5:]
                if mapped:
                    note(mapped[0])
        with contextlib.suppress(OSError):
            note(str((proc / "cwd").readlink()))
        with contextlib.suppress(OSError):
            for fd in (proc / "fd").iterdir():
                with contextlib.suppress(OSError):
                    note(str(fd.readlink()))
    return found

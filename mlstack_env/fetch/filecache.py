"""mlstack's download cache, keyed by content: ``cache/files/<sha256>/<filename>``.

A file lands there only after its sha256 (and size, when known) matched while it
streamed (fetch/transfer.py), so a name in the cache always holds the locked bytes,
whichever mirror or URL fetched it. ``.part`` beside it is a download under way (locked
with ``flock``) or a killed one's bytes, to resume; ``.used`` is touched on each use, for
``cache prune``.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from pathlib import Path

from mlstack_env.core import paths
from mlstack_env.core.errors import LockError
from mlstack_env.fetch.wants import Want

CHUNK = 1 << 20  # bytes per read and write: what a killed run may fetch twice
PART = ".part"
USED = ".used"
UNUSED_DAYS = 30  # `cache prune` removes files no create has used for this long


def cache_dir() -> Path:
    return paths.files_cache_dir()


def slot_of(sha256: str) -> Path:
    if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
        raise LockError(f"{sha256!r} is not a sha256", "the lock's hashes are 64 hex digits")
    return cache_dir() / sha256


def cached(want: Want) -> Path | None:
    """The cached file with ``want``'s sha256, under its name (a file cached under another
    name — the same bytes from another URL — is linked to this one)."""
    slot = slot_of(want.sha256)
    path = slot / want.filename
    if path.is_file():
        return path
    with contextlib.suppress(OSError):
        for other in slot.iterdir():
            if not other.name.startswith(".") and other.is_file():
                _link_or_copy(other, path)
                return path
    return None


def _link_or_copy(source: Path, target: Path) -> None:
    tmp = target.with_name(f".{target.name}.{os.getpid()}")
    try:
        os.link(source, tmp)
    except OSError:
        import shutil

        shutil.copyfile(source, tmp)
    tmp.replace(target)


def touch(path: Path) -> None:
    """Mark a cached file used (`cache prune` keeps what was used lately) by touching
    ``.used`` beside it, never the file: uv keys its unpacked copy of a local wheel by
    the file's ctime, and a touched wheel would be unpacked again on every create."""
    with contextlib.suppress(OSError):
        (path.parent / USED).touch()


def file_sha256(path: Path) -> str:
    import hashlib  # a create whose files are cached hashes none of them

    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def prune(*, everything: bool) -> None:
    """Remove the whole download cache, or partial downloads no one is fetching and files
    no create or bundle used in :data:`UNUSED_DAYS` days."""
    root = cache_dir()
    if not root.is_dir():
        return
    if everything:
        _remove_slots(root, lambda slot: True)
        return
    cutoff = time.time() - UNUSED_DAYS * 86400

    def unused(slot: Path) -> bool:
        files = [p for p in slot.iterdir() if p.name != PART]
        return all(p.stat().st_mtime < cutoff for p in files)

    _remove_slots(root, unused)


def _remove_slots(root: Path, doomed: Callable[[Path], bool]) -> None:
    """Each slot no download holds (its ``.part`` locked by fetch/transfer.py): removed
    when ``doomed``, else cleared of a stale partial beside the finished file."""
    import shutil

    from mlstack_env.core.locks import each_idle

    slots = (s for s in root.iterdir() if s.is_dir() and not s.is_symlink())
    for part, _fd in each_idle((s / PART for s in slots), os.O_RDWR | os.O_CREAT):
        if doomed(part.parent):
            shutil.rmtree(part.parent, ignore_errors=True)
        else:
            part.unlink(missing_ok=True)  # a partial beside a finished file: stale

"""Parsed TOML kept on disk: a command that reads the bytes an earlier one read does not
parse them again, nor import ``tomllib``.

Every ``env create`` reads the lock, the user config, ``catalog/gpus.toml`` and
``catalog/sources.toml``; importing ``tomllib`` (with ``typing``, ``datetime`` and
``string``) and parsing them was about a tenth of an up-to-date create, and two 16-entry
locks' TOML most of ``diff``'s own work. What a reader returned for a document is kept as
``marshal`` data (built in, and loaded some fifty times faster than the text is parsed) in
``cache/toml/`` under ``MLSTACK_HOME``, beside the download cache, in a file named by
the sha256 of the exact bytes, the reader, the Python and this memo's format: a changed
byte, another Python or another reader misses, and the document is parsed as before — the
same code, so the same values and the same errors (a document that fails to parse is
never kept).

A document holding a date or a time is not kept (``marshal`` has no such types; none of
mlstack's own files holds one): it is parsed every time. A memo file carries the sha256
of its contents, checked before it is unmarshalled; one that fails the check (damaged,
truncated, written by something else) counts as a miss and is written again. Files are
written to a temporary beside them and renamed: a reader sees a whole file or none, and
two commands writing one document write the same bytes. No fsync: a file a crash damaged
fails the check. A cache folder that cannot be created or written only means parsing
every time, never an error or a warning.

The user config may hold credentials (its mirror URLs): of it the memo keeps no text,
only where each string stands in it (``private``), and the folder is the user's alone.
``mlstack cache clean`` removes the memo, ``cache prune`` its files no command used in
:data:`UNUSED_DAYS` days (a hit marks its file used, at most once a day).
"""

from __future__ import annotations

import contextlib
import marshal
import os
import stat
import sys
import time
from pathlib import Path

from mlstack_env.core import paths
from mlstack_env.core.digest import sha256_digest

TYPE_CHECKING = False  # typing is not loaded on the fast paths; mypy reads the names
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

#: What a memo file's name digests besides the document: change the format, change this.
FORMAT = b"mlstack toml memo 1"
# marshal's format and tomllib's behaviour may change with the Python, even a patch release.
_PYTHON = f"{sys.implementation.name} {sys.hexversion:x} marshal {marshal.version}".encode()
_CHECK = 32  # a memo file: the sha256 of the rest, then the marshalled value
_DAY = 86400
UNUSED_DAYS = 30  # `cache prune` removes memo files no command used for this long
TMP_SUFFIX = ".tmp"  # a writer's temporary, ``.<name>.<random>.tmp``, renamed in place


def load(path: Path) -> dict[str, Any]:
    """``tomllib.load`` of the file ``path`` (mlstack's own data files), through the memo."""
    with path.open("rb") as f:
        data = f.read()

    def parse() -> dict[str, Any]:
        import tomllib  # not on a hit

        return tomllib.loads(data.decode())  # what tomllib.load does with the bytes

    return parsed(data, parse, reader="tomllib")


def parsed(document: str | bytes, parse: Callable[[], dict[str, Any]], *, reader: str,
           private: bool = False) -> dict[str, Any]:
    """What ``parse()`` returns for ``document``: remembered when ``reader`` (the name of
    the code ``parse`` runs: another reader may check more, or return something else)
    parsed these exact bytes before, else parsed now, and remembered if it can be.

    ``private``: the document may hold credentials (the user config's mirror URLs, which
    mlstack copies nowhere): the memo keeps none of its text, only where each string
    (key or value) stands in it — a hit has the text in hand — and keeps nothing when a
    string is not there as it is (written with an escape)."""
    if private and not isinstance(document, str):
        return parse()
    data = (document if isinstance(document, bytes)
            else document.encode("utf-8", "surrogatepass"))
    name = sha256_digest(FORMAT, b"\0", _PYTHON, b"\0", reader.encode(),
                         b"\0private\0" if private else b"\0", data).hex()
    path = Path(paths.toml_memo_dir_str(), name)
    kept = _recall(path)
    if kept is not None and private:
        kept = _strings(kept, str(document))
    if kept is not None:
        return kept
    value = parse()
    with contextlib.suppress(ValueError):  # a string not in the text as it is
        _keep(path, _positions(value, str(document)) if private else value)
    return value


def _positions(value: Any, text: str) -> Any:
    """``value`` with each string replaced by ``(start, length)`` of where ``text`` holds
    it (TOML makes no tuples); ValueError when one is not there."""
    kind = type(value)
    if kind is str:
        start = text.find(value)
        if start < 0:
            raise ValueError  # without the string: it may be a credential
        return (start, len(value))
    if kind is dict:
        return {_positions(k, text): _positions(v, text) for k, v in value.items()}
    if kind is list:
        return [_positions(v, text) for v in value]
    return value


def _strings(kept: Any, text: str) -> Any:
    """What :func:`_positions` made, with the strings back from ``text``."""
    kind = type(kept)
    if kind is tuple:
        start, length = kept
        return text[start:start + length]
    if kind is dict:
        return {_strings(k, text): _strings(v, text) for k, v in kept.items()}
    if kind is list:
        return [_strings(v, text) for v in kept]
    return kept


def _recall(path: Path) -> dict[str, Any] | None:
    try:  # a regular file only: a FIFO put there would block, a link is not ours
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None
        blob = os.read(fd, st.st_size)  # short only if damaged: the check fails
        if st.st_mtime < time.time() - _DAY:
            _mark_used(fd)
    except OSError:
        return None
    finally:
        os.close(fd)
    payload = blob[_CHECK:]
    if len(blob) < _CHECK or sha256_digest(payload) != blob[:_CHECK]:
        return None
    try:
        value = marshal.loads(payload)  # noqa: S302 - our own file, its sha256 checked
    except (EOFError, ValueError, TypeError):
        return None
    return value if type(value) is dict else None


def _mark_used(fd: int) -> None:
    with contextlib.suppress(OSError):  # a read-only cache still serves hits
        os.utime(fd)


def _keep(path: Path, value: dict[str, Any]) -> None:
    try:
        payload = marshal.dumps(value)
    except ValueError:  # a date or a time
        return
    tmp = path.with_name(f".{path.name}.{os.urandom(6).hex()}{TMP_SUFFIX}")
    try:
        # Its own folder 0700: a name digests a document (the user config's too), and so
        # could check a guess of what the document holds.
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o666)
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(sha256_digest(payload))
            f.write(payload)
        tmp.replace(path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()


def prune(*, everything: bool) -> None:
    """Remove the memo, or its files no command used in :data:`UNUSED_DAYS` days and
    temporaries a killed writer left (older than a day: a writer holds one for
    milliseconds)."""
    folder = paths.toml_memo_dir_str()
    if everything:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
        return
    now = time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        days = 1 if entry.name.endswith(TMP_SUFFIX) else UNUSED_DAYS
        with contextlib.suppress(OSError):
            if entry.stat(follow_symlinks=False).st_mtime < now - days * _DAY:
                Path(entry.path).unlink()

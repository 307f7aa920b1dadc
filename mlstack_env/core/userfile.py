"""Reading and writing the files a user hands mlstack: manifests, profiles, locks, config.

One reader for all of them, so every bad file gets the same clean error naming the file:
not a regular file (a FIFO would block the read forever, ``/dev/zero`` never ends), too
big, not UTF-8 (the byte offset and line, never the bytes themselves), not TOML (the
line). And one check before writing a user-named output (``-o FILE``): a symlink or a
device there is refused instead of being replaced or written through.
"""

from __future__ import annotations

import _thread
import errno
import os
import stat
from collections.abc import Callable
from pathlib import Path

from mlstack_env.core import tomlmemo
from mlstack_env.core.errors import ManifestError, MlstackError, UsageError, toml_problem

TYPE_CHECKING = False  # typing costs an import on the fast paths; mypy reads it
if TYPE_CHECKING:
    from typing import Any

#: The largest file mlstack reads as input. A lock of 50 entries x 300 wheels is ~4 MiB.
MAX_BYTES = 64 * 1024 * 1024

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def read_bytes(path: Path, hint: str = "check the path and its permissions", *,
               kind: type[MlstackError] = MlstackError) -> bytes:
    """The bytes of the regular file ``path``. A missing file raises FileNotFoundError
    (callers say what a missing file means); every other problem is a ``kind`` (the
    caller's: a lock's reader passes LockError, a manifest's ManifestError)."""
    try:
        # O_NONBLOCK: opening a FIFO with no writer would block; fstat then refuses it.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise kind(f"cannot read {path}: {exc.strerror or exc}", hint) from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise kind(f"cannot read {path}: it is {_kind(mode)}, not a regular file",
                       "pass the path of a regular file")
        chunks: list[bytes] = []
        size = 0
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            size += len(chunk)
            if size > MAX_BYTES:
                raise kind(
                    f"cannot read {path}: it is larger than {MAX_BYTES // (1024 * 1024)} MiB",
                    "pass the right file; mlstack's inputs are small text files",
                )
            chunks.append(chunk)
    except OSError as exc:
        raise kind(f"cannot read {path}: {exc.strerror or exc}", hint) from None
    finally:
        os.close(fd)
    return b"".join(chunks)


def decode(data: bytes, source: str | Path, hint: str, *,
           kind: type[MlstackError] = MlstackError) -> str:
    """``data`` as UTF-8; else an error naming the first bad byte's offset and line."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise kind(
            f"{source}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}, "
            f"line {line})",
            hint,
        ) from None


def read_text(path: Path, hint: str = "check the path and its permissions",
              decode_hint: str = "save the file as UTF-8", *,
              kind: type[MlstackError] = MlstackError) -> str:
    """A user's text file: a regular file, at most MAX_BYTES, UTF-8 (see read_bytes)."""
    return decode(read_bytes(path, hint, kind=kind), path, decode_hint, kind=kind)


#: The deepest key (``a.b.c`` is 3) and nesting of ``[``/``{`` mlstack's files need is
#: small; tomllib's cost grows with the square of a dotted key's depth (a 32 KB file with
#: a 16,000-level key took 1 GB), so deeper is refused before the parser sees the text.
MAX_KEY_DEPTH = 64
MAX_NESTING = 64

# Strings and comments, leftmost first (as a TOML lexer meets them): what is left holds
# every key, bracket and separator, and no text of a value.
_STRINGS_AND_COMMENTS = (r'"""(?:[^"\\]|\\.|"(?!""))*"""|\'\'\'(?:[^\']|\'(?!\'\'))*\'\'\''
                         r'|"(?:[^"\\\n]|\\.)*"|\'[^\'\n]*\'|#[^\n]*')


_KEEP = "\"'#\\\\.,=\\[\\]{}\\n"
_ORDINARY = rf"(?<!\\)[^{_KEEP}]+|(?<=\\)([^{_KEEP}])[^{_KEEP}]*"
_SHAPE_HINT = "mlstack's files nest a few levels deep: pass the right file"


def check_toml_shape(text: str, source: str | Path, *,
                     kind: type[MlstackError] = MlstackError) -> None:
    """Refuse TOML whose keys or brackets nest deeper than mlstack's files ever do, in
    time and memory linear in the text (regular expressions without backtracking, and
    C-level counting), before ``tomllib`` is given it."""
    if text.count(".") <= MAX_KEY_DEPTH and text.count("[") + text.count("{") <= MAX_NESTING:
        return  # the common small file: nothing can be that deep
    import re
    from itertools import accumulate

    # First drop what can change neither a string's or comment's bounds nor the count:
    # runs of ordinary characters (a URL keeps its dots), but never the character after
    # a backslash (an escape). A 36 MiB lock shrinks about tenfold, in one C-level pass.
    reduced = (re.sub(_ORDINARY, r"\1", text) if "\\" in text
               else re.sub(f"[^{_KEEP}]+", "", text))
    bare = re.sub(_STRINGS_AND_COMMENTS, "", reduced)
    # A key's depth is its dots between two separators; a value holds at most one dot
    # (1.5, a date's fraction) once strings are gone.
    skeleton = re.sub(r"[^.,=\[\]{}\n]+", "", bare)
    if re.search(rf"\.{{{MAX_KEY_DEPTH}}}", skeleton):
        raise kind(f"{source}: invalid TOML: a dotted key is more than "
                   f"{MAX_KEY_DEPTH} levels deep", _SHAPE_HINT)
    brackets = re.sub(r"[^\[\]{}]+", "", bare)
    step = {"[": 1, "{": 1, "]": -1, "}": -1}.__getitem__
    if brackets and max(accumulate(map(step, brackets))) > MAX_NESTING:
        raise kind(f"{source}: invalid TOML: arrays or tables nest more than "
                   f"{MAX_NESTING} deep", _SHAPE_HINT)


def parse_toml(text: str, source: str | Path, hint: str, *,
               kind: type[MlstackError] = MlstackError, private: bool = False) -> dict[str, Any]:
    """``text`` as TOML; else a ``kind`` naming ``source`` and the line. Text this
    parsed before comes from core/tomlmemo.py, without ``tomllib``; ``private`` text (it
    may hold credentials) is kept there as positions in the text, never as text."""

    def parse() -> dict[str, Any]:
        check_toml_shape(text, source, kind=kind)
        import tomllib  # not on a memo hit: its import is ~6 ms of a store hit

        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise kind(f"{source}: invalid TOML: {toml_problem(exc, text)}", hint) from None
        except RecursionError:  # tomllib recurses per nesting level: [[[[[[...
            raise kind(f"{source}: invalid TOML: arrays or tables nested too deeply",
                       hint) from None

    return tomlmemo.parsed(text, parse, reader="userfile.parse_toml", private=private)


TOML_HINT = "fix the syntax at that line (see https://toml.io)"


def read_toml(path: Path, hint: str = TOML_HINT, *,
              kind: type[MlstackError] = MlstackError) -> tuple[dict[str, Any], str]:
    """A user's TOML file, parsed, and its text (for line numbers in later errors)."""
    text = read_text(path, kind=kind)
    return parse_toml(text, path, hint, kind=kind), text


def check_output(path: Path) -> None:
    """Refuse to write a user-named output over anything but a regular file (or nothing):
    a rename would replace a symlink or a device node, and writing through one would
    change what it points at."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}",
                         "choose another output path") from None
    if stat.S_ISLNK(mode):
        raise UsageError(f"refusing to write {path}: it is a symbolic link",
                         "write to the link's target directly, or choose another path")
    if not stat.S_ISREG(mode):
        raise UsageError(f"refusing to write {path}: it is {_kind(mode)}",
                         "choose a regular file as the output")


def write_atomic(path: Path, text: str | bytes, *, check: Callable[[Path], object] | None = None,
                 mode: int | None = None, sync: bool = True) -> None:
    """Write ``text`` (UTF-8, or bytes) to ``path`` so readers see the old file or the new
    one, never half: the one writer of the files mlstack writes whole from memory
    (through :func:`temporary_beside`).

    The file people get has the mode any tool would give it: an existing file keeps its
    mode (a teammate's ``chmod g+w`` survives a re-lock); a new one gets 0666 minus the
    umask (0644 under 022) — not mkstemp's 0600; ``mode`` fixes it instead (activation
    scripts: 0644, sourced, never executed). ``check`` (e.g. "does mlstack load it?")
    runs on the written temporary file before it replaces ``path``. ``sync=False`` skips
    the fsync, for files in a folder published later by its own rename (a generation's).
    Only over a regular file or nothing: a symlink or a device there is refused (see
    :func:`check_output`).
    """
    check_output(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode is None:
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except OSError:
            mode = 0o666 & ~current_umask()
    fd, tmp = temporary_beside(path)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(text.encode("utf-8") if isinstance(text, str) else text)
            if sync:
                f.flush()
                os.fsync(f.fileno())
        if check is not None:
            check(Path(tmp))
        Path(tmp).replace(path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        if exc.filename is None:  # write() and fsync() name no file: say which one
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def temporary_beside(path: Path) -> tuple[int, Path]:
    """A new file ``.<name>.<random>.tmp`` in ``path``'s directory, open for writing, mode
    0600 — what ``tempfile.mkstemp`` makes (exclusive, no link followed, close-on-exec),
    without importing tempfile (with random and shutil) on a store hit."""
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{os.urandom(6).hex()}.tmp"
        try:
            return os.open(tmp, flags, 0o600), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(path.parent))


_UMASK_LOCK = _thread.allocate_lock()  # threading.Lock(), without importing threading


def current_umask() -> int:
    """The process umask, read without changing it where Linux allows (``/proc/self/status``
    has ``Umask:`` since 4.7); else set-and-restore under a lock, since os.umask is
    process-global and another thread could create a file in between."""
    try:
        with Path("/proc/self/status").open(encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o077)
        os.umask(mask)
    return mask


# --- errors with file and line ---------------------------------------------------------


def line_of(text: str, needle: str, start: int = 0) -> int | None:
    """The 1-based line of the first occurrence of ``needle`` at/after line ``start``."""
    for i, line in enumerate(text.splitlines()[start:], start=start + 1):
        if needle in line:
            return i
    return None


def where_key(source: str, text: str | None, needle: str | None, after: str | None = None
              ) -> str:
    """``source:line`` of ``needle`` (at/after the line of ``after``), else ``source``."""
    if text is None or needle is None:
        return source
    start = 0
    if after is not None:
        start = (line_of(text, after) or 1) - 1
    line = line_of(text, needle, start)
    return f"{source}:{line}" if line else source


def unknown_key_error(source: str, text: str | None, key: str, known: tuple[str, ...],
                      what: str, *, after: str | None = None) -> ManifestError:
    import difflib

    close = difflib.get_close_matches(key, known, n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(known)}"
    where = where_key(source, text, key, after)
    return ManifestError(f"{where}: unknown key {key!r} in {what}", hint)

"""The lock as text, both ways: :func:`dumps` (deterministic: sorted, built here, so the
same inputs give the same bytes) and :func:`loads` / :func:`read_lock` (every shape
checked, one clean error naming the file and the entry)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from mlstack_env.catalog.target import Target
from mlstack_env.core import envvars, userfile
from mlstack_env.core.errors import BadValueError, LockError, TargetError
from mlstack_env.core.system_names import check_system_package
from mlstack_env.lockfile.model import (
    FORMAT_VERSION,
    HEADER,
    LOCK_NAME,
    SELECTOR,
    Lock,
    LockedPackage,
    LockEntry,
    Wheel,
    entry_text,
    quote,
)

TYPE_CHECKING = False  # typing costs an import on the fast paths; mypy reads it
if TYPE_CHECKING:
    from typing import Any

# --- writing ---------------------------------------------------------------------------


def dumps(lock: Lock) -> str:
    lock = lock.sorted()
    head = (
        HEADER
        + f"version = {FORMAT_VERSION}\n"
        + f"mlstack-version = {quote(lock.mlstack_version)}\n"
        + f"uv-version = {quote(lock.uv_version)}\n"
    )
    return head + "".join("\n" + entry_text(e) for e in lock.entries)


# --- reading ---------------------------------------------------------------------------


def _bad(source: str, what: str) -> LockError:
    return LockError(
        f"{source}: {what}",
        hint="re-create the lock with `mlstack lock`, or restore it from version control",
    )


def _str(d: Mapping[str, Any], key: str, source: str) -> str:
    value = d.get(key)
    if not isinstance(value, str):
        raise _bad(source, f"missing or non-string {key!r}")
    return value


def _strs(d: Mapping[str, Any], key: str, source: str) -> tuple[str, ...]:
    value = d.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _bad(source, f"{key!r} must be a list of strings")
    return tuple(value)


def _tables(d: Mapping[str, Any], key: str, source: str) -> list[dict[str, Any]]:
    """``[[key]]`` (or ``key = [{…}, …]``): a list of tables, else an error."""
    value = d.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise _bad(source, f"{key!r} must be a list of tables ([[{key}]])")
    return value


_PYTHON_RE = re.compile(r"3\.[0-9]{1,3}", re.ASCII)
_SHA256_RE = re.compile(r"[0-9a-f]{64}", re.ASCII)
# uv's --python-platform values (x86_64-manylinux_2_28): never one that reads as an option.
_PLATFORM_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}", re.ASCII)
_URL_SCHEMES = ("https://", "http://", "file://")
# A file name as an index lists it: one path segment, no control character or space.
_FILENAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+!-]{0,254}\.(?:whl|tar\.gz)", re.ASCII)
# Space, C0 controls and DEL: one regular-expression scan (a 36 MiB lock holds 20 million
# URL characters; a per-character loop in Python took seconds).
_CONTROL_RE = re.compile(r"[\x00-\x20\x7f]")


def _url(value: str, source: str) -> str:
    """A wheel or index URL as the lock records it: absolute, no placeholder left, nothing
    a terminal, a shell or a URL parser could read as more than one URL."""
    if not value.startswith(_URL_SCHEMES):
        raise _bad(source, f"URL {value!r} is not an http(s):// or file:// URL")
    if any(c in value for c in "{}") :
        raise _bad(source, f"URL {value!r} has a placeholder ({{…}}) left in it")
    if _CONTROL_RE.search(value):
        raise _bad(source, f"URL {value!r} has a space or a control character in it")
    return value


def _file(w: Mapping[str, Any], name: str, where: str) -> Wheel:
    """One locked file (a wheel, or the selector's sdist): URL, sha256, size."""
    size = w.get("size")
    # bool is an int to Python, but `size = true` is not a size.
    if size is not None and (type(size) is not int or size < 0):
        raise _bad(where, f"package {name}: wheel size must be a whole number "
                   f"of bytes, not {size!r}")
    sha = _str(w, "sha256", f"{where}: package {name}")
    if not _SHA256_RE.fullmatch(sha):
        raise _bad(where, f"package {name}: sha256 {sha!r} is not a sha256 hex digest")
    if "url" not in w and "name" in w:  # locked through a mirror of another layout
        filename = _str(w, "name", f"{where}: package {name}")
        if not _FILENAME_RE.fullmatch(filename):
            raise _bad(where, f"package {name}: file name {filename!r} is not a wheel or "
                       "sdist file name")
        return Wheel("", sha, size, name=filename)
    url = _url(_str(w, "url", f"{where}: package {name}"), f"{where}: package {name}")
    return Wheel(url, sha, size)


def loads(text: str, source: str = LOCK_NAME) -> Lock:
    raw = userfile.parse_toml(text, source, _LOCK_HINT, kind=LockError)
    version = raw.get("version")
    if type(version) is not int or version != FORMAT_VERSION:
        raise LockError(
            f"{source}: lock format version {version!r} is not supported (expected "
            f"{FORMAT_VERSION})",
            hint="upgrade mlstack, or re-create the lock with `mlstack lock`",
        )
    entries: list[LockEntry] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(_tables(raw, "entry", source)):
        where = f"{source}: entry {i + 1}"
        entry = _entry(item, where)
        if entry.key in seen:
            raise _bad(where, f"entry {entry.key} is already entry {seen[entry.key]}")
        seen[entry.key] = i + 1
        entries.append(entry)
    return Lock(
        entries=tuple(entries),
        mlstack_version=str(raw.get("mlstack-version", "")),
        uv_version=str(raw.get("uv-version", "")),
    )


def _entry(item: dict[str, Any], where: str) -> LockEntry:
    """One ``[[entry]]`` table, every value checked (``where`` names it in errors)."""
    try:
        target = Target.parse(_str(item, "target", where))
    except TargetError as err:
        raise _bad(where, err.message) from None
    env = item.get("env", {})
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        raise _bad(where, "'env' must be a table of strings")
    for name, value in env.items():
        try:  # the rule profiles obey: a lock edited by hand gets no further
            envvars.check_variable(name, value)
        except BadValueError as err:
            raise _bad(where, err.message) from None
    system = _strs(item, "system", where)
    for package in system:
        try:
            check_system_package(package)
        except BadValueError as err:
            raise _bad(where, err.message) from None
    python = _str(item, "python", where)
    if not _PYTHON_RE.fullmatch(python):
        raise _bad(where, f"python {python!r} is not a Python version X.Y")
    platform = _str(item, "platform", where)
    if not _PLATFORM_RE.fullmatch(platform):
        raise _bad(where, f"platform {platform!r} is not a platform name like "
                   "x86_64-manylinux_2_28")
    packages = []
    names: set[str] = set()
    for p in _tables(item, "package", where):
        name = _str(p, "name", where)
        if name in names:
            raise _bad(where, f"package {name} is listed twice")
        names.add(name)
        packages.append(_package(p, name, where))
    return LockEntry(
        profile=_str(item, "profile", where),
        target=target,
        python=python,
        platform=platform,
        packages=tuple(packages),
        env=dict(env),
        system=system,
        notes=_strs(item, "notes", where),
        inputs_hash=_str(item, "inputs-hash", where),
    )


def _package(p: dict[str, Any], name: str, where: str) -> LockedPackage:
    """One ``[[entry.package]]`` table: its wheels, or the selector's one sdist."""
    wheels = [_file(w, name, where) for w in _tables(p, "wheels", f"{where}: package {name}")]
    sdist = None
    if "sdist" in p:
        # Only ROCm's selector: its rocm_sdk package is unpacked, never built.
        if name != SELECTOR or wheels or not isinstance(p["sdist"], dict):
            raise _bad(where, f"package {name}: only the {SELECTOR!r} selector may "
                       "have an sdist, as one table and no wheels")
        sdist = _file(p["sdist"], name, where)
        if not sdist.filename.endswith(".tar.gz"):
            raise _bad(where, f"package {name}: sdist {sdist.filename} is not a .tar.gz")
    elif not wheels:
        raise _bad(where, f"package {name} has no wheels")
    index = p.get("index")
    if index is not None and not isinstance(index, str):
        raise _bad(where, f"package {name}: 'index' must be a URL string")
    return LockedPackage(
        name=name,
        version=_str(p, "version", where),
        index=_url(index, f"{where}: package {name}") if index else None,
        wheels=tuple(wheels),
        sdist=sdist,
    )


_LOCK_HINT = "re-create the lock with `mlstack lock`, or restore it from version control"


def read_lock(path: Path) -> Lock:
    try:
        text = userfile.read_text(path, decode_hint=_LOCK_HINT, kind=LockError)
    except FileNotFoundError:
        raise LockError(
            f"lock file {path} does not exist",
            hint="create it with `mlstack lock`, or pass the right path",
        ) from None
    return loads(text, str(path))

"""The lock file: read, write, hash, select. Resolution lives in ``resolve``.

Format (documented in docs/lockfile.md): TOML, one ``[[entry]]`` per profile x target x
Python, every package with its exact version, canonical index and wheels (URL, sha256,
size). Writing is deterministic: entries, packages, wheels and variables are sorted and
the text is built here, so the same inputs give the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from mlstack_env import envvars, userfile
from mlstack_env.errors import MlstackError
from mlstack_env.system_names import check_system_package
from mlstack_env.target import Target

FORMAT_VERSION = 1
# ROCm's selector package: the one package a lock may hold as an sdist (see LockedPackage).
SELECTOR = "rocm"
LOCK_NAME = "mlstack.lock"
HEADER = "# Written by `mlstack lock`. Do not edit by hand: re-run `mlstack lock`.\n"


@dataclass(frozen=True, order=True)
class Wheel:
    url: str  # canonical URL, never a mirror's
    sha256: str
    size: int | None = None

    @property
    def filename(self) -> str:
        return unquote(urlsplit(self.url).path.rsplit("/", 1)[-1])


@dataclass(frozen=True)
class LockedPackage:
    name: str  # normalized (PEP 503)
    version: str
    index: str | None  # canonical index URL the package came from
    wheels: tuple[Wheel, ...]
    # The one sdist a lock holds: ROCm's ``rocm`` selector (SELECTOR below), whose
    # pure-Python ``rocm_sdk`` package mlstack unpacks itself, never building it
    # (store/selector.py). uv never sees it: ``to_pylock`` leaves it out.
    sdist: Wheel | None = None

    @property
    def files(self) -> tuple[Wheel, ...]:
        """Every file the package fetches: its wheels, or its sdist."""
        return self.wheels + ((self.sdist,) if self.sdist is not None else ())


@dataclass(frozen=True)
class LockEntry:
    profile: str
    target: Target
    python: str  # "3.12"
    platform: str  # uv --python-platform, e.g. "x86_64-manylinux_2_28"
    packages: tuple[LockedPackage, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    system: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    inputs_hash: str = ""

    @property
    def key(self) -> str:
        """``minimal@rocm6.4:gfx1100@py3.12``: unique within a lock."""
        return f"{self.profile}@{self.target}@py{self.python}"

    def package(self, name: str) -> LockedPackage | None:
        return next((p for p in self.packages if p.name == name), None)

    def content_hash(self) -> str:
        """sha256 of the entry's canonical text: what it installs and sets."""
        return "sha256:" + hashlib.sha256(_entry_text(self).encode()).hexdigest()


@dataclass(frozen=True)
class Lock:
    entries: tuple[LockEntry, ...]
    mlstack_version: str
    uv_version: str

    def sorted(self) -> Lock:
        return Lock(
            tuple(sorted(self.entries, key=_entry_sort_key)), self.mlstack_version, self.uv_version
        )

    def get(self, key: str) -> LockEntry | None:
        return next((e for e in self.entries if e.key == key), None)

    def merged(self, new: Iterable[LockEntry]) -> Lock:
        """This lock with ``new`` entries replacing those of the same key."""
        by_key = {e.key: e for e in self.entries}
        for e in new:
            by_key[e.key] = e
        return Lock(tuple(by_key.values()), self.mlstack_version, self.uv_version).sorted()


def _entry_sort_key(e: LockEntry) -> tuple[str, str, str]:
    return (e.profile, str(e.target), e.python)


# --- writing ---------------------------------------------------------------------------


def _q(value: str) -> str:
    """A TOML basic string. JSON's escaping is valid TOML; DEL must be escaped too."""
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def _qlist(values: Iterable[str]) -> str:
    return "[" + ", ".join(_q(v) for v in values) + "]"


def _entry_text(e: LockEntry) -> str:
    lines = [
        "[[entry]]",
        f"profile = {_q(e.profile)}",
        f"target = {_q(str(e.target))}",
        f"backend = {_q(e.target.backend)}",
    ]
    if e.target.rocm is not None:
        lines.append(f"rocm = {_q(e.target.rocm)}")
        lines.append(f"gfx = {_qlist(e.target.gfx)}")
    lines += [
        f"python = {_q(e.python)}",
        f"platform = {_q(e.platform)}",
        f"inputs-hash = {_q(e.inputs_hash)}",
        f"system = {_qlist(sorted(set(e.system)))}",
        f"notes = {_qlist(e.notes)}",
        "",
        "[entry.env]",
    ]
    lines += [f"{_q(k)} = {_q(v)}" for k, v in sorted(e.env.items())]
    for p in sorted(e.packages, key=lambda p: p.name):
        lines += [
            "",
            "[[entry.package]]",
            f"name = {_q(p.name)}",
            f"version = {_q(p.version)}",
        ]
        if p.index is not None:
            # Canonical, never mirrored: nothing is fetched from it (uv runs --no-index),
            # and uv keys cached wheels by it, so a changed mirror would miss them.
            lines.append(f"index = {_q(p.index)}")
        if p.sdist is not None:
            w = p.sdist
            size = f", size = {w.size}" if w.size is not None else ""
            lines.append(f"sdist = {{ url = {_q(w.url)}, sha256 = {_q(w.sha256)}{size} }}")
            continue
        lines.append("wheels = [")
        for w in sorted(p.wheels):
            size = f", size = {w.size}" if w.size is not None else ""
            lines.append(f"  {{ url = {_q(w.url)}, sha256 = {_q(w.sha256)}{size} }},")
        lines.append("]")
    return "\n".join(lines) + "\n"


def dumps(lock: Lock) -> str:
    lock = lock.sorted()
    head = (
        HEADER
        + f"version = {FORMAT_VERSION}\n"
        + f"mlstack-version = {_q(lock.mlstack_version)}\n"
        + f"uv-version = {_q(lock.uv_version)}\n"
    )
    return head + "".join("\n" + _entry_text(e) for e in lock.entries)


def write_atomic(path: Path, text: str, *, check: Callable[[Path], object] | None = None) -> None:
    """Write ``text`` to ``path`` so readers see the old file or the new one, never half.

    The file people get has the mode any tool would give it: an existing file keeps its
    mode (a teammate's ``chmod g+w`` survives a re-lock); a new one gets 0666 minus the
    umask (0644 under 022) — not mkstemp's 0600. ``check`` (e.g. "does mlstack load
    it?") runs on the written temporary file before it replaces ``path``. Only over a
    regular file or nothing: a symlink or a device there is refused (see
    :func:`userfile.check_output`).
    """
    userfile.check_output(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        mode = 0o666 & ~current_umask()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
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


_UMASK_LOCK = threading.Lock()


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


# --- reading ---------------------------------------------------------------------------


def _bad(source: str, what: str) -> MlstackError:
    return MlstackError(
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


def _url(value: str, source: str) -> str:
    """A wheel or index URL as the lock records it: absolute, no placeholder left, nothing
    a terminal, a shell or a URL parser could read as more than one URL."""
    if not value.startswith(_URL_SCHEMES):
        raise _bad(source, f"URL {value!r} is not an http(s):// or file:// URL")
    if any(c in value for c in "{}") :
        raise _bad(source, f"URL {value!r} has a placeholder ({{…}}) left in it")
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in value):
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
    url = _url(_str(w, "url", f"{where}: package {name}"), f"{where}: package {name}")
    return Wheel(url, sha, size)


def loads(text: str, source: str = LOCK_NAME) -> Lock:
    raw = userfile.parse_toml(text, source, _LOCK_HINT)
    version = raw.get("version")
    if type(version) is not int or version != FORMAT_VERSION:
        raise MlstackError(
            f"{source}: lock format version {version!r} is not supported (expected "
            f"{FORMAT_VERSION})",
            hint="upgrade mlstack, or re-create the lock with `mlstack lock`",
        )
    entries: list[LockEntry] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(_tables(raw, "entry", source)):
        where = f"{source}: entry {i + 1}"
        try:
            target = Target.parse(_str(item, "target", where))
        except MlstackError as err:
            raise _bad(where, err.message) from None
        env = item.get("env", {})
        if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
            raise _bad(where, "'env' must be a table of strings")
        for name, value in env.items():
            try:  # the rule profiles obey: a lock edited by hand gets no further
                envvars.check_variable(name, value)
            except MlstackError as err:
                raise _bad(where, err.message) from None
        system = _strs(item, "system", where)
        for package in system:
            try:
                check_system_package(package)
            except MlstackError as err:
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
            wheels = [_file(w, name, where)
                      for w in _tables(p, "wheels", f"{where}: package {name}")]
            sdist = None
            if "sdist" in p:
                # Only ROCm's selector: its rocm_sdk package is unpacked, never built.
                if name != SELECTOR or wheels or not isinstance(p["sdist"], dict):
                    raise _bad(where, f"package {name}: only the {SELECTOR!r} selector may "
                               "have an sdist, as one table and no wheels")
                sdist = _file(p["sdist"], name, where)
                if not sdist.filename.endswith(".tar.gz"):
                    raise _bad(where, f"package {name}: sdist {sdist.url} is not a .tar.gz")
            elif not wheels:
                raise _bad(where, f"package {name} has no wheels")
            index = p.get("index")
            if index is not None and not isinstance(index, str):
                raise _bad(where, f"package {name}: 'index' must be a URL string")
            packages.append(
                LockedPackage(
                    name=name,
                    version=_str(p, "version", where),
                    index=_url(index, f"{where}: package {name}") if index else None,
                    wheels=tuple(wheels),
                    sdist=sdist,
                )
            )
        entry = LockEntry(
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
        if entry.key in seen:
            raise _bad(where, f"entry {entry.key} is already entry {seen[entry.key]}")
        seen[entry.key] = i + 1
        entries.append(entry)
    return Lock(
        entries=tuple(entries),
        mlstack_version=str(raw.get("mlstack-version", "")),
        uv_version=str(raw.get("uv-version", "")),
    )


_LOCK_HINT = "re-create the lock with `mlstack lock`, or restore it from version control"


def read_lock(path: Path) -> Lock:
    try:
        text = userfile.read_text(path, decode_hint=_LOCK_HINT)
    except FileNotFoundError:
        raise MlstackError(
            f"lock file {path} does not exist",
            hint="create it with `mlstack lock`, or pass the right path",
        ) from None
    return loads(text, str(path))


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
        raise MlstackError(
            f"{source} has no entry for profile {profile!r}",
            hint=f"profiles in this lock: {known}",
        )
    fitting = [e for e in candidates if fits(e, target, python)]
    if not fitting:
        locked = ", ".join(f"{e.target} (py{e.python})" for e in candidates)
        py = f", Python {python}" if python else ""
        raise MlstackError(
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


# --- PEP 751 ---------------------------------------------------------------------------


def map_url(url: str, url_map: Mapping[str, str]) -> str:
    """``url`` with the first matching prefix of ``url_map`` replaced (a whole URL is a
    prefix too)."""
    for prefix, replacement in url_map.items():
        if url.startswith(prefix):
            return replacement + url[len(prefix):]
    return url


def to_pylock(entry: LockEntry, url_map: Mapping[str, str] | None = None) -> str:
    """The entry as a standard PEP 751 ``pylock.toml`` (installable by uv and pip).

    ``url_map`` rewrites URL prefixes (mirrors) for an install-time copy; exports for
    sharing pass none, so they keep canonical URLs.
    """

    def mapped(url: str) -> str:
        return map_url(url, url_map or {})

    lines = [
        'lock-version = "1.0"',
        f"requires-python = {_q('==' + entry.python + '.*')}",
        'created-by = "mlstack"',
    ]
    for p in sorted(entry.packages, key=lambda p: p.name):
        if p.sdist is not None:  # the rocm selector: mlstack unpacks it, uv never builds it
            continue
        lines += ["", "[[packages]]", f"name = {_q(p.name)}", f"version = {_q(p.version)}"]
        if p.index is not None:
            # Canonical, never mirrored: nothing is fetched from it (uv runs --no-index),
            # and uv keys cached wheels by it, so a changed mirror would miss them.
            lines.append(f"index = {_q(p.index)}")
        lines.append("wheels = [")
        for w in sorted(p.wheels):
            size = f", size = {w.size}" if w.size is not None else ""
            lines.append(
                f"  {{ name = {_q(w.filename)}, url = {_q(mapped(w.url))}{size}, "
                f"hashes = {{ sha256 = {_q(w.sha256)} }} }},"
            )
        lines.append("]")
    return "\n".join(lines) + "\n"

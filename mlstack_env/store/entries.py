"""The content-addressed store: each materialized lock entry lives once, at
``store/<key>/``, keyed by the hash of what it installs.

A store entry is a relocatable uv venv. It is built in a temporary directory
(``store/.tmp-build<N>py<XY>-venv``, else ``store/.tmp-<key>-*/``) and renamed into
place only when complete, so ``store/<key>/`` is complete or absent; a
killed build leaves only a temporary directory, removed by the next build of that key
or by gc. Builds of one key are serialized by ``store/.locks/<key>.lock``; gc takes
``store/.lock`` exclusively while creates hold it shared.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from pathlib import Path

from mlstack_env import __version__
from mlstack_env.core import paths
from mlstack_env.core.digest import sha256_hex
from mlstack_env.core.locks import Busy, file_lock
from mlstack_env.core.record import record
from mlstack_env.core.userfile import write_atomic
from mlstack_env.lockfile import LockEntry
from mlstack_env.store.files import fsync_dir, own_directory, remove_tree, seal, temporary_dir

TYPE_CHECKING = False  # typing costs an import on the fast paths; mypy reads it
if TYPE_CHECKING:
    from typing import Any, Protocol
else:  # Progress and Installer are interfaces for mypy; at run time, plain classes
    Protocol = object

META_NAME = "mlstack-store.json"
TMP_PREFIX = ".tmp-"
_BUILD_SLOTS = 4  # concurrent builds per Python that get a fixed path (Store._build_path)


def store_key(entry: LockEntry) -> str:
    """The hash of what an entry installs: Python, platform, every package with its
    version and wheel hashes, and the entry's variables. Profile and target names are left
    out, so two profiles that lock to the same set share one store entry."""
    doc = {
        "python": entry.python,
        "platform": entry.platform,
        "packages": [
            [p.name, p.version, sorted(w.sha256 for w in p.files)]
            for p in sorted(entry.packages, key=lambda p: p.name)
        ],
        "env": dict(sorted(entry.env.items())),
    }
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"))
    return sha256_hex(text)[:32]


@record
class StoreEntry:
    """One published store entry: a relocatable venv named by its key."""
    key: str
    path: Path

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    def meta(self) -> dict[str, Any]:
        try:
            data = json.loads((self.path / META_NAME).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    @property
    def uv_version(self) -> str:
        return str(self.meta().get("uv_version", ""))


class Progress(Protocol):
    """Where long steps are announced (a rich spinner on stderr, or nothing)."""

    def step(self, message: str) -> AbstractContextManager[None]: ...


class NoProgress:
    def step(self, message: str) -> AbstractContextManager[None]:
        return nullcontext()


class Installer(Protocol):
    """Materializes a lock entry into an empty ``venv`` path; returns the uv version."""

    def install(self, entry: LockEntry, venv: Path, workdir: Path, progress: Progress) -> str: ...


class Store:
    def __init__(self, root: Path | None = None) -> None:
        self.root = root or paths.store_dir()

    def entry(self, key: str) -> StoreEntry:
        return StoreEntry(key, self.root / key)

    def has(self, key: str) -> bool:
        """Is the entry built? A planted link or a directory another user owns there is
        an error, never used."""
        own_directory(self.root / key, "store entry")
        return (self.root / key / META_NAME).is_file()

    def entries(self) -> list[StoreEntry]:
        if not self.root.is_dir():
            return []
        return sorted(
            (StoreEntry(p.name, p) for p in self.root.iterdir()
             if not p.name.startswith(".") and p.is_dir()),
            key=lambda e: e.key,
        )

    def temporaries(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return sorted(p for p in self.root.iterdir() if p.name.startswith(TMP_PREFIX))

    def gc_lock(self, *, shared: bool, on_wait: Callable[[], None] | None = None
                ) -> AbstractContextManager[int]:
        return file_lock(self.root / ".lock", shared=shared, on_wait=on_wait)

    def key_lock(self, key: str, *, wait: bool = True,
                 on_wait: Callable[[], None] | None = None) -> AbstractContextManager[int]:
        return file_lock(self.root / ".locks" / f"{key}.lock", wait=wait, on_wait=on_wait)

    def ensure(
        self,
        entry: LockEntry,
        installer: Installer,
        progress: Progress | None = None,
        on_wait: Callable[[], None] | None = None,
        reinstall: bool = False,
    ) -> tuple[StoreEntry, bool]:
        """The store entry for ``entry``, built if absent; ``(entry, reused)``.

        ``reinstall`` builds it again even when present (``env verify`` found files
        changed in place): the new build replaces the old one only once it is complete.
        The caller holds the store lock shared (so gc cannot remove the result before a
        generation points at it).
        """
        key = store_key(entry)
        target = self.entry(key)
        if self.has(key) and not reinstall:
            return target, True
        with self.key_lock(key, on_wait=on_wait), ExitStack() as stack:
            if self.has(key) and not reinstall:  # built by a concurrent create meanwhile
                return target, True
            self._clean_temporaries(key)
            if target.path.exists() and not self.has(key):
                remove_tree(target.path)  # a directory without its metadata: not ours
            self.root.mkdir(parents=True, exist_ok=True)
            tmp = temporary_dir(self.root, f"{TMP_PREFIX}{key}-")
            try:
                venv = stack.enter_context(self._build_path(entry.python, tmp))
                uv_version = installer.install(entry, venv, tmp, progress or NoProgress())
                _post_install(entry, venv, progress or NoProgress())
                meta = {
                    "key": key,
                    "python": entry.python,
                    "platform": entry.platform,
                    "packages": {p.name: p.version for p in entry.packages},
                    "env": dict(entry.env),
                    "uv_version": uv_version,
                    "mlstack_version": __version__,
                    "created": now(),
                }
                write_atomic(venv / META_NAME, json.dumps(meta, indent=2, sort_keys=True) + "\n")
                seal(venv)  # nothing added to or removed from it once published
                fsync_dir(venv)
                if target.path.exists():  # reinstall: move the damaged build out of the way
                    target.path.rename(tmp / "replaced")
                venv.rename(target.path)
                fsync_dir(self.root)
            finally:
                remove_tree(tmp)
        return target, False

    @contextmanager
    def _build_path(self, python: str, tmp: Path) -> Iterator[Path]:
        """Where a venv for Python ``python`` is built: one of a few fixed paths, each
        held by a lock while a build uses it, else a new one in ``tmp``.

        ``uv pip sync`` into a venv runs that venv's Python to learn what it is (about
        50 ms) unless uv's cache knows the path; a venv built where the previous one
        for the same Python was built is known (uv checks the interpreter's
        modification time, so a changed interpreter is asked again). A fixed path is a
        temporary like any other: a killed build's is removed by the next build there,
        or by gc (its lock is named like a key's, ``build<N>py<XY>``).
        """
        for n in range(_BUILD_SLOTS):
            slot = f"build{n}py{python.replace('.', '')}"
            with ExitStack() as held:
                try:
                    held.enter_context(self.key_lock(slot, wait=False))
                except Busy:
                    continue
                path = self.root / f"{TMP_PREFIX}{slot}-venv"
                try:
                    remove_tree(path)  # a killed build's
                    yield path
                finally:
                    remove_tree(path)  # gone (renamed into the store) when the build worked
                return
        yield tmp / "venv"

    def _clean_temporaries(self, key: str) -> None:
        """Builds of ``key`` left by a killed process; the caller holds the key's lock."""
        for tmp in self.temporaries():
            if tmp.name.startswith(f"{TMP_PREFIX}{key}-"):
                remove_tree(tmp)

    def reclaim_temporaries(self) -> list[Path]:
        """Delete the build folders of killed creates, of any key, that no running build
        holds (a build holds its key's lock for as long as its folder exists); the caller
        holds the store lock shared or exclusively. The paths deleted."""
        done = []
        for tmp in self.temporaries():
            key = tmp.name[len(TMP_PREFIX):].split("-", 1)[0]
            try:
                with self.key_lock(key, wait=False):
                    remove_tree(tmp)
            except Busy:
                continue
            done.append(tmp)
        return done

    def remove(self, key: str) -> None:
        """Remove an entry: renamed aside first, so a half-removed tree is never served."""
        path = self.root / key
        if not path.exists():
            return
        aside = temporary_dir(self.root, f"{TMP_PREFIX}{key}-removing-")
        path.rename(aside / "venv")
        remove_tree(aside)


def _post_install(entry: LockEntry, venv: Path, progress: Progress) -> None:
    """Steps a package needs after install, run before the entry is published: an entry
    holding ROCm as wheels runs ``rocm-sdk init`` (ROCM-FACTS §4b), so it stays immutable
    and verifiable afterwards."""
    from mlstack_env.rocmwheels import rocmroot

    if rocmroot.needs_init(entry):
        with progress.step("running rocm-sdk init in the new store entry"):
            rocmroot.initialize(entry, venv)


def now() -> str:
    """``2026-11-30T18:17:00Z``: UTC, to the second (time, not datetime: one import less
    on a store hit)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())



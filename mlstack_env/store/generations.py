"""Named envs and their numbered generations.

``envs/<name>/current -> gen-<N>`` names the generation in use. A generation is built in
``envs/<name>/.tmp-gen-*`` and renamed to ``gen-<N>`` when complete; ``current`` is then
swapped atomically (a new symlink under a temporary name, ``os.replace``). So a reader
always sees a complete generation, and an interrupted create leaves the previous one in
place. ``envs/<name>/.lock`` serializes commands on one env.

An env exists when its ``current`` link points at a complete generation; a directory
without one (a first create that was killed) is never listed, and is cleaned up by the
next create of that name or by gc.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import os
import re
import tempfile
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from mlstack_env import paths
from mlstack_env.envname import validate_env_name
from mlstack_env.errors import MlstackError
from mlstack_env.lockfile import Lock, LockEntry, dumps, read_lock
from mlstack_env.store.entries import StoreEntry
from mlstack_env.store.files import fsync_dir, remove_tree
from mlstack_env.store.fingerprint import FINGERPRINT_NAME, Fingerprint, read_fingerprint
from mlstack_env.store.locks import file_lock, try_lock_dir

CURRENT = "current"
GEN_PREFIX = "gen-"
TMP_PREFIX = ".tmp-"
LOCK_NAME = "lock.toml"
VENV_LINK = "venv"
_GEN_RE = re.compile(r"gen-(\d+)")


@dataclass(frozen=True)
class Generation:
    env: str
    number: int
    path: Path

    @property
    def venv(self) -> Path:
        return self.path / VENV_LINK

    @property
    def store_key(self) -> str | None:
        try:
            return self.venv.readlink().name
        except OSError:
            return None

    def fingerprint(self) -> Fingerprint | None:
        return read_fingerprint(self.path)

    def lock(self) -> Lock:
        return read_lock(self.path / LOCK_NAME)

    def entry(self) -> LockEntry:
        entries = self.lock().entries
        if len(entries) != 1:
            raise MlstackError(
                f"{self.path / LOCK_NAME} should hold exactly one entry",
                hint=f"re-create the env: mlstack env create --name {self.env} …",
            )
        return entries[0]


def hold(gen: Generation) -> int | None:
    """Mark a generation in use for as long as the returned fd stays open (gc skips it).

    ``env run`` calls this and keeps the fd across ``exec`` (make it inheritable), so a
    generation stays while the command runs even if the env moves on meanwhile.
    """
    return try_lock_dir(gen.path, shared=True)


class NamedEnv:
    def __init__(self, name: str, root: Path | None = None) -> None:
        self.name = validate_env_name(name)
        self.path = (root or paths.envs_dir()) / name

    def lock(self, *, wait: bool = True, on_wait: Callable[[], None] | None = None
             ) -> AbstractContextManager[int]:
        return file_lock(self.path / ".lock", wait=wait, on_wait=on_wait)

    def generations(self) -> list[Generation]:
        if not self.path.is_dir():
            return []
        gens = []
        for p in self.path.iterdir():
            m = _GEN_RE.fullmatch(p.name)
            if m and p.is_dir() and not p.is_symlink():
                gens.append(Generation(self.name, int(m.group(1)), p))
        return sorted(gens, key=lambda g: g.number)

    def current(self) -> Generation | None:
        try:
            link = str((self.path / CURRENT).readlink())
        except OSError:
            return None
        m = _GEN_RE.fullmatch(link)
        gen_path = self.path / link
        if not m or not gen_path.is_dir():
            return None
        return Generation(self.name, int(m.group(1)), gen_path)

    def exists(self) -> bool:
        return self.current() is not None

    def previous(self) -> Generation | None:
        """The generation ``rollback`` switches to: the newest one older than current."""
        cur = self.current()
        if cur is None:
            return None
        older = [g for g in self.generations() if g.number < cur.number]
        return older[-1] if older else None

    def clean_temporaries(self) -> None:
        """Half-built generations of killed creates; the caller holds the env lock."""
        if not self.path.is_dir():
            return
        for p in self.path.iterdir():
            if p.name.startswith(TMP_PREFIX):
                remove_tree(p)

    def add_generation(
        self,
        store_entry: StoreEntry,
        lock: Lock,
        fingerprint: Fingerprint,
        variables: Mapping[str, str],
        write_scripts: Callable[[Path, str, Path, Mapping[str, str]], None],
    ) -> Generation:
        """Build the next generation and make it current; the caller holds the env lock."""
        self.path.mkdir(parents=True, exist_ok=True)
        number = max((g.number for g in self.generations()), default=0) + 1
        final = self.path / f"{GEN_PREFIX}{number}"
        tmp = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}gen-{number}-", dir=self.path))
        try:
            # Relative, so MLSTACK_HOME can move as a whole: envs/<n>/gen-N/venv -> store/<key>
            rel = os.path.relpath(store_entry.path, final)
            (tmp / VENV_LINK).symlink_to(rel, target_is_directory=True)
            fp = _with_generation(fingerprint, number)
            (tmp / FINGERPRINT_NAME).write_text(
                json.dumps(fp.to_json(), indent=2, sort_keys=True) + "\n", encoding="utf-8"
            )
            (tmp / LOCK_NAME).write_text(dumps(lock), encoding="utf-8")
            # Scripts name the final path: the directory is renamed, not rewritten.
            write_scripts(tmp, self.name, final / VENV_LINK, variables)
            tmp.rename(final)
        except BaseException:
            remove_tree(tmp)
            raise
        gen = Generation(self.name, number, final)
        self.switch(gen)
        return gen

    def switch(self, gen: Generation) -> None:
        """Point ``current`` at ``gen`` atomically."""
        tmp_link = self.path / f"{TMP_PREFIX}current-{os.getpid()}"
        with contextlib.suppress(FileNotFoundError):
            tmp_link.unlink()
        tmp_link.symlink_to(gen.path.name)
        tmp_link.replace(self.path / CURRENT)
        fsync_dir(self.path)

    def remove_generation(self, gen: Generation) -> bool:
        """Remove a generation that is not current and not held; False when in use."""
        cur = self.current()
        if cur is not None and cur.number == gen.number:
            return False
        fd = try_lock_dir(gen.path, shared=False)
        if fd is None:
            return False
        try:
            aside = self.path / f"{TMP_PREFIX}removing-{gen.path.name}"
            gen.path.rename(aside)
        finally:
            os.close(fd)
        remove_tree(aside)
        return True


def _with_generation(fp: Fingerprint, number: int) -> Fingerprint:
    from dataclasses import replace

    return replace(fp, generation=number)


def all_envs(root: Path | None = None) -> list[NamedEnv]:
    """Every env that exists (has a complete current generation), by name."""
    base = root or paths.envs_dir()
    if not base.is_dir():
        return []
    out = []
    for p in sorted(base.iterdir()):
        if p.name.startswith(".") or not p.is_dir():
            continue
        try:
            env = NamedEnv(p.name, base)
        except MlstackError:
            continue
        if env.exists():
            out.append(env)
    return out


def get_env(name: str) -> NamedEnv:
    """The existing env ``name``, or an error listing the envs there are."""
    env = NamedEnv(name)
    if env.exists():
        return env
    names = [e.name for e in all_envs()]
    if not names:
        hint = "there are no envs yet; `mlstack env create PROFILE` makes one"
    else:
        close = difflib.get_close_matches(name, names, n=1)
        hint = (f"did you mean {close[0]!r}? " if close else "") + \
            f"existing envs: {', '.join(names)}"
    raise MlstackError(f"no env named {name!r}", hint=hint)


def remove_env(env: NamedEnv) -> None:
    """Remove a named env: renamed aside under its lock, then deleted. The store entries it
    used stay until gc."""
    aside = env.path.parent / f"{TMP_PREFIX}removed-{env.name}-{os.getpid()}"
    env.path.rename(aside)
    remove_tree(aside)



"""Named envs and their numbered generations.

``envs/<name>/current -> gen-<N>`` names the generation in use. A generation is built in
``envs/<name>/.tmp-gen-*`` and renamed to ``gen-<N>`` when complete; ``current`` is then
swapped atomically (a new symlink under a temporary name, ``os.replace``). So a reader
always sees a complete generation, and an interrupted create leaves the previous one in
place. ``envs/<name>/.lock`` serializes commands on one env.

An env exists when its ``current`` link points at a complete generation. A lost
``current`` (deleted by hand, or by a tool) is repaired from the newest generation whose
store entry is there; a directory without any generation (a first create that was
killed) is never listed, and is cleaned up by the next create of that name or by gc.

``env remove`` retires an env instead of deleting what a running command holds
(:mod:`mlstack_env.store.removal`): ``envs/<name>/.retired`` records the highest
generation number removed. Generations up to the ``.retired`` number are never current,
listed or rolled back to, even if the name is created again.

Nothing here follows a symlink planted where mlstack keeps its own directories: an env
directory or a generation that is a link, or that another user owns, is refused.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from pathlib import Path

from mlstack_env.core import paths
from mlstack_env.core.envname import validate_env_name
from mlstack_env.core.errors import BadValueError, EnvNotFound, StoreError
from mlstack_env.core.locks import Busy, file_lock, try_lock_dir
from mlstack_env.core.record import record
from mlstack_env.store.files import fsync_dir, own_directory, remove_tree, temporary_dir
from mlstack_env.store.fingerprint import FINGERPRINT_NAME, Fingerprint, read_fingerprint

TYPE_CHECKING = False  # typing costs an import on the fast paths; mypy reads it
if TYPE_CHECKING:  # the lock file code and the installer load when used, not to list envs
    from mlstack_env.lockfile import Lock, LockEntry
    from mlstack_env.store.entries import StoreEntry

TMP_PREFIX = ".tmp-"
LOCK_NAME = "lock.toml"
VENV_LINK = "venv"
_GEN_RE = re.compile(re.escape(paths.GEN_PREFIX) + r"(\d+)")


@record
class Generation:
    """One generation of a named env: ``envs/<name>/gen-<N>``."""
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
        from mlstack_env.lockfile import read_lock

        return read_lock(self.path / LOCK_NAME)

    def entry(self) -> LockEntry:
        entries = self.lock().entries
        if len(entries) != 1:
            raise StoreError(
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
        own_directory(self.path, f"env {self.name}:")
        return file_lock(self.path / ".lock", wait=wait, on_wait=on_wait)

    def _all_generations(self) -> list[Generation]:
        if not self.path.is_dir() or self.path.is_symlink():
            return []
        gens = []
        for p in self.path.iterdir():
            m = _GEN_RE.fullmatch(p.name)
            if m and p.is_dir() and not p.is_symlink():
                gens.append(Generation(self.name, int(m.group(1)), p))
        return sorted(gens, key=lambda g: g.number)

    def retired_upto(self) -> int:
        """Generations numbered up to this were removed by ``env remove`` (0: none)."""
        try:
            text = (self.path / paths.RETIRED).read_text(encoding="ascii").strip()
        except (OSError, ValueError):
            return 0
        return int(text) if text.isdigit() else 0

    def generations(self) -> list[Generation]:
        """The env's live generations, oldest first (retired ones left out)."""
        upto = self.retired_upto()
        return [g for g in self._all_generations() if g.number > upto]

    def retired_generations(self) -> list[Generation]:
        """Generations of a removed env that a running command still held; gc's to take."""
        upto = self.retired_upto()
        return [g for g in self._all_generations() if g.number <= upto]

    def current(self) -> Generation | None:
        if self.path.is_symlink():
            return None
        try:
            link = str((self.path / paths.CURRENT).readlink())
        except OSError:
            return None
        m = _GEN_RE.fullmatch(link)
        gen_path = self.path / link
        if not m or gen_path.is_symlink() or not gen_path.is_dir():
            return None
        if int(m.group(1)) <= self.retired_upto():
            return None
        return Generation(self.name, int(m.group(1)), gen_path)

    def exists(self) -> bool:
        return self.current() is not None

    def needs_repair(self) -> bool:
        """``current`` is lost (missing or dangling) while live generations remain."""
        return self.current() is None and any(usable(g) for g in self.generations())

    def repair(self) -> Generation | None:
        """Point a lost ``current`` at the newest generation whose store entry is there;
        the caller holds the env lock. The generation made current, or None."""
        if self.current() is not None:
            return None
        for gen in reversed(self.generations()):
            if usable(gen):
                self.switch(gen)
                return gen
        return None

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
        own_directory(self.path, f"env {self.name}:")
        number = max((g.number for g in self._all_generations()),
                     default=self.retired_upto()) + 1
        final = self.path / f"{paths.GEN_PREFIX}{number}"
        tmp = temporary_dir(self.path, f"{TMP_PREFIX}gen-{number}-")
        try:
            # Relative, so MLSTACK_HOME can move as a whole: envs/<n>/gen-N/venv -> store/<key>
            rel = os.path.relpath(store_entry.path, final)
            (tmp / VENV_LINK).symlink_to(rel, target_is_directory=True)
            fp = _with_generation(fingerprint, number)
            (tmp / FINGERPRINT_NAME).write_text(
                json.dumps(fp.to_json(), indent=2, sort_keys=True) + "\n", encoding="utf-8"
            )
            from mlstack_env.lockfile import dumps

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
        """Point ``current`` at ``gen`` atomically; refused when its store entry is gone
        (``env run`` would have no Python to run)."""
        if not usable(gen):
            fp = gen.fingerprint()
            again = fp.recreate_command() if fp is not None else \
                f"mlstack env create --name {self.name} …"
            raise StoreError(
                f"env {self.name}: generation {gen.number} cannot be used, its store entry "
                f"{gen.store_key or '?'} is gone ({gen.venv / 'bin' / 'python'} is missing)",
                hint=f"make a new generation instead: `{again}`",
            )
        tmp_link = self.path / f"{TMP_PREFIX}current-{os.getpid()}"
        with contextlib.suppress(FileNotFoundError):
            tmp_link.unlink()
        tmp_link.symlink_to(gen.path.name)
        tmp_link.replace(self.path / paths.CURRENT)
        fsync_dir(self.path)

    def remove_generation(self, gen: Generation) -> bool:
        """Remove a generation that is not current and not held; False when in use."""
        cur = self.current()
        if cur is not None and cur.number == gen.number:
            return False
        if gen.path.is_symlink():
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


def usable(gen: Generation) -> bool:
    """Does the generation's Python exist (its venv link, store entry and interpreter)?"""
    return (gen.venv / "bin" / "python").exists()


def _with_generation(fp: Fingerprint, number: int) -> Fingerprint:
    from mlstack_env.core.record import replace

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
        except BadValueError:  # not an env's name
            continue
        if env.exists():
            out.append(env)
        elif env.needs_repair():
            with contextlib.suppress(Busy), env.lock(wait=False):
                env.repair()
            if env.exists():
                out.append(env)
    return out


def get_env(name: str) -> NamedEnv:
    """The existing env ``name``, or an error listing the envs there are."""
    env = NamedEnv(name)
    if env.exists():
        return env
    if env.needs_repair():
        # Not waiting: a caller may hold this env's lock already (flock would deadlock).
        with contextlib.suppress(Busy), env.lock(wait=False):
            env.repair()
        if env.exists():
            return env
    names = [e.name for e in all_envs()]
    if not names:
        hint = "there are no envs yet; `mlstack env create PROFILE` makes one"
    else:
        import difflib

        close = difflib.get_close_matches(name, names, n=1)
        hint = (f"did you mean {close[0]!r}? " if close else "") + \
            f"existing envs: {', '.join(names)}"
    raise EnvNotFound(name, hint)

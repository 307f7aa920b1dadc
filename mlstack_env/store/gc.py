"""``mlstack gc``: remove what no env needs.

Policy (docs/team.md, "Generations, rollback and gc"):

* A lost ``current`` link is repaired first (the newest generation whose store entry is
  there), never read as "this env has no generations to keep".
* Per env, the current generation and the one ``env rollback`` would switch to are kept.
  Older generations are removed, except one that a running command holds (``env run``
  keeps a shared lock on its generation directory while it runs).
* A store entry that no remaining generation of any env points at is removed, unless a
  live process uses it (:func:`entries_in_use`: a program started by ``env run`` or from
  a sourced ``bin/activate``, detached or not, carries ``VIRTUAL_ENV``/``PATH`` into it).
  ``env shell`` holds its generation like ``env run`` (a lease inherited by the shell and
  everything started in it).
* Generations of a removed env (``env remove`` while a command ran in them) are removed
  once no command holds them; the env's directory goes with the last one.
* Temporary directories of killed builds are removed, and what a killed ``env pack`` or
  ``env unpack`` left beside its output (``.DIR.unpack-*``, ``.FILE.*.part`` and a
  squashfs staging tree: named by a record under ``MLSTACK_HOME/temporaries`` whose lock
  died with the command), and URL records (``cache/wheel-urls/.*.tmp``) older than 10
  minutes.
* An env that another command is working on right now is left alone (its generations
  all count as in use).

gc holds the store lock exclusively, so no build runs meanwhile and every ``.tmp-*``
directory in the store is stale.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlstack_env.core import paths
from mlstack_env.core.diskusage import usage
from mlstack_env.core.errors import BadValueError, StoreError
from mlstack_env.core.locks import Busy, try_lock_dir
from mlstack_env.store.entries import Store, StoreEntry
from mlstack_env.store.files import live_paths, own_directory, reclaim_recorded, remove_tree
from mlstack_env.store.generations import TMP_PREFIX, Generation, NamedEnv, usable
from mlstack_env.store.removal import in_use, reclaim_removed


@dataclass
class GcReport:
    dry_run: bool
    generations: list[Generation] = field(default_factory=list)
    held: list[Generation] = field(default_factory=list)
    entries: list[StoreEntry] = field(default_factory=list)
    temporaries: list[Path] = field(default_factory=list)
    busy_envs: list[str] = field(default_factory=list)
    freed_bytes: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "generations": [{"env": g.env, "generation": g.number} for g in self.generations],
            "kept_in_use": [{"env": g.env, "generation": g.number} for g in self.held],
            "store_entries": [e.key for e in self.entries],
            "temporaries": [str(p) for p in self.temporaries],
            "busy_envs": self.busy_envs,
            "freed_bytes": self.freed_bytes,
        }


def _env_dirs() -> list[Path]:
    base = paths.envs_dir()
    if not base.is_dir():
        return []
    # A planted link is not an env of ours: never followed (docs/troubleshooting.md).
    return sorted(p for p in base.iterdir()
                  if p.is_dir() and not p.is_symlink() and not p.name.startswith("."))


def collect(dry_run: bool = False, store: Store | None = None) -> GcReport:
    store = store or Store()
    report = GcReport(dry_run)
    referenced: set[str] = set()
    with store.gc_lock(shared=False):
        # Paths under envs/ that live processes use (VIRTUAL_ENV of a detached child).
        used = live_paths([str(paths.envs_dir())])
        for env_dir in _env_dirs():
            try:
                env = NamedEnv(env_dir.name, env_dir.parent)
                own_directory(env.path, "env directory")
            except (BadValueError, StoreError):  # not an env's name, or not ours
                continue
            try:
                with env.lock(wait=False):
                    _collect_env(env, report, referenced, used)
            except Busy:
                report.busy_envs.append(env.name)
                referenced.update(k for g in [*env.retired_generations(), *env.generations()]
                                  if (k := g.store_key))
        referenced |= entries_in_use(store.root)
        _collect_entries(store, report, referenced)
        # No build runs while gc holds the store lock: every store temporary is stale.
        stale = store.temporaries()
        envs = paths.envs_dir()
        if envs.is_dir():
            # Except a removed env's tree that a running `env remove` is deleting.
            stale += sorted(p for p in envs.iterdir() if p.name.startswith(TMP_PREFIX)
                            and not p.name.startswith(f"{TMP_PREFIX}removed-"))
        for tmp in stale:
            report.temporaries.append(tmp)
            if not dry_run:
                remove_tree(tmp)
        if dry_run:
            report.temporaries += sorted(envs.glob(f"{TMP_PREFIX}removed-*"))
        else:
            report.temporaries += reclaim_removed()
        # Outside MLSTACK_HOME: what a killed `env pack`/`env unpack` left (its record's
        # lock is free), and half-written URL records of a killed install.
        report.temporaries += reclaim_recorded(dry_run)
        report.temporaries += _stale_url_records(dry_run)
        if not dry_run:
            _drop_key_locks(store)
    return report


def _collect_entries(store: Store, report: GcReport, referenced: set[str]) -> None:
    """Remove (or, in a dry run, list) the store entries nothing references."""
    for entry in store.entries():
        if entry.key not in referenced:
            # Locked by a holder we do not know of: leave it for the next gc.
            fd = try_lock_dir(entry.path, shared=False)
            if fd is None:
                continue
            os.close(fd)
            report.entries.append(entry)
            report.freed_bytes += usage(entry.path).total
            if not report.dry_run:
                store.remove(entry.key)


def _drop_key_locks(store: Store) -> None:
    """Key locks of entries that are gone: no build holds one (builds hold the store lock
    shared, and gc holds it exclusively)."""
    present = {e.key for e in store.entries()}
    locks = store.root / ".locks"
    for lock_file in sorted(locks.glob("*.lock")) if locks.is_dir() else []:
        if lock_file.stem not in present:
            lock_file.unlink(missing_ok=True)


def entries_in_use(root: Path) -> set[str]:
    """Store keys a live process uses (:func:`~mlstack_env.store.files.live_paths`)."""
    found = set()
    for prefix in {str(root).rstrip("/"), os.path.realpath(root).rstrip("/")}:
        for path in live_paths([prefix]):
            key = path[len(prefix) + 1:].split("/", 1)[0]
            if key and not key.startswith("."):
                found.add(key)
    return found


#: A `write_atomic` of a URL record takes milliseconds: a temporary this old is a leftover.
_STALE_SECONDS = 600


def _stale_url_records(dry_run: bool) -> list[Path]:
    import time

    folder = paths.wheel_urls_dir()
    now = time.time()
    stale = []
    for tmp in sorted(folder.glob(".*.tmp")) if folder.is_dir() else []:
        try:
            old = now - tmp.lstat().st_mtime > _STALE_SECONDS
        except OSError:
            continue
        if old:
            stale.append(tmp)
            if not dry_run:
                tmp.unlink(missing_ok=True)
    return stale


def _collect_env(env: NamedEnv, report: GcReport, referenced: set[str],
                 used: list[str]) -> None:
    if not report.dry_run:
        env.repair()
        env.clean_temporaries()
    cur = _current(env, report.dry_run)
    prev = _previous(env, cur)
    keep = {g.number for g in (cur, prev) if g is not None}
    gens = env.generations()
    retired = env.retired_generations()
    if cur is None and not gens and not retired:
        # A first create that was killed, or a removed env whose last held generation is
        # free now: only the lock file (and temporaries) remain.
        if not report.dry_run:
            remove_tree(env.path)
        return
    if cur is None and gens:
        # Live generations but none usable (their store entries are gone): keep them for
        # the user to see; `env create` makes a new one.
        keep = {g.number for g in gens}
    for gen in [*retired, *gens]:
        _collect_generation(env, gen, report, referenced, kept=gen.number in keep, used=used)
    if (not report.dry_run and cur is None and not env.generations()
            and not env.retired_generations()):
        remove_tree(env.path)


def _current(env: NamedEnv, dry_run: bool) -> Generation | None:
    """The env's current generation; in a dry run of an env needing repair, the one the
    repair would make current."""
    cur = env.current()
    if cur is None and dry_run and env.needs_repair():
        cur = next(g for g in reversed(env.generations()) if usable(g))
    return cur


def _collect_generation(env: NamedEnv, gen: Generation, report: GcReport, referenced: set[str],
                        *, kept: bool, used: list[str]) -> None:
    """Keep ``gen`` (its store entry referenced) or remove it, as the report says."""
    if not kept and _remove(env, gen, report.dry_run, used):
        report.generations.append(gen)
        return
    if not kept:
        report.held.append(gen)
    if key := gen.store_key:
        referenced.add(key)


def _remove(env: NamedEnv, gen: Generation, dry_run: bool, used: list[str]) -> bool:
    """Remove ``gen`` unless a command or a live process holds it; whether it was (with
    ``dry_run``: whether it could be, nothing removed)."""
    if dry_run:
        fd = try_lock_dir(gen.path, shared=False)
        if fd is not None:
            os.close(fd)
        return fd is not None
    if in_use(gen.path, used):
        return False  # a live process has it in its environment (see module)
    return env.remove_generation(gen)


def _previous(env: NamedEnv, cur: Generation | None) -> Generation | None:
    if cur is None:
        return None
    older = [g for g in env.generations() if g.number < cur.number]
    return older[-1] if older else None

"""``env create`` below the CLI: a chosen lock entry + the machine → a store entry and a
new generation of a named env.

Locks, always in this order: the env's lock, then the store lock (shared; gc takes it
exclusively), then the store key's lock while building. Nothing is visible before it is
complete: the store entry and the generation are each renamed into place, then
``current`` is swapped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlstack_env import __version__, envvars, paths
from mlstack_env.hardware.machine import Machine
from mlstack_env.lockfile import Lock, LockEntry
from mlstack_env.sources import UrlPolicy
from mlstack_env.store.entries import (
    Installer,
    NoProgress,
    Progress,
    Store,
    StoreEntry,
    now,
    store_key,
)
from mlstack_env.store.fingerprint import Fingerprint, MachineFacts
from mlstack_env.store.generations import Generation, NamedEnv, reclaim_removed, remove_env
from mlstack_env.store.variables import cache_variables, env_variables

ScriptWriter = Callable[[Path, str, Path, Mapping[str, str]], None]


@dataclass(frozen=True)
class Created:
    name: str
    generation: Generation
    store_entry: StoreEntry
    entry: LockEntry
    variables: dict[str, str]
    reused: bool  # the store already held the entry: no uv ran
    up_to_date: bool  # the current generation already matched: nothing new was made
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "generation": self.generation.number,
            "path": str(self.generation.path.parent),
            "generation_path": str(self.generation.path),
            "venv": str(self.store_entry.path),
            "store_key": self.store_entry.key,
            "profile": self.entry.profile,
            "target": str(self.entry.target),
            "python": self.entry.python,
            "variables": dict(self.variables),
            "reused": self.reused,
            "up_to_date": self.up_to_date,
            "notes": list(self.notes),
        }


def activation_writer() -> ScriptWriter:
    from mlstack_env.activation.scripts import write_scripts

    def write(gen_dir: Path, name: str, venv: Path, variables: Mapping[str, str]) -> None:
        write_scripts(gen_dir, name=name, venv=venv, variables=variables)

    return write


def create_env(
    name: str,
    entry: LockEntry,
    machine: Machine,
    *,
    installer: Installer,
    source: str,
    lock_versions: tuple[str, str] | None = None,
    progress: Progress | None = None,
    on_wait: Callable[[str], None] | None = None,
    write_scripts: ScriptWriter | None = None,
    store: Store | None = None,
    reinstall: bool = False,
    wheels: str = "",
    url_policy: UrlPolicy | None = None,
) -> Created:
    """Materialize ``entry`` as the next generation of env ``name``.

    ``url_policy`` refuses wheel URLs outside the configured sources before anything is
    written (the CLI always passes one; tests of the store alone may not).

    ``reinstall`` rebuilds the store entry even when the store holds it.

    ``source`` says where the entry came from (a lock path, "project", "built-in");
    ``lock_versions`` are the (mlstack, uv) versions recorded in the lock it came from.
    """
    if url_policy is not None:
        url_policy.check(entry, source)
    env = NamedEnv(name)
    store = store or Store()
    progress = progress or NoProgress()
    decided = env_variables(entry, machine)
    variables = dict(sorted(
        (cache_variables(entry, env.path, paths.home(), decided.variables)
         | decided.variables).items()
    ))
    key = store_key(entry)
    facts = MachineFacts.of(machine)
    say = on_wait or (lambda _msg: None)
    with env.lock(on_wait=lambda: say(f"waiting for another mlstack command on env {name}")):
        env.clean_temporaries()
        try:
            created = _create_locked(env, entry, key, facts=facts, variables=variables,
                                     notes=decided.notes, store=store, installer=installer,
                                     source=source,
                                     lock_versions=lock_versions, progress=progress, say=say,
                                     write_scripts=write_scripts, reinstall=reinstall,
                                     wheels=wheels)
        except BaseException:
            if not env.generations():  # a failed first create leaves no trace
                remove_env(env)
            raise
        _make_cache_dirs(variables)
        return created


def _make_cache_dirs(variables: Mapping[str, str]) -> None:
    for name in (envvars.MIOPEN_USER_DB_PATH, envvars.MIOPEN_CUSTOM_CACHE_DIR):
        if name in variables:
            Path(variables[name]).mkdir(parents=True, exist_ok=True)
    if envvars.PYTORCH_TUNABLEOP_FILENAME in variables:
        Path(variables[envvars.PYTORCH_TUNABLEOP_FILENAME]).parent.mkdir(
            parents=True, exist_ok=True
        )


def _create_locked(
    env: NamedEnv,
    entry: LockEntry,
    key: str,
    *,
    facts: MachineFacts,
    variables: dict[str, str],
    notes: tuple[str, ...],
    store: Store,
    installer: Installer,
    source: str,
    lock_versions: tuple[str, str] | None,
    progress: Progress,
    say: Callable[[str], None],
    write_scripts: ScriptWriter | None,
    reinstall: bool = False,
    wheels: str = "",
) -> Created:
    name = env.name
    with store.gc_lock(shared=True, on_wait=lambda: say("waiting for mlstack gc")):
        # Leftovers of killed creates and removes that no running command holds.
        store.reclaim_temporaries()
        reclaim_removed()
        for old in env.retired_generations():  # of a removed env, once no command holds it
            env.remove_generation(old)
        env.repair()
        cur = env.current()
        cur_fp = cur.fingerprint() if cur else None
        if cur is not None and cur_fp is not None and store.has(key) and not reinstall:
            wanted = _fingerprint(name, entry, key, facts, uv_version=cur_fp.uv_version,
                                  variables=variables, source=source, wheels=wheels)
            if cur_fp.matches(wanted) and cur.store_key == key:
                return Created(name, cur, store.entry(key), entry, variables,
                               reused=True, up_to_date=True, notes=notes)
        store_entry, reused = store.ensure(
            entry, installer, progress,
            on_wait=lambda: say("waiting for another build of the same store entry"),
            reinstall=reinstall,
        )
        fp = _fingerprint(name, entry, key, facts, uv_version=store_entry.uv_version,
                          variables=variables, source=source, wheels=wheels)
        mlstack_v, uv_v = lock_versions or (__version__, store_entry.uv_version)
        gen = env.add_generation(
            store_entry,
            Lock((entry,), mlstack_v, uv_v),
            fp,
            variables,
            write_scripts or activation_writer(),
        )
    return Created(name, gen, store_entry, entry, variables, reused=reused, up_to_date=False,
                   notes=notes)


def _fingerprint(name: str, entry: LockEntry, key: str, facts: MachineFacts, *, uv_version: str,
                 variables: dict[str, str], source: str, wheels: str = "") -> Fingerprint:
    return Fingerprint(
        name=name,
        generation=0,
        lock_hash=entry.content_hash(),
        store_key=key,
        profile=entry.profile,
        target=str(entry.target),
        python=entry.python,
        platform=entry.platform,
        machine=facts,
        mlstack_version=__version__,
        uv_version=uv_version,
        created=now(),
        variables=variables,
        source=source,
        wheels=wheels,
    )

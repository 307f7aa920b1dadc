"""``env create`` below the CLI: a chosen lock entry + the machine → a store entry and a
new generation of a named env.

Locks, always in this order: the env's lock, then the store lock (shared; gc takes it
exclusively), then the store key's lock while building. Nothing is visible before it is
complete: the store entry and the generation are each renamed into place, then
``current`` is swapped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from mlstack_env import __version__
from mlstack_env.core import envvars, paths
from mlstack_env.core.record import record
from mlstack_env.fetch.urlpolicy import UrlPolicy
from mlstack_env.hardware.glibc import check_glibc
from mlstack_env.hardware.machine import Machine
from mlstack_env.lockfile import Lock, LockEntry
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
from mlstack_env.store.generations import Generation, NamedEnv
from mlstack_env.store.removal import reclaim_removed, remove_env
from mlstack_env.store.variables import cache_variables, env_variables

TYPE_CHECKING = False  # typing costs an import on the fast paths; mypy reads it
if TYPE_CHECKING:
    from typing import Any

    from mlstack_env.manifest.sites import Site

ScriptWriter = Callable[[Path, str, Path, Mapping[str, str]], None]


@record
class Created:
    """The generation an env create published and the store entry it links to."""
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


def activation_writer(site: Site | None = None) -> ScriptWriter:
    """Writes a generation's activation files; ``site``'s job rules go into them."""
    rules = site.rules() if site is not None else None

    def write(gen_dir: Path, name: str, venv: Path, variables: Mapping[str, str]) -> None:
        # Loaded only when a generation is written: an up-to-date create writes none.
        from mlstack_env.activation.scripts import write_scripts

        write_scripts(gen_dir, name=name, venv=venv, variables=variables, site=rules)

    return write


@record
class CreateEnvRequest:
    """What one env create materializes: ``entry`` as the next generation of env ``name``
    on ``machine``, and the choices that shape it (see :func:`create_env`)."""

    name: str
    entry: LockEntry
    machine: Machine
    source: str
    url_policy: UrlPolicy  # required: every create checks the entry's URLs
    lock_versions: tuple[str, str] | None = None
    reinstall: bool = False
    wheels: str = ""
    site: Site | None = None


def create_env(
    request: CreateEnvRequest,
    *,
    installer: Installer,
    progress: Progress | None = None,
    on_wait: Callable[[str], None] | None = None,
    write_scripts: ScriptWriter | None = None,
    store: Store | None = None,
) -> Created:
    """Materialize ``request.entry`` as the next generation of env ``request.name``.

    ``url_policy`` refuses wheel URLs outside the configured sources before anything is
    written. An entry whose
    manylinux tag needs a newer glibc than this host's is refused first (here, not in
    ``lockfile.fits``: locks, exports and trees for other machines still select it).

    ``reinstall`` rebuilds the store entry even when the store holds it. ``site`` is the
    project's cluster preset: its fixed variables join the env's (the entry's own win) and
    its job rules go into the activation files; the store entry is the same without it.

    ``source`` says where the entry came from (a lock path, "project", "built-in");
    ``lock_versions`` are the (mlstack, uv) versions recorded in the lock it came from.
    """
    r = request
    check_glibc(r.entry.platform, f"entry {r.entry.key} of {r.source}")
    r.url_policy.check(r.entry, r.source)
    store = store or Store()
    progress = progress or NoProgress()
    build = _plan_build(r, store)
    env, variables = build.env, build.variables
    say = on_wait or (lambda _msg: None)
    with env.lock(on_wait=lambda: say(f"waiting for another mlstack command on env {r.name}")):
        env.clean_temporaries()
        try:
            created = _create_locked(build, store=store, installer=installer,
                                     progress=progress, say=say,
                                     write_scripts=write_scripts or activation_writer(r.site))
        except BaseException:
            if not env.generations():  # a failed first create leaves no trace
                remove_env(env)
            raise
        _make_cache_dirs(variables)
        return created


def _plan_build(r: CreateEnvRequest, store: Store) -> _Build:
    """The store key and the env's variables: the entry's decided ones win over the site
    preset's fixed ones, which win over the cache locations."""
    env = NamedEnv(r.name)
    key = store_key(r.entry)
    decided = env_variables(r.entry, r.machine, store.entry(key).path)
    variables = dict(sorted(
        (cache_variables(r.entry, env.path, paths.home(), decided.variables)
         | (r.site.env if r.site is not None else {})
         | decided.variables).items()
    ))
    return _Build(env, r.entry, key, MachineFacts.of(r.machine), variables,
                  decided.notes, r.source, r.lock_versions, r.reinstall, r.wheels,
                  r.site.name if r.site is not None else "")


@record
class _Build:
    """What one create makes, decided before the env lock is taken."""

    env: NamedEnv
    entry: LockEntry
    key: str  # the store key
    facts: MachineFacts
    variables: dict[str, str]
    notes: tuple[str, ...]
    source: str
    lock_versions: tuple[str, str] | None
    reinstall: bool
    wheels: str
    site: str  # the cluster preset's name, or ""

    def fingerprint(self, uv_version: str) -> Fingerprint:
        e = self.entry
        return Fingerprint(
            name=self.env.name, generation=0, lock_hash=e.content_hash(), store_key=self.key,
            profile=e.profile, target=str(e.target), python=e.python, platform=e.platform,
            machine=self.facts, mlstack_version=__version__, uv_version=uv_version,
            created=now(), variables=self.variables, source=self.source, wheels=self.wheels,
            site=self.site,
        )

    def created(self, generation: Generation, store_entry: StoreEntry, *, reused: bool,
                up_to_date: bool) -> Created:
        return Created(self.env.name, generation, store_entry, self.entry, self.variables,
                       reused=reused, up_to_date=up_to_date, notes=self.notes)


def _make_cache_dirs(variables: Mapping[str, str]) -> None:
    for name in (envvars.MIOPEN_USER_DB_PATH, envvars.MIOPEN_CUSTOM_CACHE_DIR):
        if name in variables:
            Path(variables[name]).mkdir(parents=True, exist_ok=True)
    if envvars.PYTORCH_TUNABLEOP_FILENAME in variables:
        Path(variables[envvars.PYTORCH_TUNABLEOP_FILENAME]).parent.mkdir(
            parents=True, exist_ok=True
        )


def _create_locked(
    build: _Build,
    *,
    store: Store,
    installer: Installer,
    progress: Progress,
    say: Callable[[str], None],
    write_scripts: ScriptWriter | None,
) -> Created:
    env, entry, key = build.env, build.entry, build.key
    with store.gc_lock(shared=True, on_wait=lambda: say("waiting for mlstack gc")):
        # Leftovers of killed creates and removes that no running command holds.
        store.reclaim_temporaries()
        reclaim_removed()
        for old in env.retired_generations():  # of a removed env, once no command holds it
            env.remove_generation(old)
        env.repair()
        cur = env.current()
        cur_fp = cur.fingerprint() if cur else None
        if (cur is not None and cur_fp is not None and store.has(key) and not build.reinstall
                and cur.store_key == key
                and cur_fp.matches(build.fingerprint(cur_fp.uv_version))):
            return build.created(cur, store.entry(key), reused=True, up_to_date=True)
        store_entry, reused = store.ensure(
            entry, installer, progress,
            on_wait=lambda: say("waiting for another build of the same store entry"),
            reinstall=build.reinstall,
        )
        fp = build.fingerprint(store_entry.uv_version)
        mlstack_v, uv_v = build.lock_versions or (__version__, store_entry.uv_version)
        gen = env.add_generation(store_entry, Lock((entry,), mlstack_v, uv_v), fp,
                                 build.variables, write_scripts or activation_writer())
    return build.created(gen, store_entry, reused=reused, up_to_date=False)

"""``env create`` below the CLI: a :class:`CreateRequest` -> the lock entry to install
(:func:`choose_entry`) -> a new generation of a named env (:func:`create`).

The entry comes from ``--lock FILE`` exactly, else the project's lock (re-locked when
stale, unless ``locked``), else the built-in profile resolved for this machine. The
project is found once, here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mlstack_env.catalog.target import Target, parse_python
from mlstack_env.core.errors import (
    InternalError,
    LockError,
    ManifestError,
    MlstackError,
    UsageError,
)
from mlstack_env.core.projectdir import is_project_dir
from mlstack_env.core.record import record

TYPE_CHECKING = False  # typing costs an import on the fast paths; mypy reads it
if TYPE_CHECKING:
    from mlstack_env.hardware.machine import Machine
    from mlstack_env.lockfile import LockEntry
    from mlstack_env.manifest.project import Project
    from mlstack_env.resolve.lockwrite import LockChange
    from mlstack_env.store.create import Created
    from mlstack_env.store.entries import Progress


@record
class CreateRequest:
    """What ``mlstack env create`` was asked for."""

    profile: str | None = None  # None: the project's default-env, or the lock's only profile
    name: str | None = None  # None: the profile's name
    lock_file: Path | None = None  # use exactly this lock; never resolve
    target: Target | None = None  # None: this machine's
    python: str | None = None  # "3.12"
    offline: bool = False
    locked: bool = False  # fail on a stale project lock instead of re-locking
    project_dir: Path | None = None  # None: found upward from the working directory
    reinstall: bool = False  # install again even when the store holds the entry
    wheels_dir: Path | None = None  # a wheel bundle (``mlstack bundle``)

    def check(self) -> None:
        """Refuse contradictory or malformed requests before anything is detected."""
        from mlstack_env.core.envname import validate_env_name

        if self.name is not None:
            validate_env_name(self.name)
        if self.lock_file is not None and self.locked:
            raise UsageError(
                "--locked and --lock FILE do not go together",
                hint="--lock FILE already uses exactly that lock and never re-resolves",
            )
        if self.wheels_dir is not None and not self.wheels_dir.is_dir():
            raise UsageError(
                f"--wheels {self.wheels_dir}: no such folder",
                hint="make one with `mlstack bundle --lock LOCK -o DIR` on a machine with "
                "network access, and copy it here",
            )
        if self.python is not None:
            parse_python(self.python)


@record
class EntryChoice:
    """The lock entry an env create installs, where it came from and why its Python."""
    entry: LockEntry
    source: str  # the lock file, or "built-in profile NAME"
    lock_versions: tuple[str, str] | None  # (mlstack, uv) recorded in --lock FILE
    python_why: str = ""  # why the entry's Python (resolve.PythonChoice.why)
    change: LockChange | None = None  # what was written to the project's lock for it


@record
class CreateOutcome:
    """What an env create made, from which lock, and any change it made to the lock."""
    created: Created
    source: str
    python_why: str = ""
    change: LockChange | None = None
    target_why: str = ""


def choose_entry(request: CreateRequest, machine: Machine, project: Project | None,
                 on_wait: Callable[[str], None] | None = None,
                 announce: Callable[[str], None] | None = None) -> EntryChoice:
    """The lock entry to materialize for ``request`` on ``machine`` (module docstring);
    ``project`` is the one found from the working directory or ``--project``.
    ``announce`` gets the lines saying what changed in the project's lock as soon as it is
    written (before the install, which may still fail)."""
    from mlstack_env.lockfile import fits, read_lock, select_entry

    target = request.target or machine.target
    profile, python, lock_file = request.profile, request.python, request.lock_file
    if lock_file is not None:
        lock = read_lock(lock_file)
        if profile is None:
            fitting = sorted({e.profile for e in lock.entries if fits(e, target, python)})
            if len(fitting) > 1:
                raise UsageError(
                    f"several profiles of {lock_file} fit this machine: {', '.join(fitting)}",
                    hint=f"name one: mlstack env create {fitting[0]} --lock {lock_file}",
                )
        entry = select_entry(lock, target, profile, python, source=str(lock_file))
        why = "--python" if python else f"the entry of {lock_file.name} for this machine"
        return EntryChoice(entry, str(lock_file), (lock.mlstack_version, lock.uv_version),
                           why)
    from mlstack_env.resolve.for_env import entry_for_env

    if profile is None:
        if project is None or not project.default_env:
            where = f"{project.manifest_path} sets no default-env" if project else \
                "there is no mlstack.toml here"
            raise UsageError(
                f"which profile? {where}",
                hint="name one: mlstack env create minimal (built-in: minimal, inference, "
                "training), or pass --lock FILE",
            )
        profile = project.default_env
    chosen = entry_for_env(profile, target, python, project, locked=request.locked,
                           offline=request.offline, on_wait=on_wait)
    if announce is not None:
        for line in (*chosen.notes, *(chosen.change.lines() if chosen.change else ())):
            announce(line)
    source = str(chosen.lock_path) if chosen.lock_path else f"built-in profile {profile}"
    return EntryChoice(chosen.entry, source, None, chosen.python.why, chosen.change)


def create(
    request: CreateRequest,
    *,
    progress: Progress | None = None,
    on_wait: Callable[[str], None] | None = None,
    announce: Callable[[str], None] | None = None,
) -> CreateOutcome:
    """Materialize the chosen entry as the next generation of the env (store/create.py)."""
    from mlstack_env.core.envname import validate_env_name
    from mlstack_env.fetch.config import load_config
    from mlstack_env.fetch.urlpolicy import url_policy
    from mlstack_env.hardware import detect
    from mlstack_env.manifest.project import find_project
    from mlstack_env.store.create import CreateEnvRequest, create_env
    from mlstack_env.store.entries import NoProgress
    from mlstack_env.store.install import UvInstaller

    request.check()
    # Found once, here: the entry, the progress line, the URL policy and the site preset
    # all mean the project of the working directory (or --project).
    project = find_project(Path.cwd(), request.project_dir)
    machine = detect()
    progress = progress or NoProgress()
    request, target_why = _machine_target(request, machine, project)
    with progress.step(_choosing(request, str(request.target or machine.target), project)):
        choice = choose_entry(request, machine, project, on_wait, announce)
    env_name = validate_env_name(request.name or choice.entry.profile)
    config = load_config()
    wheels_dir = request.wheels_dir
    created = create_env(
        CreateEnvRequest(
            env_name,
            choice.entry,
            machine,
            source=choice.source,
            lock_versions=choice.lock_versions,
            reinstall=request.reinstall,
            wheels=str(wheels_dir.resolve()) if wheels_dir is not None else "",
            url_policy=url_policy(choice.source, _policy_dir(request, choice, project),
                                  project),
            site=project.site_preset() if project is not None else None,
        ),
        installer=UvInstaller(mirrors=config.mirrors, offline=request.offline,
                              downloads=config.downloads, refresh=request.reinstall,
                              wheels_dir=wheels_dir),
        progress=progress,
        on_wait=on_wait,
    )
    if Path(choice.source).is_file():  # from a lock file: runs follow it (sync_env)
        from mlstack_env.store.lookup import write_lock_stamp

        write_lock_stamp(str(created.generation.path), choice.source)
    return CreateOutcome(created, choice.source, choice.python_why, choice.change,
                         target_why)


def _machine_target(request: CreateRequest, machine: Machine, project: Project | None
                    ) -> tuple[CreateRequest, str]:
    """Without --target (or --lock): the machine's target, unless the profile has no build
    there (:mod:`mlstack_env.actions.target_fit`); the request with it, and why ("" if detected)."""
    name = request.profile or (project.default_env if project is not None else None)
    if request.target is not None or request.lock_file is not None or name is None:
        return request, ""
    from dataclasses import replace

    from mlstack_env.actions.target_fit import for_profile

    choice = for_profile(name, machine, project, request.python)
    return replace(request, target=choice.target), choice.why


@record
class Behind:
    """An env behind its lock: the lock file it was made from no longer holds its entry
    as it was (``mlstack lock`` re-resolved it, or the Python or target moved)."""

    name: str
    lock: Path
    key: str  # the env's entry, profile@target@pyX.Y
    why: str  # "its entry changed", "the lock has no entry … any more"
    recreate: str  # the command that brings it to the lock by hand
    changes: str = ""  # what syncing installs: "+tqdm 4.67.1, torch 2.8.0 -> 2.9.0"
    same_key: bool = False  # the lock still has an entry of the env's target and Python

    def message(self) -> str:
        return f"env {self.name!r} is behind its lock {self.lock}: {self.why}"


def behind_lock(name: str, generation: str, lock: str) -> Behind | None:
    """Whether env ``name`` (its current ``generation``) is behind ``lock``, the lock file
    it was made from, which changed on disk since (``store.lookup.lock_stamp_changed``
    said so). None when its entry is still the same: the stamp is refreshed, so the next
    run takes the fast path again. A lock that cannot be read is not a reason to refuse
    the run: None, and the next run looks again."""
    from mlstack_env.lockfile import read_lock
    from mlstack_env.store.fingerprint import read_fingerprint
    from mlstack_env.store.lookup import write_lock_stamp

    fp = read_fingerprint(Path(generation))
    if fp is None:
        return None
    try:
        locked = read_lock(Path(lock))
    except LockError:
        return None
    key = f"{fp.profile}@{fp.target}@py{fp.python}"
    entry = locked.get(key)
    if entry is not None and entry.content_hash() == fp.lock_hash:
        write_lock_stamp(generation, lock)
        return None
    why = ("its entry changed (`mlstack lock` re-resolved it)" if entry is not None else
           f"the lock has no entry {key} any more")
    return Behind(name, Path(lock), key, why, fp.recreate_command(),
                  _changes(Path(generation), entry), same_key=entry is not None)


def _changes(generation: Path, new: LockEntry | None) -> str:
    """What the new entry changes against the generation's own copy of its entry."""
    from mlstack_env.lockfile import read_lock
    from mlstack_env.store.generations import LOCK_NAME

    if new is None:
        return ""
    try:
        (old,) = read_lock(generation / LOCK_NAME).entries
    except (LockError, ValueError):
        return ""
    before = {p.name: p.version for p in old.packages}
    after = {p.name: p.version for p in new.packages}
    out = [f"+{n} {v}" for n, v in sorted(after.items()) if n not in before]
    out += [f"{n} {before[n]} -> {v}" for n, v in sorted(after.items())
            if n in before and before[n] != v]
    out += [f"-{n} {v}" for n, v in sorted(before.items()) if n not in after]
    return ", ".join(out)


def sync_env(behind: Behind, *, progress: Progress | None = None,
             announce: Callable[[str], None] | None = None) -> CreateOutcome:
    """Bring the env to its lock: a create from exactly that lock file (never resolving),
    for the machine it runs on; a store hit is instant, a miss installs what changed."""
    import shlex

    profile, target, python = behind.key.split("@")
    project_dir = behind.lock.parent if is_project_dir(behind.lock.parent) else None
    # The env's own target and Python while the lock has them (an env made with --target
    # stays on it), else this machine's entry.
    request = CreateRequest(
        profile=profile, name=behind.name, lock_file=behind.lock, project_dir=project_dir,
        target=Target.parse(target) if behind.same_key else None,
        python=python.removeprefix("py") if behind.same_key else None)
    try:
        return create(request, progress=progress, announce=announce)
    except InternalError:
        raise  # a bug keeps its own text, traceback and exit 2
    except MlstackError as err:  # any user-facing failure of the create, reworded
        raise MlstackError(f"{behind.message()}; syncing it failed: {err.message}",
                           f"{err.hint} (or run the env as it is: `mlstack run --no-sync "
                           f"{shlex.quote(behind.name)} -- CMD`)") from None


def _policy_dir(request: CreateRequest, choice: EntryChoice, project: Project | None
                ) -> Path | None:
    """The project whose URL policy applies: ``--project``, else the working directory's
    when the entry comes from this user's lock of its unused built-in profiles."""
    from mlstack_env.manifest.project import user_lock_path

    if request.project_dir is None and project is not None \
            and choice.source == str(user_lock_path(project)):
        return project.root
    return request.project_dir


def _choosing(request: CreateRequest, target: str, project: Project | None) -> str:
    """The progress line of finding the entry: reading a lock, the project's lock (which
    resolves only when it lacks the entry or it is stale), or resolving a profile."""
    if request.lock_file is not None:
        return f"reading {request.lock_file} for {target}"
    what = request.profile or "the default env"
    if project is not None:
        try:
            ours = request.profile is None or request.profile in project.lock_profiles()
        except ManifestError:
            ours = False
        lock = project.lock_path.name if ours else "your own lock"
        return f"the entry of {lock} for {what} on {target}"
    return f"resolving {what} for {target}"

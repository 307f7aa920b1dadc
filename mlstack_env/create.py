"""``env create`` below the CLI: a :class:`CreateRequest` -> the lock entry to install
(:func:`choose_entry`) -> a new generation of a named env (:func:`create`).

The entry comes from ``--lock FILE`` exactly, else the project's lock (re-locked when
stale, unless ``locked``), else the built-in profile resolved for this machine. The
project is found once, here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlstack_env.errors import MlstackError
from mlstack_env.target import Target, parse_python

if TYPE_CHECKING:
    from mlstack_env.hardware.machine import Machine
    from mlstack_env.lockfile import LockEntry
    from mlstack_env.project import Project
    from mlstack_env.resolve.lockwrite import LockChange
    from mlstack_env.store.create import Created
    from mlstack_env.store.entries import Progress


@dataclass(frozen=True)
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
        from mlstack_env.envname import validate_env_name

        if self.name is not None:
            validate_env_name(self.name)
        if self.lock_file is not None and self.locked:
            raise MlstackError(
                "--locked and --lock FILE do not go together",
                hint="--lock FILE already uses exactly that lock and never re-resolves",
            )
        if self.reinstall and self.offline and self.wheels_dir is None:
            raise MlstackError(
                "--reinstall fetches the wheels again; it cannot work --offline",
                hint="run it with network access (or a reachable [mirrors] entry), or give "
                "a wheel bundle with --wheels DIR",
            )
        if self.wheels_dir is not None and not self.wheels_dir.is_dir():
            raise MlstackError(
                f"--wheels {self.wheels_dir}: no such folder",
                hint="make one with `mlstack bundle --lock LOCK -o DIR` on a machine with "
                "network access, and copy it here",
            )
        if self.python is not None:
            parse_python(self.python)


@dataclass(frozen=True)
class EntryChoice:
    """The lock entry an env create installs, where it came from and why its Python."""
    entry: LockEntry
    source: str  # the lock file, or "built-in profile NAME"
    lock_versions: tuple[str, str] | None  # (mlstack, uv) recorded in --lock FILE
    python_why: str = ""  # why the entry's Python (resolve.PythonChoice.why)
    change: LockChange | None = None  # what was written to the project's lock for it


@dataclass(frozen=True)
class CreateOutcome:
    """What an env create made, from which lock, and any change it made to the lock."""
    created: Created
    source: str
    python_why: str = ""
    change: LockChange | None = None


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
                raise MlstackError(
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
            raise MlstackError(
                f"which profile? {where}",
                hint="name one: mlstack env create minimal (built-in: minimal, inference, "
                "training), or pass --lock FILE",
            )
        profile = project.default_env
    chosen = entry_for_env(profile, target, python, project, locked=request.locked,
                           offline=request.offline, on_wait=on_wait)
    if chosen.change is not None and announce is not None:
        for line in chosen.change.lines():
            announce(line)
    source = str(project.lock_path) if project else f"built-in profile {profile}"
    return EntryChoice(chosen.entry, source, None, chosen.python.why, chosen.change)


def create(
    request: CreateRequest,
    *,
    progress: Progress | None = None,
    on_wait: Callable[[str], None] | None = None,
    announce: Callable[[str], None] | None = None,
) -> CreateOutcome:
    """Materialize the chosen entry as the next generation of the env (store/create.py)."""
    from mlstack_env.config import load_config
    from mlstack_env.envname import validate_env_name
    from mlstack_env.hardware import detect
    from mlstack_env.project import find_project
    from mlstack_env.store.create import create_env
    from mlstack_env.store.entries import NoProgress
    from mlstack_env.store.install import UvInstaller
    from mlstack_env.urlpolicy import url_policy

    request.check()
    # Found once, here: the entry, the progress line, the URL policy and the site preset
    # all mean the project of the working directory (or --project).
    project = find_project(Path.cwd(), request.project_dir)
    machine = detect()
    progress = progress or NoProgress()
    with progress.step(_choosing(request, str(request.target or machine.target), project)):
        choice = choose_entry(request, machine, project, on_wait, announce)
    env_name = validate_env_name(request.name or choice.entry.profile)
    config = load_config()
    wheels_dir = request.wheels_dir
    created = create_env(
        env_name,
        choice.entry,
        machine,
        installer=UvInstaller(mirrors=config.mirrors, offline=request.offline,
                              refresh=request.reinstall, wheels_dir=wheels_dir),
        source=choice.source,
        lock_versions=choice.lock_versions,
        progress=progress,
        on_wait=on_wait,
        reinstall=request.reinstall,
        wheels=str(wheels_dir.resolve()) if wheels_dir is not None else "",
        url_policy=url_policy(choice.source, request.project_dir, project),
        site=project.site_preset() if project is not None else None,
    )
    return CreateOutcome(created, choice.source, choice.python_why, choice.change)


def _choosing(request: CreateRequest, target: str, project: Project | None) -> str:
    """The progress line of finding the entry: reading a lock, the project's lock (which
    resolves only when it lacks the entry or it is stale), or resolving a profile."""
    if request.lock_file is not None:
        return f"reading {request.lock_file} for {target}"
    what = request.profile or "the default env"
    if project is not None:
        return f"the entry of {project.lock_path.name} for {what} on {target}"
    return f"resolving {what} for {target}"

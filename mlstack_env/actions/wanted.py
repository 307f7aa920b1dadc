"""What a lock expects of this machine: its system packages, ROCm release and variables.

``system check/plan`` must work before ROCm is installed, when the detected target is
still ``cpu`` and no ROCm entry fits strictly; so beside the strict choice
(:func:`lockfile.select_entry`) there is a lenient one by GPU architecture.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.version import Version

from mlstack_env.core.errors import EnvNotFound, LockError, TargetError, UsageError
from mlstack_env.core.projectdir import find_upward
from mlstack_env.hardware.machine import Machine
from mlstack_env.lockfile import LOCK_NAME, Lock, LockEntry, fits, read_lock, select_entry

if TYPE_CHECKING:
    from mlstack_env.store.fingerprint import Fingerprint


@dataclass(frozen=True)
class Wanted:
    source: str  # "mlstack.lock: inference@rocm6.4:gfx1100@py3.12"
    entry: LockEntry
    system: tuple[str, ...]  # ROCm's Debian names, sorted
    rocm: str | None  # the ROCm release of the entry, None for cpu
    misfit: LockError | TargetError | None = None  # why no entry fits strictly (a
    # TargetError: an env made for another machine); None when one does
    notes: tuple[str, ...] = field(default=())
    env_name: str | None = None  # with --env: the named env
    fingerprint: Fingerprint | None = None  # with --env: what its generation was made from
    rocm_in_env: str | None = None  # the ROCm build the entry holds as wheels (§4b)

    @property
    def env(self) -> Mapping[str, str]:
        return self.entry.env


def _from_entry(source: str, entry: LockEntry, system: tuple[str, ...], rocm: str | None,
                **more: Any) -> Wanted:
    """A Wanted for ``entry``; one holding ROCm itself asks the host for no ROCm package."""
    from mlstack_env.rocmwheels.rocmsdk import CORE
    from mlstack_env.system.catalog import system_catalog

    core = entry.package(CORE)
    if core is None:
        return Wanted(source, entry, system, rocm, **more)
    kept, dropped = system_catalog().beside_rocm_wheels(system)
    note = (f"ROCm {core.version} is inside the env (rocm-sdk-* wheels): this machine "
            "provides only the amdgpu driver and access to /dev/kfd and /dev/dri "
            "(groups render and video)")
    if dropped:
        note += f"; not needed from the host: {', '.join(dropped)}"
    notes = (*more.pop("notes", ()), note)
    return Wanted(source, entry, kept, rocm, notes=notes, rocm_in_env=core.version, **more)


def wanted_from_lock(lock: Lock, machine: Machine, source: str) -> Wanted:
    """The entry that fits this machine; else the entries for its GPUs, whatever ROCm.

    Leniently chosen entries of one ROCm release pool their system packages: the
    installed ROCm's release when it is among them, else the newest.
    """
    if not lock.entries:
        raise LockError(f"{source} has no entries", hint="re-create it with `mlstack lock`")
    try:
        entry = select_entry(lock, machine.target, source=source)
    except LockError as err:
        strict: LockError | None = err
    else:
        return _from_entry(f"{source}: {entry.key}", entry, tuple(sorted(set(entry.system))),
                           entry.target.rocm)
    candidates = _lenient_candidates(lock, machine)
    chosen = _pooled_release(candidates, machine)
    pool = sorted(
        (e for e in candidates if e.target.rocm == chosen),
        key=lambda e: (e.profile, str(e.target), e.python),
    )
    entry = pool[0]
    names = tuple(sorted({n for e in pool for n in e.system}))
    keys = ", ".join(e.key for e in pool)
    note = f"no entry fits this machine exactly (detected {machine.target}); using {keys}"
    return _from_entry(f"{source}: {entry.key}", entry, names, chosen, misfit=strict,
                       notes=(note,))


def _lenient_candidates(lock: Lock, machine: Machine) -> list[LockEntry]:
    """The entries for the machine's GPUs (any ROCm); else the ROCm ones; else all."""
    gfx = {g.gfx for g in machine.compute_gpus}
    rocm_entries = [e for e in lock.entries if e.target.is_rocm]
    return [e for e in rocm_entries if gfx and gfx <= set(e.target.gfx)] or (
        rocm_entries or list(lock.entries)
    )


def _pooled_release(candidates: list[LockEntry], machine: Machine) -> str | None:
    """The ROCm release whose entries pool their packages: the installed one's when it is
    among them, else the newest (None: no ROCm entry)."""
    releases = sorted({e.target.rocm for e in candidates if e.target.rocm}, key=Version)
    installed = machine.rocm.minor if machine.rocm else None
    chosen = next((r for r in releases if installed and r.startswith(installed)), None)
    return chosen or (releases[-1] if releases else None)


def find_project_lock(start: Path) -> Path | None:
    """``mlstack.lock`` in ``start`` or the nearest parent that has one."""
    folder = find_upward(start, (LOCK_NAME,))
    return Path(folder) / LOCK_NAME if folder is not None else None


def wanted_from_env(name: str, machine: Machine) -> Wanted:
    """The lock entry of a named env's current generation, and its fingerprint."""
    from mlstack_env.store.generations import get_env

    env = get_env(name)
    gen = env.current()
    if gen is None:  # pragma: no cover - get_env returns existing envs only
        raise EnvNotFound(name)
    entry = gen.entry()
    fingerprint = gen.fingerprint()
    misfit: TargetError | None = None
    if not fits(entry, machine.target):
        command = fingerprint.recreate_command() if fingerprint else \
            f"mlstack env create {entry.profile} --name {name}"
        misfit = TargetError(
            f"env {name} was made for {entry.target}, but this machine is {machine.target}",
            hint=f"re-create it here: {command}",
        )
    return _from_entry(
        f"env {name} (generation {gen.number}): {entry.key}",
        entry,
        tuple(sorted(set(entry.system))),
        entry.target.rocm,
        misfit=misfit,
        env_name=name,
        fingerprint=fingerprint,
    )


def load_wanted(lock_path: Path | None, env_name: str | None, machine: Machine
                ) -> Wanted | None:
    """From ``--env NAME`` or ``--lock FILE``, else the project's ``mlstack.lock``, else
    None."""
    if lock_path is not None and env_name is not None:
        raise UsageError("--env and --lock both name what to check",
                         hint="pass one of them")
    if env_name is not None:
        return wanted_from_env(env_name, machine)
    path = lock_path or find_project_lock(Path.cwd())
    if path is None:
        return None
    return wanted_from_lock(read_lock(path), machine, str(path))


def require_wanted(lock_path: Path | None, env_name: str | None, machine: Machine) -> Wanted:
    """:func:`load_wanted`, where having no lock is an error."""
    wanted = load_wanted(lock_path, env_name, machine)
    if wanted is None:
        raise LockError(
            "no lock to read system packages from",
            hint="pass --env NAME or --lock FILE, or run in a project with an mlstack.lock "
            "(create one with `mlstack lock`)",
        )
    return wanted

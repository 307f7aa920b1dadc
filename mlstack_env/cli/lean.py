"""The bodies of the commands the fast path runs, free of typer.

Importing typer (and the click under it) is 35-60 ms of every command, more than
``env list``, a store hit or a no-op ``lock`` spend on their work. The typer commands in
``cli/env.py``, ``cli/lock.py`` and ``cli/profile.py`` call these: ``env create`` and
``lock`` with the one object of their options (:mod:`mlstack_env.cli.options`, the one
declaration of them), the others with their few parameters, ``body(**locals())``;
:mod:`mlstack_env.cli.fast` calls them too, with what it parsed by the table generated
from those declarations (``cli/fastspec.py``). Each body takes exactly its command's
parameters, names and defaults, or its options class (a test checks).
"""

from __future__ import annotations

import sys
from pathlib import Path

from mlstack_env.cli.output import emit
from mlstack_env.cli.progress import announce, is_quiet, say
from mlstack_env.core.errors import (
    EnvNotFound,
    ExitCode,
    LockError,
    ManifestError,
    UsageError,
)

TYPE_CHECKING = False  # typing costs an import on the fast path; mypy reads it
if TYPE_CHECKING:
    from mlstack_env.catalog.target import Target
    from mlstack_env.cli.options import CreateOptions, LockOptions

# --- the command bodies (typer's commands call these too) -------------------------------


def env_list(as_json: bool = False) -> int:
    from mlstack_env.cli.env_results import ListResult, summary
    from mlstack_env.store.generations import all_envs

    return emit(ListResult([summary(e) for e in all_envs()]), as_json)


def env_info(name: str, as_json: bool = False) -> int:
    from mlstack_env.cli.env_results import InfoResult
    from mlstack_env.store.generations import get_env

    env = get_env(name)
    gen = env.current()
    if gen is None:  # removed between the two reads
        raise EnvNotFound(name)
    return emit(InfoResult(env, gen), as_json)


def env_create(options: CreateOptions) -> int:
    """``env create``: materialize a lock entry as a named env."""
    from mlstack_env.actions.create import CreateRequest, create
    from mlstack_env.cli.env_results import CreateResult
    from mlstack_env.cli.progress import StepProgress
    from mlstack_env.store.entries import NoProgress

    o = options
    request = CreateRequest(
        profile=o.profile, name=o.name, lock_file=o.lock_file,
        target=_target(o.target) if o.target else None, python=o.python, offline=o.offline,
        locked=o.locked, project_dir=o.project, reinstall=o.reinstall, wheels_dir=o.wheels,
    )
    as_json = o.as_json
    quiet = as_json or is_quiet()
    fetched = sys.modules.get("mlstack_env.fetch.download")
    if fetched is not None:  # in-process (tests): another command's downloads
        fetched.forget_report()
    outcome = create(request, progress=NoProgress() if quiet else StepProgress(),
                     on_wait=None if quiet else say, announce=announce)
    if not as_json and is_quiet():  # -q: nothing else on success
        return ExitCode.OK
    return emit(CreateResult(outcome), as_json)


def _target(text: str) -> Target:
    from mlstack_env.catalog.target import Target

    return Target.parse(text)


def profile_list(as_json: bool = False, project_dir: Path | None = None) -> int:
    from mlstack_env.cli.profile_results import ProfileList
    from mlstack_env.manifest.profiles import ProfileSet
    from mlstack_env.manifest.project import find_project

    project = find_project(Path.cwd(), project_dir)
    profiles = project.profile_set() if project else ProfileSet.load()
    merged = tuple(profiles.get(n) for n in profiles.names())
    return emit(ProfileList(merged, str(project.manifest_path) if project else None), as_json)


def lock(options: LockOptions) -> int:
    """``lock``: resolve profiles x targets into the lock, or check it is fresh."""
    from mlstack_env.catalog.target import Target, parse_python
    from mlstack_env.cli.lock_results import LockProgress, LockResult, upgrade_request
    from mlstack_env.manifest.project import find_project
    from mlstack_env.resolve.locking import LockRequest
    from mlstack_env.resolve.locking import lock as resolve_lock

    o = options
    parsed = [Target.parse(t) for t in o.target or ()]
    if o.python is not None:
        parse_python(o.python)
    wanted = upgrade_request(o.upgrade, list(o.upgrade_package or ()), check=o.check,
                             locked=o.locked, offline=o.offline)
    project = find_project(Path.cwd(), o.project_dir)
    if project is None:
        _check_profiles(list(o.profiles or ()))
    if o.check and o.export_pylock is not None:
        raise UsageError("--check writes nothing; it cannot be used with "
                         "--export-pylock", "drop one of them")
    with LockProgress(quiet=o.as_json) as progress:
        request = LockRequest(profiles=list(o.profiles or ()), targets=parsed,
                              python=o.python, output=o.output, check=o.check,
                              export_dir=o.export_pylock, offline=o.offline, upgrade=wanted,
                              locked=o.locked)
        outcome = resolve_lock(project, request, progress=progress, on_wait=announce)
    for line in outcome.change.lines() if outcome.change else ():
        announce(line)
    code = emit(LockResult(outcome), o.as_json)
    if o.check and not outcome.up_to_date:
        stale = [f"{e.request.key} ({e.status})" for e in outcome.outcomes
                 if not e.status.up_to_date]
        raise LockError(
            f"{outcome.path} is not up to date: {', '.join(stale)}",
            "run `mlstack lock` and commit the result",
        )
    return code


def _check_profiles(names: list[str]) -> None:
    """Outside a project only built-in profiles exist: an unknown name is the error to
    report, before the missing mlstack.toml."""
    from mlstack_env.manifest.profiles import ProfileSet, unknown_profile_error

    known = ProfileSet.load().names()
    for name in names:
        if name not in known:
            err = unknown_profile_error(name, known)
            raise ManifestError(f"{err.message} (no mlstack.toml here defines profiles)",
                                err.hint)

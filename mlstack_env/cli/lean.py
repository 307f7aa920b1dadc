"""Commands that do no resolving, run without typer.

Importing typer (and click under it) is about 45 ms of every command, more than
``env list`` or a no-op ``lock`` spend on their work. So the bodies of those commands
live here, free of typer: the typer commands in ``cli/env.py``, ``cli/lock.py`` and
``cli/profile.py`` call them, and :func:`run_fast` calls them directly for the simple,
common spellings in :data:`FAST`. Anything :func:`parse` does not recognise (``--help``,
an unknown option, ``--opt=value``, ``--``, ``-v``, an option without its value) returns
None and the caller hands the whole argv to typer, so help, usage errors and every other
form behave exactly as before (``tests/test_cli_fast.py`` compares the bytes).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlstack_env.cli.output import emit
from mlstack_env.cli.progress import announce, is_quiet, say, set_quiet
from mlstack_env.errors import MlstackError

# --- the command bodies (typer's commands call these too) -------------------------------


def env_list(as_json: bool) -> int:
    from mlstack_env.cli.env_results import ListResult, summary
    from mlstack_env.store.generations import all_envs

    return emit(ListResult([summary(e) for e in all_envs()]), as_json)


def env_info(name: str, as_json: bool) -> int:
    from mlstack_env.cli.env_results import InfoResult
    from mlstack_env.store.generations import get_env

    env = get_env(name)
    gen = env.current()
    if gen is None:  # removed between the two reads
        raise MlstackError(f"no env named {name!r}", hint="see `mlstack env list`")
    return emit(InfoResult(env, gen), as_json)


def env_create(request: Any, as_json: bool) -> int:
    """``env create`` of a :class:`mlstack_env.create.CreateRequest`."""
    from mlstack_env.cli.env_results import CreateResult
    from mlstack_env.cli.progress import StepProgress
    from mlstack_env.create import create
    from mlstack_env.store.entries import NoProgress

    quiet = as_json or is_quiet()
    fetched = sys.modules.get("mlstack_env.download")
    if fetched is not None:  # in-process (tests): another command's downloads
        fetched.forget_report()
    outcome = create(request, progress=NoProgress() if quiet else StepProgress(),
                     on_wait=None if quiet else say, announce=announce)
    if not as_json and is_quiet():  # -q: nothing else on success
        return 0
    return emit(CreateResult(outcome), as_json)


def profile_list(as_json: bool, project_dir: Path | None) -> int:
    from mlstack_env.cli.profile_results import ProfileList
    from mlstack_env.profiles import ProfileSet
    from mlstack_env.project import find_project

    project = find_project(Path.cwd(), project_dir)
    profiles = project.profile_set() if project else ProfileSet.load()
    merged = tuple(profiles.get(n) for n in profiles.names())
    return emit(ProfileList(merged, str(project.manifest_path) if project else None), as_json)


def lock(profiles: list[str], targets: list[str], *, python: str | None = None,
         output: Path | None = None, check: bool = False, project_dir: Path | None = None,
         export_pylock: Path | None = None, offline: bool = False, upgrade: bool = False,
         upgrade_package: Sequence[str] = (), locked: bool = False,
         as_json: bool = False) -> int:
    from mlstack_env.cli.lock_results import LockProgress, LockResult, upgrade_request
    from mlstack_env.project import find_project
    from mlstack_env.resolve import lock as resolve_lock
    from mlstack_env.target import Target, parse_python

    parsed = [Target.parse(t) for t in targets]
    if python is not None:
        parse_python(python)
    wanted = upgrade_request(upgrade, list(upgrade_package), check=check, locked=locked,
                             offline=offline)
    project = find_project(Path.cwd(), project_dir)
    if project is None:
        _check_profiles(profiles)
    if check and export_pylock is not None:
        raise MlstackError("--check writes nothing; it cannot be used with "
                           "--export-pylock", "drop one of them")
    with LockProgress(quiet=as_json) as progress:
        outcome = resolve_lock(project=project, profiles=profiles, targets=parsed,
                               python=python, output=output, check=check,
                               export_dir=export_pylock, offline=offline, progress=progress,
                               upgrade=wanted, locked=locked, on_wait=announce)
    for line in outcome.change.lines() if outcome.change else ():
        announce(line)
    code = emit(LockResult(outcome), as_json)
    if check and not outcome.up_to_date:
        stale = [f"{o.request.key} ({o.status})" for o in outcome.outcomes
                 if not o.status.up_to_date]
        raise MlstackError(
            f"{outcome.path} is not up to date: {', '.join(stale)}",
            "run `mlstack lock` and commit the result",
        )
    return code


def _check_profiles(names: list[str]) -> None:
    """Outside a project only built-in profiles exist: an unknown name is the error to
    report, before the missing mlstack.toml."""
    from mlstack_env.profiles import ProfileSet, unknown_profile_error

    known = ProfileSet.load().names()
    for name in names:
        if name not in known:
            err = unknown_profile_error(name, known)
            raise MlstackError(f"{err.message} (no mlstack.toml here defines profiles)",
                               err.hint)


# --- the fast path: a tiny parser per command, typer for everything else -----------------


@dataclass(frozen=True)
class Spec:
    """The spellings the fast path takes for one command: boolean ``flags``, ``options``
    that take a value (each spelling -> parameter name), at most ``positionals``
    positional arguments, and the ``required`` parameters without which it is typer's."""

    run: Callable[[dict[str, Any]], int]
    flags: Sequence[str] = ("--json",)
    options: dict[str, str] = field(default_factory=dict)
    positionals: int = 0
    required: Sequence[str] = ()


def _create(a: dict[str, Any]) -> int:
    from mlstack_env.create import CreateRequest

    pos = a["args"]
    request = CreateRequest(profile=pos[0] if pos else None, name=a.get("name"),
                            lock_file=Path(a["lock"]))
    return env_create(request, a["json"])


# Command words -> Spec. Each form here must mean what typer makes of it.
FAST: dict[tuple[str, ...], Spec] = {
    ("env", "list"): Spec(lambda a: env_list(a["json"])),
    ("env", "info"): Spec(lambda a: env_info(a["args"][0], a["json"]), positionals=1,
                          required=("args",)),
    ("env", "create"): Spec(_create, options={"--lock": "lock", "--name": "name", "-n": "name"},
                            positionals=1, required=("lock",)),
    ("profile", "list"): Spec(lambda a: profile_list(a["json"], None)),
    ("lock",): Spec(lambda a: lock([], [], check=a["check"], as_json=a["json"]),
                    flags=("--json", "--check")),
}


def parse(spec: Spec, args: Sequence[str]) -> dict[str, Any] | None:
    """The parameters ``args`` give, or None when they are not a form ``spec`` takes."""
    values: dict[str, Any] = {f.lstrip("-"): False for f in spec.flags}
    values["args"] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in spec.flags:
            values[arg.lstrip("-")] = True
        elif arg in spec.options:
            if i + 1 == len(args) or args[i + 1].startswith("-"):
                return None
            values[spec.options[arg]] = args[i + 1]
            i += 1
        elif arg.startswith("-") or len(values["args"]) == spec.positionals:
            return None
        else:
            values["args"].append(arg)
        i += 1
    if any(not values.get(r) for r in spec.required):
        return None
    return values


QUIET = ("-q", "--quiet")


def run_fast(args: Sequence[str]) -> int | None:
    """Run ``args`` (mlstack's argv) here if :data:`FAST` takes that form; None if typer
    must. ``-q`` may stand anywhere, as typer's path allows; ``-v`` goes to typer."""
    words = [a for a in args if a not in QUIET]
    for command, spec in FAST.items():
        if tuple(words[: len(command)]) == command:
            values = parse(spec, words[len(command):])
            if values is None:
                return None
            set_quiet(len(words) < len(args))
            return spec.run(values)
    return None

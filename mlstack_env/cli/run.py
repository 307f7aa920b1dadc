"""``mlstack env run [NAME] [--] CMD [ARGS...]`` (and its short form ``mlstack run``): run
a command inside an env, without a shell.

The hot path of mlstack: ``cli.main`` calls :func:`run_fast` before typer, rich or the
resolver are imported, and this module keeps it that way (only ``os``, ``sys``, ``json``
and the small activation modules: no ``pathlib``, ``re`` or ``typing``). The command
replaces this process (``execvpe``), so its exit status and signals are the command's own.
"""

from __future__ import annotations

import os
import sys

from mlstack_env.core.errors import BadValueError, ExitCode, StoreError, UsageError

TYPE_CHECKING = False  # no typing import on the hot path; mypy reads the name
if TYPE_CHECKING:
    from collections.abc import Callable

    from mlstack_env.activation.data import StrPath

USAGE = """\
usage: mlstack env run [NAME] [--] CMD [ARGS...]
       mlstack run [NAME] [--] CMD [ARGS...]
options (before NAME): --frozen, --no-sync

Run CMD with the env NAME active: VIRTUAL_ENV, PATH with the env's bin first, and
the env's variables (HIP/ROCm and the rest), applied without a shell. CMD replaces
mlstack, so its exit status and signals pass straight through.

An env behind its lock (the lock it was made from changed its entry since, e.g.
after a profile edit and `mlstack lock`) is synced to it first, like `uv run`: a
store hit is instant, a miss installs what changed. --frozen refuses an env behind
its lock instead; --no-sync runs it as it is.

Without NAME: the project's default-env (mlstack.toml, found from here upward), else
the only env. With `--`, NAME is what comes before it (`mlstack run -- python -V` uses
the default env); without `--`, the first word is NAME only when an env has that name.
Use `--` when CMD itself starts with '-' options meant for it, e.g.

    mlstack env run inference -- python -c 'import torch; print(torch.cuda.is_available())'
"""

_HINT = "usage: mlstack env run [NAME] [--] CMD [ARGS...]  (see `mlstack env run --help`)"



SYNC, FROZEN, NO_SYNC = "sync", "frozen", "no-sync"


def parse(args: list[str], known: Callable[[str], bool] | None = None
          ) -> tuple[str | None, list[str], str] | None:
    """``[--frozen|--no-sync] [NAME] [--] CMD...`` → (name or None for the default env,
    argv, what to do with an env behind its lock); None for help.

    With ``--``, NAME is the one word before it (none: the default env). Without ``--``,
    the first word is NAME when ``known(word)`` says an env has that name, else it is the
    command (``mlstack env run python`` runs python in the default env).
    """
    rest = list(args)
    mode = SYNC
    while rest and rest[0].startswith("-") and rest[0] not in ("-", "--"):
        opt = rest.pop(0)
        if opt in ("-h", "--help"):
            return None
        if opt in ("-v", "--verbose"):  # global; cli.main already acted on it
            continue
        if opt in ("--frozen", "--no-sync"):
            mode = FROZEN if opt == "--frozen" else NO_SYNC
            continue
        raise UsageError(f"unknown option {opt!r} for `mlstack env run`", hint=_HINT)
    if "--" in rest:
        cut = rest.index("--")
        head, argv = rest[:cut], rest[cut + 1:]
        if len(head) > 1:
            raise UsageError(
                f"one env name before `--`, not {len(head)}: {' '.join(head)}", hint=_HINT)
        name = head[0] if head else None
    else:
        if rest and rest[0] in ("-h", "--help"):
            return None
        if len(rest) >= 2 and rest[1] in ("-h", "--help"):
            # `mlstack env run NAME --help`: no command starts with '-'; this asks for help.
            return None
        is_env = known or _is_env
        if rest and is_env(rest[0]):
            name, argv = rest[0], rest[1:]
        else:
            name, argv = None, rest
    if not argv:
        raise UsageError(f"no command to run in env {name!r}" if name else
                         "missing the command to run", hint=_HINT)
    return name, argv, mode


def _is_env(word: str) -> bool:
    from mlstack_env.core import paths
    from mlstack_env.core.envname import validate_env_name

    try:
        validate_env_name(word)
    except BadValueError:
        return False
    return os.path.exists(os.path.join(paths.envs_dir_str(), word, paths.CURRENT))


def hold(generation: StrPath, name: str) -> int:
    """Keep ``mlstack gc`` off this generation while the command runs; the fd holding it.

    gc removes a generation only when it can lock the directory exclusively; a shared lock
    on an fd that survives ``exec`` (inheritable) lasts exactly as long as the command.
    The same lock as ``store.generations.hold``, written out here so the hot path does
    not import the store (tests/test_env_run.py checks that gc honours it).
    """
    import fcntl

    try:
        fd = os.open(generation, os.O_RDONLY | os.O_DIRECTORY)
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        raise StoreError(
            f"env {name!r}: its generation is being removed by `mlstack gc`",
            hint=f"run the command again; if it keeps failing, `mlstack env create` {name}",
        ) from None
    except OSError as e:
        raise StoreError(
            f"env {name!r}: cannot open {generation}: {e.strerror}",
            hint=f"recreate the env with `mlstack env create --name {name}`",
        ) from None
    os.set_inheritable(fd, True)
    return fd


def synced(name: str, generation: str, lock: str, mode: str) -> str:
    """The generation to run after bringing env ``name`` to ``lock`` (like ``uv run``):
    the same one when its entry did not change; with ``--frozen`` an env behind its lock
    is refused, with ``--no-sync`` it runs as it is, with a warning."""
    from mlstack_env.actions.create import behind_lock

    behind = behind_lock(name, generation, lock)
    if behind is None:
        return generation
    if mode == FROZEN:
        raise StoreError(f"{behind.message()}; --frozen runs only an env that matches "
                         "its lock",
                         f"sync it (drop --frozen), or run it as it is with --no-sync; "
                         f"by hand: `{behind.recreate}`")
    if mode == NO_SYNC:
        sys.stderr.write(f"warning: {behind.message()}; running it as it is (--no-sync)\n")
        return generation
    from mlstack_env.actions.create import sync_env
    from mlstack_env.cli.progress import StepProgress, announce, is_quiet, say
    from mlstack_env.store.entries import NoProgress
    from mlstack_env.store.lookup import current_generation_dir

    say(f"{behind.message()}; syncing it"
        + (f" ({behind.changes})" if behind.changes else ""))
    outcome = sync_env(behind, progress=NoProgress() if is_quiet() else StepProgress(),
                       announce=announce)
    created = outcome.created
    say(f"env {name}: generation {created.generation.number} from {behind.lock.name} "
        f"({'store hit' if created.reused else 'installed'})")
    return current_generation_dir(name)


def run_fast(args: list[str]) -> int:
    """Run ``args`` (what follows ``mlstack env run``); returns only on help or error."""
    parsed = parse(args)
    if parsed is None:
        sys.stdout.write(USAGE)
        return ExitCode.OK
    name, argv, mode = parsed

    from mlstack_env.activation.data import apply, load_env_json
    from mlstack_env.store.lookup import (
        current_generation_dir,
        default_env_name,
        lock_stamp_changed,
        require_python,
    )

    implicit = name is None
    if name is None:
        name = default_env_name("mlstack run NAME -- CMD")

    generation = current_generation_dir(name)
    lock = lock_stamp_changed(generation)
    if lock is not None:  # off the fast path: the lock it was made from changed on disk
        generation = synced(name, generation, lock, mode)
    hold(generation, name)
    data = load_env_json(generation)
    require_python(name, generation, data.venv_str)
    env = apply(os.environ, data)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvpe(argv[0], argv, env)  # noqa: S606 - replace mlstack: status and signals pass
    except FileNotFoundError:
        hint = (f"the env's PATH starts with {os.pathsep.join(data.path_strs)}; "
                "install the command into the env or give its full path")
        if implicit:
            hint = (f"{argv[0]!r} is not an env either, so it ran in the default env "
                    f"{name!r}; " + hint)
        raise UsageError(
            f"command not found in env {name!r}: {argv[0]}", hint=hint,
            exit_code=ExitCode.NOT_FOUND,
        ) from None
    except PermissionError:
        raise UsageError(
            f"cannot execute {argv[0]} (permission denied)",
            hint="check that the file is a program and has its executable bit set",
            exit_code=ExitCode.NOT_EXECUTABLE,
        ) from None
    except OSError as e:
        raise UsageError(
            f"cannot execute {argv[0]}: {e.strerror}",
            hint="check that the file is a program for this machine",
            exit_code=ExitCode.NOT_EXECUTABLE,
        ) from None

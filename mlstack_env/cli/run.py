"""``mlstack env run NAME [--] CMD [ARGS...]``: run a command inside an env, without a shell.

The hot path of mlstack: ``cli.main`` calls :func:`run_fast` before typer, rich or the
resolver are imported, and this module keeps it that way (only ``os``, ``sys``, ``json``,
``pathlib`` and the small activation modules). The command replaces this process
(``execvpe``), so its exit status and signals are the command's own.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from mlstack_env.errors import MlstackError

USAGE = """\
usage: mlstack env run NAME [--] CMD [ARGS...]

Run CMD with the env NAME active: VIRTUAL_ENV, PATH with the env's bin first, and
the env's variables (HIP/ROCm and the rest), applied without a shell. CMD replaces
mlstack, so its exit status and signals pass straight through. Use `--` when CMD
itself starts with '-' options meant for it, e.g.

    mlstack env run inference -- python -c 'import torch; print(torch.cuda.is_available())'
"""

_HINT = "usage: mlstack env run NAME [--] CMD [ARGS...]  (see `mlstack env run --help`)"

#: Exit statuses a shell reports for a command it could not find or could not execute.
NOT_FOUND = 127
NOT_EXECUTABLE = 126


def parse(args: list[str]) -> tuple[str, list[str]] | None:
    """``NAME [--] CMD...`` → (name, argv); None when help was asked for."""
    rest = list(args)
    while rest and rest[0].startswith("-") and rest[0] != "-":
        opt = rest.pop(0)
        if opt in ("-h", "--help"):
            return None
        if opt in ("-v", "--verbose"):  # global; cli.main already acted on it
            continue
        if opt == "--":
            raise MlstackError("missing env name before `--`", hint=_HINT)
        raise MlstackError(f"unknown option {opt!r} for `mlstack env run`", hint=_HINT)
    if not rest:
        raise MlstackError("missing env name", hint=_HINT)
    name = rest.pop(0)
    if rest and rest[0] == "--":
        rest.pop(0)
    elif rest and rest[0] in ("-h", "--help"):
        # `mlstack env run NAME --help`: no command starts with '-'; this asks for help.
        return None
    if not rest:
        raise MlstackError(f"no command to run in env {name!r}", hint=_HINT)
    return name, rest


def _hold(generation: Path, name: str) -> None:
    """Keep ``mlstack gc`` off this generation while the command runs.

    gc removes a generation only when it can lock the directory exclusively; a shared lock
    on an fd that survives ``exec`` (inheritable) lasts exactly as long as the command.
    """
    import fcntl

    try:
        fd = os.open(generation, os.O_RDONLY | os.O_DIRECTORY)
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        raise MlstackError(
            f"env {name!r}: its generation is being removed by `mlstack gc`",
            hint=f"run the command again; if it keeps failing, `mlstack env create` {name}",
        ) from None
    except OSError as e:
        raise MlstackError(
            f"env {name!r}: cannot open {generation}: {e.strerror}",
            hint=f"recreate the env with `mlstack env create --name {name}`",
        ) from None
    os.set_inheritable(fd, True)


def run_fast(args: list[str]) -> int:
    """Run ``args`` (what follows ``mlstack env run``); returns only on help or error."""
    parsed = parse(args)
    if parsed is None:
        sys.stdout.write(USAGE)
        return 0
    name, argv = parsed

    from mlstack_env.activation.data import apply, load_env_json
    from mlstack_env.activation.lookup import current_generation

    generation = current_generation(name)
    _hold(generation, name)
    data = load_env_json(generation)
    env = apply(os.environ, data)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvpe(argv[0], argv, env)  # noqa: S606 - replace mlstack: status and signals pass
    except FileNotFoundError:
        raise MlstackError(
            f"command not found in env {name!r}: {argv[0]}",
            hint=f"the env's PATH starts with {os.pathsep.join(map(str, data.path))}; "
            "install the command into the env or give its full path",
            exit_code=NOT_FOUND,
        ) from None
    except PermissionError:
        raise MlstackError(
            f"cannot execute {argv[0]} (permission denied)",
            hint="check that the file is a program and has its executable bit set",
            exit_code=NOT_EXECUTABLE,
        ) from None
    except OSError as e:
        raise MlstackError(
            f"cannot execute {argv[0]}: {e.strerror}",
            hint="check that the file is a program for this machine",
            exit_code=NOT_EXECUTABLE,
        ) from None

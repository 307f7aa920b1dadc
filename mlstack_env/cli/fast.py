"""The fast path: the commands of ``cli/fastspec.py`` run without typer.

The table is generated from the typer declaration (``cli/fastgen.py``), so this parser
knows no command of its own: it takes the spellings typer declares and nothing else.
Whatever it is not sure of (``--help``, an unknown option, ``--opt=value``, ``--``,
``-v``, an option without its value, a missing required argument, a value typer checks
further) returns None, and the caller hands the whole argv to typer, so help, usage
errors and every other form are typer's. Standard library only, and no ``typing``.
"""

from __future__ import annotations

import os
import sys

from mlstack_env.cli.fastspec import FAST, ROOT_HELP

TYPE_CHECKING = False  # typing costs an import on this path; mypy reads it
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

QUIET = ("-q", "--quiet")


def _value(kind: str, text: str) -> Any:
    if kind.startswith("path"):
        from pathlib import Path

        return Path(text)
    return text


def _takes(kind: str | None, text: str) -> bool:
    """Whether the fast path can take ``text`` as a value of ``kind``. A value starting
    with ``-`` is left to typer; so is a path typer would refuse to read."""
    if kind is None or text.startswith("-"):
        return False
    if not kind.startswith("path"):
        return True
    from pathlib import Path

    return not Path(text).exists() or os.access(text, os.R_OK)


def parse(spec: tuple[Any, ...], args: Sequence[str]) -> dict[str, Any] | None:
    """The parameters ``args`` give, or None when the fast path must not take them."""
    _body, _options_class, options, arguments, required = spec
    values: dict[str, Any] = {}
    positionals: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in options:
            name, kind = options[arg]
            if kind == "flag":
                values[name] = True
            else:
                if i + 1 == len(args) or not _takes(kind, args[i + 1]):
                    return None
                i += 1
                value = _value(kind, args[i])
                if kind.endswith("*"):
                    values.setdefault(name, []).append(value)
                else:
                    values[name] = value
        elif arg.startswith("-"):
            return None
        else:
            positionals.append(arg)
        i += 1
    for name, nargs, kind in arguments:
        if nargs == -1:
            taken, positionals = positionals, []
        else:
            taken, positionals = positionals[:nargs], positionals[nargs:]
        if not taken:
            continue
        if not all(_takes(kind, t) for t in taken):
            return None
        converted = [_value(kind, t) for t in taken]
        values[name] = converted if nargs != 1 else converted[0]
    if positionals or any(r not in values for r in required):
        return None
    return values


def _columns() -> int:
    """The terminal width click lays help out for (``shutil.get_terminal_size``'s rule,
    without importing shutil)."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            stdout: Any = sys.__stdout__  # None when Python runs without one
            columns = os.get_terminal_size(stdout.fileno()).columns or 80
        except (AttributeError, ValueError, OSError):
            columns = 80
    return columns


def run_fast(args: Sequence[str]) -> int | None:
    """Run ``args`` (mlstack's argv) here if the table takes that form; None if typer
    must. ``-q`` may stand anywhere, as typer's path allows; ``-v`` goes to typer."""
    if list(args) in ([], ["--help"]) and _columns() >= 80:  # click's max
        sys.stdout.write(ROOT_HELP)  # generated from the declaration: what typer prints
        sys.stdout.flush()
        return 0  # ExitCode.OK, without importing core.errors' enum on this path
    words = [a for a in args if a not in QUIET]
    for command, spec in FAST.items():
        if tuple(words[: len(command)]) == command:
            values = parse(spec, words[len(command):])
            if values is None:
                return None
            from mlstack_env.cli.progress import set_quiet

            set_quiet(len(words) < len(args))
            body = _load(spec[0])
            if spec[1] is not None:  # the body takes one object of its options
                return int(body(_load(spec[1])(**values)))
            return int(body(**values))
    return None


def _load(dotted: str) -> Any:
    """``module.name`` under mlstack_env.cli."""
    module, name = dotted.rsplit(".", 1)
    return getattr(__import__(f"mlstack_env.cli.{module}", fromlist=[name]), name)

"""Writes ``cli/fastspec.py``, the fast path's table, from the one declaration of each
command (its typer parameters, or its options class, :mod:`mlstack_env.cli.options`).

    python -m mlstack_env.cli.fastgen        # rewrite mlstack_env/cli/fastspec.py

The commands in :data:`FAST_BODIES` are the ones whose benchmark shows typer's import
(35-60 ms) is most of their time (docs/performance.md). For each, the table lists every
spelling of every option typer declares for it, with the parameter it sets and how its
value converts, and the options class its body takes (the one the typer command was
declared with, :func:`mlstack_env.cli.signature.takes`), if any; an option whose value
typer checks beyond that (a path that must be a file or a directory) is left out, so
the fast path hands it to typer. A test checks that the written file is what this module
generates now, so an option added to a command is either in the table or the test fails.
"""

from __future__ import annotations

import pprint
import sys
from pathlib import Path
from typing import Any

from mlstack_env.cli.app import full_command
from mlstack_env.core.errors import ExitCode

# Command words -> its typer-free body, ``module.function`` under mlstack_env.cli (it
# takes the command's parameters, or the one object of its options class).
FAST_BODIES: dict[tuple[str, ...], str] = {
    ("env", "create"): "lean.env_create",
    ("env", "list"): "lean.env_list",
    ("env", "info"): "lean.env_info",
    ("profile", "list"): "lean.profile_list",
    ("lock",): "lean.lock",
    ("diff",): "diff_results.diff",
    ("tree",): "tree_results.tree",
}

HELP_WIDTH = 80  # click's help is never wider

HEADER = '''"""The fast path's table, generated from the typer declaration by
``python -m mlstack_env.cli.fastgen``: do not edit (a test checks it is current).

Command words -> (body, options class, options, arguments, required parameters); the
body is ``module.function`` under mlstack_env.cli; with an options class (``module.Class``,
else None) it takes one object of it, else the parameters as keywords.
Options: spelling -> (parameter, kind); arguments: (parameter, nargs, kind) in order.
Kinds: "flag" (no value), "str", "path", and "str*"/"path*" (repeatable).
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs an import on the fast path; mypy reads it
if TYPE_CHECKING:
    from typing import Any

'''


def kind(param: Any) -> str | None:
    """How the fast path converts ``param``'s value, or None when it must not take it."""
    if getattr(param, "is_flag", False):
        return "flag" if not param.secondary_opts and param.default is False else None
    name = type(param.type).__name__
    if name == "StringParamType":
        base = "str"
    elif name == "TyperPath":
        t = param.type
        plain = (not t.exists and t.file_okay and t.dir_okay and not t.writable
                 and not t.resolve_path and not t.allow_dash)
        if not plain:
            return None
        base = "path"
    else:
        return None
    return base + "*" if param.multiple or param.nargs == -1 else base


def spec(command: Any, body: str) -> tuple[Any, ...]:
    options: dict[str, tuple[str, str]] = {}
    arguments: list[tuple[str, int, str | None]] = []
    required: list[str] = []
    for param in command.params:
        if param.required:
            required.append(param.name)
        k = kind(param)
        if param.param_type_name == "argument":
            arguments.append((param.name, param.nargs, k))
        elif k is not None:
            for opt in param.opts:
                options[opt] = (param.name, k)
    return body, options_class(command), options, tuple(arguments), tuple(required)


def options_class(command: Any) -> str | None:
    """``module.Class`` of the options class ``command`` was declared with, or None."""
    cls = getattr(command.callback, "options", None)
    if cls is None:
        return None
    return f"{cls.__module__.removeprefix('mlstack_env.cli.')}.{cls.__qualname__}"


def command_at(words: tuple[str, ...]) -> Any:
    command = full_command()
    for word in words:
        command = command.commands[word]
    return command


def root_help() -> str:
    """What ``mlstack --help`` prints on a terminal at least 80 columns wide (click lays
    help out at ``min(columns, 80) - 2``)."""
    from typer import _click

    command = full_command()
    text: str = command.get_help(_click.Context(command, info_name="mlstack",
                                                terminal_width=HELP_WIDTH - 2))
    return text + "\n"


def source() -> str:
    table = {words: spec(command_at(words), body) for words, body in FAST_BODIES.items()}
    text = pprint.pformat(table, width=90, sort_dicts=False)
    help_lines = "\n".join(f"    {line!r}" for line in root_help().splitlines(keepends=True))
    return (f"{HEADER}FAST: dict[tuple[str, ...], tuple[Any, ...]] = {text}\n\n"
            f"# `mlstack --help` at {HELP_WIDTH} columns or more.\n"
            f"ROOT_HELP = (\n{help_lines}\n)\n")


def main() -> int:
    target = Path(__file__).with_name("fastspec.py")
    target.write_text(source(), encoding="utf-8")
    sys.stdout.write(f"wrote {target}\n")
    return ExitCode.OK


if __name__ == "__main__":
    sys.exit(main())

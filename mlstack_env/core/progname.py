"""The program name as the user invoked it: the one home for the ``mlstack`` that hints
and printed commands show, so that a pasted hint runs.

``mlstack`` when the command found on PATH is this one; else the path it was run by
(``.venv/bin/mlstack`` after the README's quick start, which puts nothing on PATH), made
absolute so that it also runs from another directory.
"""

from __future__ import annotations

import os
import re
import sys
from functools import cache
from pathlib import Path

NAME = "mlstack"
# `mlstack` as a command word in text mlstack wrote: not mlstack.toml, mlstack's,
# MLSTACK_HOME, a path ending in /mlstack or a word such as mlstack-env. Compiled on first
# use (re's cache), not at import: most commands name no mlstack command.
_WORD = r"(?<![\w./-])mlstack(?= [a-z_-])"


@cache
def prog() -> str:
    """The name to print where a command is meant to be pasted (module docstring)."""
    argv0 = sys.argv[0] if sys.argv else ""
    if Path(argv0).name != NAME:  # `python -m mlstack_env`, in-process callers
        return NAME
    if os.sep not in argv0:
        return NAME  # found on PATH by the shell
    on_path = _which(NAME)
    if on_path and os.path.realpath(on_path) == os.path.realpath(argv0):
        return NAME
    return str(Path(argv0).absolute())


def _which(command: str) -> str | None:
    """``shutil.which(command)`` on POSIX, without importing shutil (and the zlib, bz2 and
    lzma it loads: 1.5 ms of every command that prints a hint): the first executable file
    of that name in a folder of PATH."""
    path = os.environ.get("PATH")
    if path is None:
        try:
            path = os.confstr("CS_PATH")
        except (AttributeError, ValueError):
            path = os.defpath
    if not path:
        return None
    seen: set[str] = set()
    for folder in os.fsdecode(path).split(os.pathsep):
        if folder in seen:
            continue
        seen.add(folder)
        candidate = Path(folder, command)
        if candidate.exists() and os.access(candidate, os.F_OK | os.X_OK) \
                and not candidate.is_dir():
            return str(candidate)
    return None


def commands(text: str) -> str:
    """``text`` with each ``mlstack`` command word replaced by :func:`prog`."""
    name = prog()
    if name == NAME:
        return text
    return re.sub(_WORD, lambda _m: name, text)

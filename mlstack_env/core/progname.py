"""The program name as the user invoked it: the one home for the ``mlstack`` that hints
and printed commands show, so that a pasted hint runs.

``mlstack`` when the command found on PATH is this one; else the path it was run by
(``.venv/bin/mlstack`` after the README's quick start, which puts nothing on PATH), made
absolute so that it also runs from another directory.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from functools import cache
from pathlib import Path

NAME = "mlstack"
# `mlstack` as a command word in text mlstack wrote: not mlstack.toml, mlstack's,
# MLSTACK_HOME, a path ending in /mlstack or a word such as mlstack-env.
_WORD = re.compile(r"(?<![\w./-])mlstack(?= [a-z_-])")


@cache
def prog() -> str:
    """The name to print where a command is meant to be pasted (module docstring)."""
    argv0 = sys.argv[0] if sys.argv else ""
    if Path(argv0).name != NAME:  # `python -m mlstack_env`, in-process callers
        return NAME
    if os.sep not in argv0:
        return NAME  # found on PATH by the shell
    on_path = shutil.which(NAME)
    if on_path and os.path.realpath(on_path) == os.path.realpath(argv0):
        return NAME
    return str(Path(argv0).absolute())


def commands(text: str) -> str:
    """``text`` with each ``mlstack`` command word replaced by :func:`prog`."""
    name = prog()
    if name == NAME:
        return text
    return _WORD.sub(lambda _m: name, text)

"""Starting the user's own shell with an env active (``mlstack env shell``): which shell,
and the argv and environment that make it activate the env after its own start-up file.

The wrappers the shells read live in ``activation/shell/`` (bashrc, zsh/.zshrc, shrc).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from mlstack_env.activation.scripts import ACTIVATE_FISH, ACTIVATE_SH, fish_quote
from mlstack_env.core.errors import UsageError

SHELLS = ("bash", "zsh", "sh", "fish")
# Shells that read POSIX sh and, when interactive, the file named by $ENV.
_SH_LIKE = frozenset({"sh", "dash", "ash", "ksh", "ksh93", "mksh", "posh", "busybox"})
WRAPPERS = Path(__file__).parent / "shell"


def shell_kind(program: str) -> str | None:
    """``bash``, ``zsh``, ``sh`` or ``fish`` for a shell's path or name; None if unknown."""
    base = Path(program).name
    if base in ("bash", "zsh", "fish"):
        return base
    return "sh" if base in _SH_LIKE else None


def user_shell() -> tuple[str, str]:
    """The program and kind of the user's shell: ``$SHELL``, else bash, else sh."""
    value = os.environ.get("SHELL", "")
    if not value:
        found = shutil.which("bash")
        return (found, "bash") if found else ("/bin/sh", "sh")
    kind = shell_kind(value)
    if kind is None:
        raise UsageError(
            f"cannot start an env shell for SHELL={value}",
            hint="mlstack knows bash, zsh, sh and fish; set SHELL to one of them, or use "
            "`mlstack env run NAME -- CMD`",
        )
    program = value if os.sep in value else shutil.which(value)
    if not program or not Path(program).is_file():
        raise UsageError(f"SHELL={value} does not exist",
                         hint="set SHELL to an installed bash, zsh, sh or fish")
    return program, kind


def shell_command(
    program: str, kind: str, gen: Path, environ: Mapping[str, str]
) -> tuple[list[str], dict[str, str]]:
    """argv and environment that start ``program`` with ``gen`` active.

    The shell activates the env itself, after the user's own start-up file, so the
    variables are saved and restored like any ``source bin/activate`` and nothing the
    user's rc file sets can push the env's bin off the front of PATH.
    """
    env = dict(environ)
    activate = str(gen / ACTIVATE_SH)
    if kind == "fish":
        source = "source " + fish_quote(str(gen / ACTIVATE_FISH))
        return [program, "--init-command", source], env
    env["_MLSTACK_ACTIVATE"] = activate
    if kind == "bash":
        return [program, "--rcfile", str(WRAPPERS / "bashrc"), "-i"], env
    if kind == "zsh":
        _stash(env, "ZDOTDIR", "_MLSTACK_USER_ZDOTDIR")
        env["ZDOTDIR"] = str(WRAPPERS / "zsh")
        return [program, "-i"], env
    _stash(env, "ENV", "_MLSTACK_USER_ENV")
    env["ENV"] = str(WRAPPERS / "shrc")
    return [program, "-i"], env


def _stash(env: dict[str, str], name: str, keep: str) -> None:
    """Move the user's ``name`` to ``keep``, for the wrapper to put back."""
    if name in env:
        env[keep] = env.pop(name)
    else:
        env.pop(keep, None)

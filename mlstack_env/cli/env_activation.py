"""``mlstack env activate``, ``env shell`` and the ``env run`` help entry.

For the env group's owner (``cli/env.py``): call ``env_activation.register(env_app)``
once, after creating ``env_app``; it adds three commands to the group:

- ``activate [NAME] [--shell bash|zsh|sh|fish]`` prints the env's activation script, for
  ``eval "$(mlstack env activate NAME)"`` (fish: ``… --shell fish | source``).
- ``shell [NAME]`` replaces mlstack with the user's ``$SHELL``, the env active in it.
- ``run`` only for ``--help`` and ``mlstack env --help``: ``cli.main`` sends every other
  ``env run`` straight to :func:`mlstack_env.cli.run.run_fast`, before typer loads.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import typer

from mlstack_env.activation.data import load_env_json
from mlstack_env.activation.lookup import current_generation, default_env_name, require_python
from mlstack_env.activation.scripts import ACTIVATE_FISH, ACTIVATE_SH, fish_quote
from mlstack_env.errors import MlstackError

SHELLS = ("bash", "zsh", "sh", "fish")
# Shells that read POSIX sh and, when interactive, the file named by $ENV.
_SH_LIKE = frozenset({"sh", "dash", "ash", "ksh", "ksh93", "mksh", "posh", "busybox"})
WRAPPERS = Path(__file__).parent.parent / "activation" / "shell"


def register(env_app: typer.Typer) -> None:
    env_app.command("activate")(activate)
    env_app.command("shell")(shell)
    register_run(env_app)


def register_run(app: typer.Typer) -> None:
    """``run`` on ``app`` (the env group, or the top level for ``mlstack run``)."""
    app.command(
        "run",
        add_help_option=False,
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )(run)


def register_top_level(app: typer.Typer, command: str) -> None:
    """``mlstack run`` and ``mlstack shell``: short forms of ``env run`` / ``env shell``."""
    if command == "run":
        register_run(app)
    else:
        app.command("shell")(shell)


def shell_kind(program: str) -> str | None:
    """``bash``, ``zsh``, ``sh`` or ``fish`` for a shell's path or name; None if unknown."""
    base = Path(program).name
    if base in ("bash", "zsh", "fish"):
        return base
    return "sh" if base in _SH_LIKE else None


def activate(
    name: Annotated[
        str | None,
        typer.Argument(help="The env (default: the project's default-env, else the only env)."),
    ] = None,
    shell: Annotated[
        str | None,
        typer.Option("--shell", metavar="bash|zsh|sh|fish",
                     help="The shell to write for (default: from $SHELL, else bash)."),
    ] = None,
) -> None:
    """Print the env's activation script, for eval: eval "$(mlstack env activate [NAME])".

    fish: mlstack env activate NAME --shell fish | source. `deactivate` leaves it.
    """
    if shell is None:
        kind = shell_kind(os.environ.get("SHELL", "")) or "bash"
    elif shell in SHELLS:
        kind = shell
    else:
        raise MlstackError(f"unknown shell {shell!r}",
                           hint=f"use --shell {', '.join(SHELLS[:-1])} or {SHELLS[-1]}")
    if name is None:
        name = default_env_name("mlstack env activate NAME")
    gen = current_generation(name)
    require_python(name, gen, load_env_json(gen).venv)
    script = gen / (ACTIVATE_FISH if kind == "fish" else ACTIVATE_SH)
    try:
        text = script.read_text(encoding="utf-8")
    except OSError as e:
        raise MlstackError(f"cannot read {script}: {e.strerror}",
                           hint=f"recreate the env: mlstack env create --name {name}") from e
    sys.stdout.write(text)
    sys.stdout.flush()


def shell(
    name: Annotated[
        str | None,
        typer.Argument(help="The env (default: the project's default-env, else the only env)."),
    ] = None,
) -> None:
    """Start your $SHELL (bash, zsh, sh or fish) with the env active; `exit` leaves it."""
    if name is None:
        name = default_env_name()
    gen = current_generation(name)
    require_python(name, gen, load_env_json(gen).venv)
    program, kind = user_shell()
    argv, env = shell_command(program, kind, gen, os.environ)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execve(program, argv, env)  # noqa: S606 - the shell replaces mlstack
    except OSError as e:
        raise MlstackError(f"cannot start {program}: {e.strerror}",
                           hint="set SHELL to an installed bash, zsh, sh or fish") from e


def run(ctx: typer.Context) -> int:
    """Run a command in an env, without a shell: mlstack env run [NAME] [--] CMD [ARGS...].

    The command's exit status and signals pass through.
    """
    from mlstack_env.cli.run import run_fast

    return run_fast(list(ctx.args))


def user_shell() -> tuple[str, str]:
    """The program and kind of the user's shell: ``$SHELL``, else bash, else sh."""
    value = os.environ.get("SHELL", "")
    if not value:
        found = shutil.which("bash")
        return (found, "bash") if found else ("/bin/sh", "sh")
    kind = shell_kind(value)
    if kind is None:
        raise MlstackError(
            f"cannot start an env shell for SHELL={value}",
            hint="mlstack knows bash, zsh, sh and fish; set SHELL to one of them, or use "
            "`mlstack env run NAME -- CMD`",
        )
    program = value if os.sep in value else shutil.which(value)
    if not program or not Path(program).is_file():
        raise MlstackError(f"SHELL={value} does not exist",
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

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
import sys
from pathlib import Path
from typing import Annotated

import typer

from mlstack_env.activation.data import load_env_json
from mlstack_env.activation.scripts import ACTIVATE_FISH, ACTIVATE_SH
from mlstack_env.activation.shells import SHELLS, shell_command, shell_kind, user_shell
from mlstack_env.core.errors import StoreError, UsageError
from mlstack_env.store.lookup import (
    current_generation,
    default_env_name,
    lock_stamp_changed,
    require_python,
)


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
        raise UsageError(f"unknown shell {shell!r}",
                         hint=f"use --shell {', '.join(SHELLS[:-1])} or {SHELLS[-1]}")
    if name is None:
        name = default_env_name("mlstack env activate NAME")
    gen = current_generation(name)
    require_python(name, gen, load_env_json(gen).venv)
    script = gen / (ACTIVATE_FISH if kind == "fish" else ACTIVATE_SH)
    try:
        # newline="": no newline translation on reading, which would turn a CR inside a
        # quoted value into a newline, and eval would set another value than `source
        # bin/activate` does.
        with script.open(encoding="utf-8", newline="") as f:
            text = f.read()
    except OSError as e:
        raise StoreError(f"cannot read {script}: {e.strerror}",
                         hint=f"recreate the env: mlstack env create --name {name}") from e
    sys.stdout.write(text)
    sys.stdout.flush()


def shell(
    name: Annotated[
        str | None,
        typer.Argument(help="The env (default: the project's default-env, else the only env)."),
    ] = None,
    frozen: Annotated[bool, typer.Option(
        "--frozen", help="Refuse an env behind its lock instead of syncing it.")] = False,
    no_sync: Annotated[bool, typer.Option(
        "--no-sync", help="Use an env behind its lock as it is.")] = False,
) -> None:
    """Start your $SHELL (bash, zsh, sh or fish) with the env active; `exit` leaves it."""
    if name is None:
        name = default_env_name()
    gen = current_generation(name)
    lock = lock_stamp_changed(str(gen))
    if lock is not None:  # like `env run`: an env behind its lock is synced first
        from mlstack_env.cli.run import FROZEN, NO_SYNC, SYNC, synced

        gen = Path(synced(name, str(gen), lock, FROZEN if frozen else
                          NO_SYNC if no_sync else SYNC))
    require_python(name, gen, load_env_json(gen).venv)
    program, kind = user_shell()
    argv, env = shell_command(program, kind, gen, os.environ)
    from mlstack_env.cli.run import hold

    # The shell and every program started in it inherit the lease: `env remove` keeps
    # the generation and gc its store entry while any of them lives (issue 21).
    hold(gen, name)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execve(program, argv, env)  # noqa: S606 - the shell replaces mlstack
    except OSError as e:
        raise UsageError(f"cannot start {program}: {e.strerror}",
                         hint="set SHELL to an installed bash, zsh, sh or fish") from e


def run(ctx: typer.Context) -> int:
    """Run a command in an env, without a shell: mlstack env run [NAME] [--] CMD [ARGS...].

    The command's exit status and signals pass through.
    """
    from mlstack_env.cli.run import run_fast

    return run_fast(list(ctx.args))

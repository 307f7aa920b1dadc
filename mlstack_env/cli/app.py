"""The typer app: global options and the command groups. Commands only parse and render."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from typing import Annotated, Any

import typer

from mlstack_env import __version__
from mlstack_env.cli.helptext import epilog


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mlstack {__version__}")
        raise typer.Exit(0)


def _root(
    verbose: Annotated[
        bool, typer.Option("-v", "--verbose", help="Show tracebacks and uv's command lines.")
    ] = False,
    quiet: Annotated[
        bool, typer.Option("-q", "--quiet", help="No progress or notes; errors only.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Reproducible ML environments for AMD GPUs (ROCm)."""
    from mlstack_env.cli.progress import set_quiet

    set_quiet(quiet)
    if verbose:
        import logging

        logging.basicConfig(level=logging.DEBUG, format="%(name)s: %(message)s")


def _init(app: typer.Typer) -> None:
    from mlstack_env.cli import init

    init.register(app)


def _detect(app: typer.Typer) -> None:
    from mlstack_env.cli import detect

    detect.register(app)


def _profile(app: typer.Typer) -> None:
    from mlstack_env.cli import profile

    profile.register(app)


def _lock(app: typer.Typer) -> None:
    from mlstack_env.cli import lock

    lock.register(app)


def _env(app: typer.Typer) -> None:
    from mlstack_env.cli import env

    app.add_typer(env.env_app, name="env")


def _run(app: typer.Typer) -> None:
    from mlstack_env.cli import env_activation

    env_activation.register_top_level(app, "run")


def _sync(app: typer.Typer) -> None:
    from mlstack_env.cli import sync

    sync.register(app)


def _shell(app: typer.Typer) -> None:
    from mlstack_env.cli import env_activation

    env_activation.register_top_level(app, "shell")


def _add(app: typer.Typer) -> None:
    from mlstack_env.cli import add

    add.register(app)


def _diff(app: typer.Typer) -> None:
    from mlstack_env.cli import diff

    diff.register(app)


def _tree(app: typer.Typer) -> None:
    from mlstack_env.cli import tree

    tree.register(app)


def _cache(app: typer.Typer) -> None:
    from mlstack_env.cli import cache

    app.add_typer(cache.cache_app, name="cache")


def _bundle(app: typer.Typer) -> None:
    from mlstack_env.cli import bundle

    bundle.register(app)


def _gc(app: typer.Typer) -> None:
    from mlstack_env.cli import env

    env.register_gc(app)


def _export(app: typer.Typer) -> None:
    from mlstack_env.cli import export

    export.register(app)


def _doctor(app: typer.Typer) -> None:
    from mlstack_env.cli import doctor

    doctor.register(app)


def _system(app: typer.Typer) -> None:
    from mlstack_env.cli import system

    system.register(app)


def _completion(app: typer.Typer) -> None:
    @app.command("completion")
    def completion_cmd(
        shell: Annotated[str, typer.Argument(
            metavar="SHELL", help="bash, zsh or fish.")],
    ) -> None:
        """Print a completion script for SHELL: commands, options, env and profile names,
        targets."""
        from mlstack_env.cli.completion import SHELLS, script, table_of
        from mlstack_env.errors import MlstackError

        if shell not in SHELLS:
            raise MlstackError(f"no completion for shell {shell!r}",
                               hint=f"choose one of: {', '.join(SHELLS)}")
        typer.echo(script(shell, table_of(click_command(build_app()))), nl=False)


# Command name -> how to register it, in the order `mlstack --help` lists them. Each
# command imports its own module only when it runs, so `mlstack env list` does not pay
# for the resolver, the doctor's checks and the system catalog.
COMMANDS: dict[str, Callable[[typer.Typer], None]] = {
    "init": _init,
    "detect": _detect,
    "profile": _profile,
    "lock": _lock,
    "add": _add,
    "remove": _add,
    "diff": _diff,
    "env": _env,
    "sync": _sync,
    "run": _run,
    "shell": _shell,
    "tree": _tree,
    "bundle": _bundle,
    "gc": _gc,
    "cache": _cache,
    "export": _export,
    "doctor": _doctor,
    "system": _system,
    "completion": _completion,
}


def command_for(args: Sequence[str]) -> Any:
    """The click command tree for ``args`` (:func:`build_app`, :func:`click_command`),
    built once per process for each command: typer reads every option's signature to
    build it (10-30 ms), and a process that runs mlstack more than once (a test, a tool
    embedding it) need not pay that each time."""
    command = next((a for a in args if not a.startswith("-")), None)
    return _command_for(command if command in COMMANDS else None)


@cache
def _command_for(command: str | None) -> Any:
    return click_command(build_app([command] if command else []))


def build_app(args: Sequence[str] = ()) -> typer.Typer:
    """The app with the command ``args`` names registered, or all of them (for help and
    for suggestions when the command is unknown)."""
    app = typer.Typer(
        name="mlstack",
        help="Reproducible ML environments for AMD GPUs (ROCm).",
        no_args_is_help=True,
        add_completion=False,
        epilog=epilog(("mlstack detect", "mlstack env create minimal",
                       "mlstack env shell minimal")),
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
    )
    app.callback()(_root)
    command = next((a for a in args if not a.startswith("-")), None)
    wanted = [command] if command in COMMANDS else list(COMMANDS)
    for name in wanted:
        COMMANDS[name](app)
    return app


def click_command(app: typer.Typer) -> Any:
    """The click command tree of ``app``, with each command's summary and examples."""
    from mlstack_env.cli.helptext import apply

    command = typer.main.get_command(app)
    apply(command)
    return command

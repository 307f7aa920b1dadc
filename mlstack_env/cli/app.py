"""The typer app: global options and the command groups. Commands only parse and render."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from mlstack_env import __version__
from mlstack_env.cli.helptext import epilog
from mlstack_env.core.errors import ExitCode


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mlstack {__version__}")
        raise typer.Exit(ExitCode.OK)


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
        from mlstack_env.core.errors import UsageError

        if shell not in SHELLS:
            raise UsageError(f"no completion for shell {shell!r}",
                             hint=f"choose one of: {', '.join(SHELLS)}")
        typer.echo(script(shell, table_of(full_command())), nl=False)


# The one declaration of mlstack's commands: name -> how to register it, in the order
# `mlstack --help` lists them (commands, then groups, as typer lists them). The root
# group (:class:`LazyGroup`) loads a command's module only when that command runs or its
# own help is asked for; `mlstack --help` takes each summary from ``helptext.HELP``.
COMMANDS: dict[str, Callable[[typer.Typer], None]] = {
    "init": _init,
    "detect": _detect,
    "lock": _lock,
    "add": _add,
    "remove": _add,
    "diff": _diff,
    "sync": _sync,
    "run": _run,
    "shell": _shell,
    "tree": _tree,
    "bundle": _bundle,
    "gc": _gc,
    "export": _export,
    "doctor": _doctor,
    "completion": _completion,
    "profile": _profile,
    "env": _env,
    "cache": _cache,
    "system": _system,
}


class LazyGroup(TyperGroup):
    """The root group: the commands of :data:`COMMANDS`, each built on first use (click's
    "lazily loading subcommands" pattern), so a command loads its own module only."""

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            self.commands[cmd_name] = _load(cmd_name)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """The command list from the summaries alone: no command module loads."""
        from mlstack_env.cli.helptext import HELP

        rows = [(name, HELP[name][0] if name in HELP else
                 self.get_command(ctx, name).get_short_help_str(formatter.width))
                for name in COMMANDS]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if args and args[0] not in COMMANDS:  # typer suggests from the loaded commands
            for name in COMMANDS:
                self.get_command(ctx, name)
        return super().resolve_command(ctx, args)


def _load(name: str) -> Any:
    """The click command ``name``, with its summary and examples."""
    from mlstack_env.cli.helptext import apply

    app = typer.Typer(rich_markup_mode=None)
    COMMANDS[name](app)
    group = typer.main.get_group(app)
    apply(group)
    return group.commands[name]


@cache
def command_for() -> Any:
    """The root click group (:class:`LazyGroup`), built once per process: a process that
    runs mlstack more than once (a test, a tool embedding it) keeps each command it
    loaded (typer reads every option's signature to build one, 10-30 ms)."""
    return click_command(build_app())


def full_command() -> Any:
    """The root group with every command loaded (completion scripts, help checks)."""
    group = command_for()
    for name in COMMANDS:
        group.get_command(None, name)
    return group


def build_app() -> typer.Typer:
    """The typer app: global options and the lazily loaded commands (:class:`LazyGroup`)."""
    app = typer.Typer(
        name="mlstack",
        cls=LazyGroup,
        help="Reproducible ML environments for AMD GPUs (ROCm).",
        no_args_is_help=True,
        add_completion=False,
        epilog=epilog(("mlstack detect", "mlstack env create minimal",
                       "mlstack env shell minimal")),
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
    )
    app.callback()(_root)
    return app


def click_command(app: typer.Typer) -> Any:
    """The click command tree of ``app``, with each command's summary and examples."""
    from mlstack_env.cli.helptext import apply

    command = typer.main.get_command(app)
    apply(command)
    return command

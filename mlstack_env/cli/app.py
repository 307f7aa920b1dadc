"""The typer app: global options and the command groups. Commands only parse and render."""

from __future__ import annotations

from typing import Annotated

import typer

from mlstack_env import __version__

app = typer.Typer(
    name="mlstack",
    help="Reproducible ML environments for AMD GPUs (ROCm).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mlstack {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    verbose: Annotated[
        bool, typer.Option("-v", "--verbose", help="Show tracebacks and uv's command lines.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Reproducible ML environments for AMD GPUs (ROCm)."""
    if verbose:
        import logging

        logging.basicConfig(level=logging.DEBUG, format="%(name)s: %(message)s")


def _register() -> None:
    from mlstack_env.cli import detect

    detect.register(app)
    from mlstack_env.cli import env

    app.add_typer(env.env_app, name="env")
    env.register_gc(app)
    from mlstack_env.cli import system
    system.register(app)
    from mlstack_env.cli import doctor
    doctor.register(app)
    from mlstack_env.cli import profile
    profile.register(app)
    from mlstack_env.cli import lock
    lock.register(app)


_register()

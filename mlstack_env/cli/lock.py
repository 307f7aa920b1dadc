"""``mlstack lock``: resolve profiles x targets into mlstack.lock (or check it is fresh).
Its options are declared once, :class:`~mlstack_env.cli.options.LockOptions`."""

from __future__ import annotations

import typer

from mlstack_env.cli import lean
from mlstack_env.cli.lock_results import LockResult
from mlstack_env.cli.options import LockOptions
from mlstack_env.cli.signature import takes

__all__ = ["LockResult", "register"]


def register(app: typer.Typer) -> None:
    @app.command("lock")
    @takes(LockOptions)
    def lock_cmd(options: LockOptions) -> int:
        """Resolve profiles x targets into a hash-pinned lock (mlstack.lock)."""
        return lean.lock(options)

"""The ``mlstack`` command line. Its entry point, ``mlstack_env.cli:main`` (the console
script), is :func:`mlstack_env.cli.entry.main`; nothing here takes a name from a
submodule but that one, so no submodule imports this package back."""

from __future__ import annotations

from mlstack_env.cli.entry import main

__all__ = ["main"]

"""Where a project is: the one walk upward from a directory to ``mlstack.toml``, and the
one read of that file.

A project is the nearest directory, from the working one upward, that holds
``mlstack.toml`` (:func:`find_manifest`); every command finds it here, through
``manifest/project.py`` (which checks the file) or directly where a command must not
check it (``env run``'s hot path, ``mlstack diff`` while the manifest is broken, a TAB).
:func:`read_manifest` is the file's table and text, read by ``core/userfile.py``'s TOML
reader (``manifest/project.py`` checks it; a TAB takes names from it unchecked).
Strings and ``os.path`` at import: ``env run`` imports this, and ``pathlib`` is a cost
there.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # no typing import on the hot path; mypy reads the name
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

    StrPath = str | os.PathLike[str]

MANIFEST_NAME = "mlstack.toml"


def find_upward(start: StrPath, names: tuple[str, ...]) -> str | None:
    """The nearest directory, ``start`` first and then its parents, holding a regular file
    named one of ``names``; None at the root."""
    directory = os.path.abspath(start)
    while True:
        if any(os.path.isfile(os.path.join(directory, name)) for name in names):
            return directory
        parent = os.path.dirname(directory)
        if parent == directory:
            return None
        directory = parent


def find_manifest(start: StrPath) -> str | None:
    """The project's ``mlstack.toml`` for ``start`` (the nearest upward), or None."""
    directory = find_upward(start, (MANIFEST_NAME,))
    return None if directory is None else os.path.join(directory, MANIFEST_NAME)


def is_project_dir(directory: StrPath) -> bool:
    """Whether ``directory`` holds a project's ``mlstack.toml``."""
    return os.path.isfile(os.path.join(directory, MANIFEST_NAME))


def read_manifest(manifest: Path, edited: str | None = None) -> tuple[dict[str, Any], str]:
    """``mlstack.toml``'s table and text, unchecked: the one reader of the file; with
    ``edited``, that text as the file would hold it (an edit checked before it is written)."""
    from mlstack_env.core import userfile
    from mlstack_env.core.errors import ManifestError

    if edited is not None:
        table = userfile.parse_toml(edited, manifest, userfile.TOML_HINT, kind=ManifestError)
        return table, edited
    try:
        return userfile.read_toml(manifest, kind=ManifestError)
    except FileNotFoundError:
        raise ManifestError(f"cannot read {manifest}: no such file",
                            "check the path and its permissions") from None

"""The ``pip`` every store entry carries: refuses to change the env, answers read-only
questions (``pip list``/``freeze``/``show``) about it. See ``pip_shim_main.py`` and
docs/activation.md ("pip inside an env").

The scripts are not in any wheel's RECORD, so ``env verify`` (which checks installed
distributions against their RECORD) neither counts nor flags them.
"""

from __future__ import annotations

from pathlib import Path

# Run by the env's own python, found next to the script wherever the store entry is (uv's
# relocatable venvs use the same two lines): sh runs the `exec`, python sees a string.
PRELUDE = """#!/bin/sh
'''exec' "$(dirname -- "$(realpath -- "$0")")"/'python' "$0" "$@"
' '''
"""

SOURCE = Path(__file__).with_name("pip_shim_main.py")


def shim_names(python: str) -> tuple[str, ...]:
    """``pip``, ``pip3``, ``pip3.12`` for an env on Python 3.12."""
    return ("pip", "pip3", f"pip{python}")


def write_pip_shims(venv: Path, python: str) -> list[Path]:
    """Write the shims into ``venv/bin`` (executable, following the umask)."""
    text = PRELUDE + SOURCE.read_text(encoding="utf-8")
    from mlstack_env.userfile import current_umask

    umask = current_umask()
    written = []
    for name in shim_names(python):
        path = venv / "bin" / name
        path.write_text(text, encoding="utf-8")
        path.chmod(0o777 & ~umask)
        written.append(path)
    return written

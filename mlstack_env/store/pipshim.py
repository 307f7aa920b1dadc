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


def write_pip_shims(venv: Path, python: str, locked: frozenset[str] = frozenset()
                    ) -> list[Path]:
    """Write the shims into ``venv/bin`` (executable, following the umask): ``pip``,
    ``pip3``, ``pip3.X``; ``uv``, refusing what would install into the env and handing the
    rest to the real uv; and ``pip/__main__.py`` in site-packages, so ``python -m pip``
    answers the same. A name the entry locks itself (``locked``: a profile that asks for
    pip or uv) keeps the package's own file: ``env verify`` checks those."""
    source = SOURCE.read_text(encoding="utf-8")
    text = PRELUDE + source
    from mlstack_env.core.userfile import current_umask

    umask = current_umask()
    written = []
    names = list(shim_names(python)) if "pip" not in locked else []
    names += ["uv"] if "uv" not in locked else []
    for name in names:
        path = venv / "bin" / name
        path.write_text(text, encoding="utf-8")
        path.chmod(0o777 & ~umask)
        written.append(path)
    site = next(iter(sorted(venv.glob("lib/python*/site-packages"))), None)
    if "pip" not in locked and site is not None:
        package = site / "pip"
        package.mkdir(exist_ok=True)
        for name, body in (("__init__.py", '"""mlstack\'s read-only pip (see __main__)."""\n'),
                           ("__main__.py", source)):
            (package / name).write_text(body, encoding="utf-8")
            (package / name).chmod(0o666 & ~umask)
            written.append(package / name)
    return written

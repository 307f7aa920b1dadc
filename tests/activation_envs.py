"""Hand-built generations for the activation tests: a fake venv and ``write_scripts``.

No store, no uv: a generation directory laid out as the store lays it out
(``envs/<name>/current -> gen-1``), whose venv is a directory with a ``bin/`` holding one
marker program, or a real ``python -m venv`` when a test needs a Python.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

from mlstack_env.activation.scripts import write_scripts

TOOL = "mlstack-test-tool"

#: Values no shell may expand or run: each would create a file named ``pwned`` (or
#: break the quoting) if it were not quoted right.
NASTY: dict[str, str] = {
    "EVIL_SUBST": "$(touch pwned)",
    "EVIL_BACKTICK": "`touch pwned`",
    "EVIL_SEMICOLON": "a; touch pwned; b",
    "EVIL_SINGLE": "it's '$(touch pwned)'",
    "EVIL_DOUBLE": 'say "$(touch pwned)" and "${HOME}"',
    "EVIL_BACKSLASH": "C:\\path\\to\\ \\' \\\\ \\n \\$(touch pwned)",
    "EVIL_FISH": "'; touch pwned; echo '\\'",
    "EVIL_NEWLINE": "line1\ntouch pwned\nline3\n",
    # a CR must stay a CR, through the scripts and through `eval "$(mlstack env activate)"`
    "EVIL_CR": "dos\r\nline\rtouch pwned\r",
    # terminal escapes: an OSC title and a colour, data like any other byte
    "EVIL_ESCAPE": "\x1b]0;pwned\x07\x1b[31mred\x1b[0m",
    "EVIL_SPACES": "  two  spaces\tand a tab  ",
    "EVIL_GLOB": "* ? [a-z] ~ ~root",
    "EVIL_DASH": "-e",
    "EVIL_PERCENT": "%s %n %d %%",
    "EVIL_UNICODE": "ünïcødé ☃ 日本語 \u200b",
    "EVIL_EMPTY": "",
    # fish splits variables named *PATH on ':' and joins them again on export
    "EVIL_SEARCH_PATH": "a:b::c $(touch pwned)",
    # text that looks like the templates' own placeholders must stay text
    "EVIL_PLACEHOLDER": "{{ EXPORT }} {{ RESTORE }} {{ NOPE }}",
}

#: The HIP/ROCm variables an env on a Radeon would carry (ROCM-FACTS §6).
ROCM: dict[str, str] = {
    "HSA_OVERRIDE_GFX_VERSION": "11.0.0",
    "HIP_VISIBLE_DEVICES": "0,1",
    "PYTORCH_ROCM_ARCH": "gfx90a;gfx942",
    "ROCM_PATH": "/opt/rocm-6.4.0",
    "MIOPEN_FIND_MODE": "2",
}

VARIABLES = {**ROCM, **NASTY}


def fake_venv(path: Path) -> Path:
    """A directory shaped like a venv: ``bin/`` with one program that names its venv."""
    bin_dir = path / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    tool = bin_dir / TOOL
    tool.write_text("#!/bin/sh\necho from-the-venv\n")
    tool.chmod(0o755)
    # Every venv has its Python (`env run` refuses an env without one).
    if not (bin_dir / "python").is_symlink():
        (bin_dir / "python").symlink_to(sys.executable)
    return path


def real_venv(path: Path) -> Path:
    """A venv of the running Python (no pip: quick), for tests that run ``python``."""
    import venv

    venv.EnvBuilder(with_pip=False, symlinks=True).create(path)
    return path


def make_env(home: Path, name: str, variables: Mapping[str, str], venv: Path,
             generation: int = 1) -> Path:
    """``$MLSTACK_HOME/envs/<name>/gen-<N>`` with the activation files, made current."""
    env_dir = home / "envs" / name
    gen = env_dir / f"gen-{generation}"
    gen.mkdir(parents=True, exist_ok=True)
    write_scripts(gen, name=name, venv=venv, variables=variables)
    current = env_dir / "current"
    if current.is_symlink():
        current.unlink()
    current.symlink_to(gen.name)
    return gen


def shell_path(name: str) -> str | None:
    """The shell's program, or None when it is not installed (the test is skipped)."""
    return shutil.which(name)


def clean_environ(**extra: str) -> dict[str, str]:
    """The test's environment (already isolated by conftest) plus ``extra``."""
    env = dict(os.environ)
    env.update(extra)
    return env

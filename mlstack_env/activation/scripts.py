"""Activation scripts, one template file per shell, with placeholders filled and quoted.

:func:`write_scripts` writes, into a generation directory::

    bin/activate            bash, zsh and sh   (from templates/activate.sh.template)
    bin/activate.fish       fish               (from templates/activate.fish.template)
    mlstack-env.json        the same data for `env run` (see mlstack_env.activation.data)

Nothing written refers to ``gen_dir``'s own path, so a generation can be built in a
temporary directory and renamed into place. (``env shell``'s start-up wrappers are not
per generation: they ship in this package, under ``shell/``.)

Each placeholder ``{{ NAME }}`` is replaced by a value already quoted for the shell
that reads the file: sh-family values with :func:`shlex.quote` (POSIX single quotes),
fish values with fish's own single quotes (only ``\\`` and ``'`` are escaped there).
A value is never put anywhere else, so no value can be expanded or run. The per-variable
save / set / restore lines are generated, one line per variable, in sorted order.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Callable, Mapping
from pathlib import Path

from mlstack_env.activation.data import ENV_JSON, ActivationData
from mlstack_env.core import envvars
from mlstack_env.core.envname import validate_env_name
from mlstack_env.core.errors import BadValueError

TEMPLATES = Path(__file__).parent / "templates"

ACTIVATE_SH = Path("bin", "activate")
ACTIVATE_FISH = Path("bin", "activate.fish")

# Saved before activation and restored by `deactivate`, besides the env's variables
# (the prompt has its own lines in the templates).
_MANAGED = ("PATH", envvars.VIRTUAL_ENV, envvars.MLSTACK_ENV, "PYTHONHOME")


def sh_quote(value: str) -> str:
    """A POSIX sh word that is exactly ``value`` (bash, zsh, dash, ksh)."""
    return shlex.quote(value)


def fish_quote(value: str) -> str:
    """A fish word that is exactly ``value``: inside single quotes fish only knows
    ``\\\\`` and ``\\'``."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


_PLACEHOLDER = re.compile(r"\{\{ ([A-Z_]+) \}\}")


def render(template: str, values: Mapping[str, str]) -> str:
    """Fill ``{{ KEY }}`` placeholders in one pass, so text inside a value (which may be
    anything, ``{{ EXPORT }}`` included) is never read as a placeholder."""
    text = (TEMPLATES / template).read_text(encoding="utf-8")

    def fill(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise AssertionError(f"{template}: unfilled placeholder {key}")
        return values[key]

    return _PLACEHOLDER.sub(fill, text)


def _managed(data: ActivationData) -> list[str]:
    """Every variable activation may set, saved before and restored by ``deactivate``."""
    names = [*_MANAGED, *data.variables]
    if data.site:
        from mlstack_env.activation.site import MANAGED

        names += [n for n in MANAGED if n not in names]
    return names


def _sh_lines(data: ActivationData) -> dict[str, str]:
    from mlstack_env.activation.site import sh_lines

    names = _managed(data)
    save = [
        f'if [ -n "${{{n}+x}}" ]; then _MLSTACK_OLD_{n}="${n}"; '
        f"else unset _MLSTACK_OLD_{n}; fi"
        for n in names
    ]
    restore = [
        f'    if [ -n "${{_MLSTACK_OLD_{n}+x}}" ]; then {n}="$_MLSTACK_OLD_{n}"; export {n}; '
        f"unset _MLSTACK_OLD_{n}; else unset {n}; fi"
        for n in names
    ]
    export = [f"export {n}={sh_quote(v)}" for n, v in data.variables.items()]
    return {"SAVE": "\n".join(save), "RESTORE": "\n".join(restore), "EXPORT": "\n".join(export),
            "SITE": sh_lines(data.site) if data.site else ""}


def _fish_lines(data: ActivationData) -> dict[str, str]:
    from mlstack_env.activation.site import fish_lines

    names = _managed(data)
    save = [
        f"if set -q {n}; set -g _MLSTACK_OLD_{n} ${n}; else; set -e -g _MLSTACK_OLD_{n}; end"
        for n in names
    ]
    restore = [
        f"    if set -q _MLSTACK_OLD_{n}; set -gx {n} $_MLSTACK_OLD_{n}; "
        f"set -e -g _MLSTACK_OLD_{n}; else; set -e -g {n}; end"
        for n in names
    ]
    export = [f"set -gx {n} {fish_quote(v)}" for n, v in data.variables.items()]
    return {"SAVE": "\n".join(save), "RESTORE": "\n".join(restore), "EXPORT": "\n".join(export),
            "SITE": fish_lines(data.site) if data.site else ""}


def _common(data: ActivationData, quote: Callable[[str], str]) -> dict[str, str]:
    return {
        # The name is a validated env name ([A-Za-z0-9._-]), safe in a comment.
        "NAME": data.name,
        "NAME_QUOTED": quote(data.name),
        "VIRTUAL_ENV": quote(str(data.venv)),
        "PROMPT": quote(f"({data.prompt}) "),
    }


def render_sh(data: ActivationData) -> str:
    """``bin/activate``, for bash, zsh and sh."""
    prefix = sh_quote(os.pathsep.join(str(p) for p in data.path))
    return render(
        "activate.sh.template",
        {**_common(data, sh_quote), "PATH_PREFIX": prefix, **_sh_lines(data)},
    )


def render_fish(data: ActivationData) -> str:
    """``bin/activate.fish``."""
    prefix = " ".join(fish_quote(str(p)) for p in data.path)
    return render(
        "activate.fish.template",
        {**_common(data, fish_quote), "PATH_PREFIX": prefix, **_fish_lines(data)},
    )


def _write(path: Path, text: str) -> None:
    """Through the one atomic writer: a reader sees the old or the new file. Mode 0644
    (sourced, never executed); no fsync, as for the generation's other records: the
    generation is published by its own rename."""
    from mlstack_env.core.userfile import write_atomic

    write_atomic(path, text, mode=0o644, sync=False)


def write_scripts(
    gen_dir: Path, *, name: str, venv: Path, variables: Mapping[str, str],
    site: dict[str, object] | None = None,
) -> None:
    """Write a generation's activation files (see the module docstring) into ``gen_dir``.

    ``venv`` becomes ``VIRTUAL_ENV`` as given (made absolute, symlinks kept) and
    ``venv/bin`` goes first on ``PATH``, so pass its final path (the store entry), not
    a temporary one; ``gen_dir`` itself may be temporary. ``variables`` are set with
    exactly these values. ``site`` holds a cluster preset's job rules (decided at
    activation; see :mod:`mlstack_env.activation.site`).
    Raises :class:`BadValueError` for an invalid env name, variable name or value, or a
    venv path that cannot be on ``PATH``.
    """
    import json

    validate_env_name(name)
    venv = venv.absolute()
    if os.pathsep in str(venv) or "\n" in str(venv):
        raise BadValueError(
            f"the venv path {str(venv)!r} cannot be put on PATH (it contains "
            f"{os.pathsep!r} or a newline)",
            hint="set MLSTACK_HOME to a directory whose path has neither",
        )
    if site:
        from mlstack_env.manifest.sites import validate_site_rules

        # Its name goes into the scripts: one word of data by the site-name rule.
        site = validate_site_rules(site)
    data = ActivationData(name=name, venv=venv, variables=variables, site=site)
    gen_dir = gen_dir.absolute()
    _write(gen_dir / ACTIVATE_SH, render_sh(data))
    _write(gen_dir / ACTIVATE_FISH, render_fish(data))
    _write(
        gen_dir / ENV_JSON,
        json.dumps(data.to_json(), indent=2, sort_keys=True, ensure_ascii=False) + "\n",
    )

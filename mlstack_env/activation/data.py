"""The activation data of a generation (``mlstack-env.json``) and how a child process gets it.

This module is on the ``mlstack env run`` hot path: it imports only ``json`` and ``os``
(no ``pathlib``, ``re``, ``typing`` or ``dataclasses``); paths are kept as strings and
handed out as ``Path`` objects to the callers that want them.

``mlstack-env.json`` (format 1), written beside ``bin/activate`` in every generation::

    {
      "format": 1,
      "name": "demo",                       # the env name; also MLSTACK_ENV
      "venv": "/abs/path/of/the/venv",      # VIRTUAL_ENV
      "path": ["/abs/path/of/the/venv/bin"],  # prepended to PATH, in this order
      "prompt": "demo",                     # shells show "(demo) " before the prompt
      "variables": {"HSA_OVERRIDE_GFX_VERSION": "11.0.0", ...},  # exact values, sorted
      "site": {"name": "lumi", "job_cache": true, "gpu_per_task": true}   # optional
    }

``site`` (only when the project names a cluster preset) holds job rules that are decided
each time the env is entered, from the job's own variables (see
:mod:`mlstack_env.activation.site`).

Values are literal strings: no ``$VAR`` expansion, no ``~``, no word splitting, in any
shell or in ``env run``. A reader must ignore keys it does not know; a format it does
not know is refused.
"""

from __future__ import annotations

import json
import os

from mlstack_env.core import envvars
from mlstack_env.core.errors import BadValueError, StoreError

TYPE_CHECKING = False  # no typing import on the hot path; mypy reads the name
if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    StrPath = str | os.PathLike[str]

ENV_JSON = "mlstack-env.json"
FORMAT = 1

def validate_variable(name: str, value: str) -> None:
    """Refuse a variable no shell could set literally, or one an env may not set
    (the rule lives in :func:`mlstack_env.core.envvars.check_variable`)."""
    envvars.check_variable(name, value)


class ActivationData:
    """What activating a generation means: the venv, its PATH entries, the variables."""

    __slots__ = ("name", "path_strs", "prompt", "site", "variables", "venv_str")

    def __init__(
        self,
        name: str,
        venv: StrPath,
        variables: Mapping[str, str],
        path: tuple[StrPath, ...] | None = None,
        prompt: str | None = None,
        *,
        site: dict[str, object] | None = None,
    ) -> None:
        for key, value in variables.items():
            validate_variable(key, value)
        self.name = name
        self.venv_str = os.fspath(venv)
        self.variables: dict[str, str] = dict(sorted(variables.items()))
        self.path_strs: tuple[str, ...] = (
            tuple(os.fspath(p) for p in path) if path is not None
            else (os.path.join(self.venv_str, "bin"),))
        self.prompt = prompt if prompt is not None else name
        self.site: dict[str, object] | None = dict(site) if site else None

    @property
    def venv(self) -> Path:
        from pathlib import Path

        return Path(self.venv_str)

    @property
    def path(self) -> tuple[Path, ...]:
        """The directories put first on ``PATH``, in this order."""
        from pathlib import Path

        return tuple(Path(p) for p in self.path_strs)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ActivationData):
            return NotImplemented
        return self.to_json() == other.to_json()

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_json(), sort_keys=True))

    def __repr__(self) -> str:
        return f"ActivationData({self.to_json()!r})"

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {
            "format": FORMAT,
            "name": self.name,
            "venv": self.venv_str,
            "path": list(self.path_strs),
            "prompt": self.prompt,
            "variables": dict(self.variables),
        }
        if self.site:
            data["site"] = dict(self.site)
        return data

    @classmethod
    def from_json(cls, data: object, source: str = ENV_JSON) -> ActivationData:
        def bad(why: str) -> StoreError:
            return StoreError(
                f"{source}: {why}",
                hint="the env is damaged; recreate it with `mlstack env create`",
            )

        if not isinstance(data, dict):
            raise bad("not a JSON object")
        fmt = data.get("format", FORMAT)
        if fmt != FORMAT:
            raise StoreError(
                f"{source}: unknown format {fmt!r} (this mlstack reads format {FORMAT})",
                hint="it was written by another mlstack version; recreate the env with "
                "this one (`mlstack env create`)",
            )
        name, venv, prompt = data.get("name"), data.get("venv"), data.get("prompt", None)
        variables, path = data.get("variables", {}), data.get("path", None)
        if not isinstance(name, str) or not name:
            raise bad("'name' must be a non-empty string")
        if not isinstance(venv, str) or not venv:
            raise bad("'venv' must be a non-empty string")
        if prompt is not None and not isinstance(prompt, str):
            raise bad("'prompt' must be a string")
        if not isinstance(variables, dict) or not all(
            isinstance(v, str) for v in variables.values()
        ):
            raise bad("'variables' must map names to strings")
        if path is not None and (
            not isinstance(path, list) or not all(isinstance(p, str) for p in path)
        ):
            raise bad("'path' must be a list of strings")
        site = data.get("site")
        if site is not None and not isinstance(site, dict):
            raise bad("'site' must be an object")
        try:
            return cls(
                name=name,
                venv=venv,
                variables=variables,
                path=tuple(path) if path is not None else None,
                prompt=prompt,
                site=site,
            )
        except BadValueError as e:
            raise bad(e.message) from e


def load_env_json(gen_dir: StrPath) -> ActivationData:
    """Read ``<gen_dir>/mlstack-env.json``."""
    file = os.path.join(gen_dir, ENV_JSON)
    try:
        with open(file, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise StoreError(
            f"{file} is missing",
            hint="the env is damaged; recreate it with `mlstack env create`",
        ) from None
    except OSError as e:
        raise StoreError(f"cannot read {file}: {e.strerror}",
                         hint="check the file's permissions") from e
    try:
        data = json.loads(text)
    except ValueError as e:
        raise StoreError(
            f"{file} is not valid JSON: {e}",
            hint="the env is damaged; recreate it with `mlstack env create`",
        ) from None
    return ActivationData.from_json(data, source=file)


def apply(environ: Mapping[str, str], data: ActivationData) -> dict[str, str]:
    """The environment a child process of the activated env gets.

    ``VIRTUAL_ENV``, ``MLSTACK_ENV``, every variable, ``PATH`` with the env's entries
    first (an entry already on ``PATH`` moves to the front, so nesting does not stack),
    and no ``PYTHONHOME``, which would point the venv's Python at another prefix. A site
    preset's job rules come last: they read the job's variables from ``environ``.
    """
    env = dict(environ)
    env.pop("PYTHONHOME", None)
    env.update(data.variables)
    if data.site:
        from mlstack_env.activation.site import job_variables

        for name, value in job_variables(environ, data.site).items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
    front = list(data.path_strs)
    old = env.get("PATH")
    # No PATH at all means the system default; an empty one means nothing.
    rest = (old if old is not None else os.defpath).split(os.pathsep) if old != "" else []
    env["PATH"] = os.pathsep.join([*front, *(p for p in rest if p not in front)])
    env[envvars.VIRTUAL_ENV] = data.venv_str
    env[envvars.MLSTACK_ENV] = data.name
    return env

"""Cluster presets: ``site = "lumi" | "frontier" | "slurm"`` in mlstack.toml.

The presets are data (``catalog/sites.toml``); a project changes one or adds its own with
``[sites.NAME]``. A preset has two halves (ROCM-FACTS §5b):

* fixed variables (``env``: the RCCL/CXI settings of the network), set when an env is
  created, like a profile's ``[env]`` but outside the lock and the store key, because they
  belong to the machine room, not to the stack;
* job rules (``job-cache``, ``gpu-per-task``), which depend on the Slurm job and are
  decided each time the env is entered: by ``mlstack env run`` and by ``bin/activate``
  (:mod:`mlstack_env.activation.site` holds the rule, in Python, sh and fish).
"""

from __future__ import annotations

from collections.abc import Mapping

from mlstack_env.catalog import DATA_DIR
from mlstack_env.core import envvars, tomlmemo
from mlstack_env.core.envname import NAME_PATTERN
from mlstack_env.core.errors import BadValueError, ManifestError, MlstackError
from mlstack_env.core.record import field, record

TYPE_CHECKING = False  # typing costs an import on the fast paths; mypy reads it
if TYPE_CHECKING:
    from typing import Any

#: What a site name may look like: it is written into activation scripts and env info, so
#: it is one word of data, never text a shell could read as a line (issue 21); spelled as
#: an env name is (core/envname.py holds the pattern).
SITE_NAME = NAME_PATTERN
SITE_KEYS = ("description", "extends", "job-cache", "gpu-per-task", "gpus-per-task", "env",
             "sources")
# `gpus-per-task = "all"` (the contract's spelling) is `gpu-per-task = false`; "one" is true.
GPUS_PER_TASK = {"one": True, "all": False}
CATALOG = DATA_DIR / "sites.toml"


@record
class Site:
    """A cluster preset: job-time rules, variables and sources."""
    name: str
    description: str = ""
    job_cache: bool = False
    gpu_per_task: bool = False
    env: dict[str, str] = field(default_factory=dict)
    sources: tuple[str, ...] = ()

    def rules(self) -> dict[str, object]:
        """The job rules as activation data (``mlstack-env.json``'s ``site``)."""
        return {"name": self.name, "job_cache": self.job_cache,
                "gpu_per_task": self.gpu_per_task}

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description,
                "job_cache": self.job_cache, "gpu_per_task": self.gpu_per_task,
                "env": dict(self.env), "sources": list(self.sources)}


def validate_site_name(name: object, source: str = "mlstack.toml", *,
                       kind: type[MlstackError] = BadValueError) -> str:
    """The one site-name rule (refused at load, wherever a name comes from); a ``kind``
    (a file's reader passes its own: ManifestError for mlstack.toml and sites.toml)."""
    import re

    if not isinstance(name, str) or not re.fullmatch(SITE_NAME, name):
        raise kind(
            f"{source}: invalid site name {str(name)[:80]!r}",
            "a site name is 1-64 letters, digits, '.', '_' or '-', starting with a letter "
            "or digit",
        )
    return name


def validate_site_rules(rules: object, source: str = "activation data") -> dict[str, object]:
    """Job rules as activation data (``Site.rules()``), checked: a name by the rule above
    and two booleans, nothing else."""
    if not isinstance(rules, dict) or set(rules) - {"name", "job_cache", "gpu_per_task"}:
        raise BadValueError(f"{source}: site must be an object with name, job_cache and "
                            "gpu_per_task", "recreate the env with `mlstack env create`")
    validate_site_name(rules.get("name"), source)
    for key in ("job_cache", "gpu_per_task"):
        if not isinstance(rules.get(key, False), bool):
            raise BadValueError(f"{source}: site.{key} must be true or false",
                                "recreate the env with `mlstack env create`")
    return dict(rules)


def _catalog() -> dict[str, Any]:
    return tomlmemo.load(CATALOG)


def _check(name: str, body: object, source: str) -> dict[str, Any]:
    from mlstack_env.core.userfile import unknown_key_error

    validate_site_name(name, source, kind=ManifestError)
    if not isinstance(body, dict):
        raise ManifestError(f"{source}: sites.{name} must be a table",
                            f"write [sites.{name}] then job-cache = true")
    for key in body:
        if key not in SITE_KEYS:
            raise unknown_key_error(source, None, key, SITE_KEYS, f"[sites.{name}]")
    for key in ("job-cache", "gpu-per-task"):
        if key in body and not isinstance(body[key], bool):
            raise ManifestError(f"{source}: sites.{name}.{key} must be true or false",
                                f"write {key} = true")
    if "gpus-per-task" in body and body["gpus-per-task"] not in GPUS_PER_TASK:
        raise ManifestError(f"{source}: sites.{name}.gpus-per-task must be \"one\" or \"all\"",
                            'write gpus-per-task = "all" to keep every GPU in each task')
    env = body.get("env", {})
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        raise ManifestError(f"{source}: sites.{name}.env must map names to strings",
                            f'write [sites.{name}.env] then NCCL_SOCKET_IFNAME = "hsn0"')
    for key, value in env.items():
        try:
            envvars.check_variable(key, value)
        except BadValueError as e:
            raise ManifestError(f"{source}: sites.{name}.env: {e.message}",
                                f"remove {key} from [sites.{name}.env]") from None
    return body


def _merged(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = {**base, **{k: v for k, v in over.items() if k != "env"}}
    out["env"] = {**base.get("env", {}), **over.get("env", {})}
    return out


def known_sites(overrides: Mapping[str, Any] | None = None, source: str = "mlstack.toml"
                ) -> dict[str, dict[str, Any]]:
    """Raw preset tables by name: the catalog's, with the project's ``[sites.NAME]`` merged."""
    tables = {n: _check(n, b, str(CATALOG)) for n, b in _catalog().items()}
    for name, body in (overrides or {}).items():
        checked = _check(name, body, source)
        tables[name] = _merged(tables.get(name, {}), checked)
    return tables


def load_site(name: str, overrides: Mapping[str, Any] | None = None,
              source: str = "mlstack.toml") -> Site:
    """The preset ``name`` with ``extends`` followed and the project's overrides applied."""
    validate_site_name(name, source, kind=ManifestError)
    tables = known_sites(overrides, source)

    def resolve(n: str, seen: tuple[str, ...]) -> dict[str, Any]:
        if n not in tables:
            import difflib

            close = difflib.get_close_matches(n, list(tables), n=1)
            raise ManifestError(
                f"{source}: unknown site {n!r}",
                f"did you mean {close[0]!r}?" if close else
                f"known sites: {', '.join(sorted(tables))}; or define [sites.{n}]",
            )
        if n in seen:
            raise ManifestError(f"{source}: sites extend each other in a loop: "
                                f"{' -> '.join((*seen, n))}", "remove one of the extends")
        body = tables[n]
        parent = body.get("extends")
        if parent is None:
            return body
        if not isinstance(parent, str):
            raise ManifestError(f"{source}: sites.{n}.extends must be a site name",
                                'write extends = "slurm"')
        return _merged(resolve(parent, (*seen, n)), body)

    body = resolve(name, ())
    sources = body.get("sources", ())
    return Site(
        name=name,
        description=str(body.get("description", "")),
        job_cache=bool(body.get("job-cache", False)),
        gpu_per_task=GPUS_PER_TASK[body["gpus-per-task"]] if "gpus-per-task" in body
        else bool(body.get("gpu-per-task", False)),
        env=dict(sorted(body.get("env", {}).items())),
        sources=tuple(str(s) for s in sources) if isinstance(sources, list) else (),
    )

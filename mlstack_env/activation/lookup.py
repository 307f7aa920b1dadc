"""From an env name to the generation that activation uses: ``envs/<name>/current``.

A light reader of the store's layout for the ``env run`` hot path (the store module
pulls in the lock and TOML machinery). It only reads: ``current`` is swapped atomically
by the store, so reading it once gives one whole generation.
"""

from __future__ import annotations

from pathlib import Path

from mlstack_env import paths
from mlstack_env.activation.data import ENV_JSON
from mlstack_env.envname import validate_env_name
from mlstack_env.errors import MlstackError


def known_envs() -> list[str]:
    """Names of the envs that have a current generation, sorted."""
    try:
        entries = list(paths.envs_dir().iterdir())
    except OSError:
        return []
    return sorted(e.name for e in entries if (e / paths.CURRENT / ENV_JSON).is_file())


def describe_known() -> str:
    names = known_envs()
    if not names:
        return "there are no envs yet; create one with `mlstack env create PROFILE`"
    return f"existing envs: {', '.join(names)}; or create one with `mlstack env create`"


def current_generation(name: str) -> Path:
    """The directory of ``name``'s current generation, or an error naming the envs there are."""
    validate_env_name(name)
    env_dir = paths.envs_dir() / name
    current = env_dir / paths.CURRENT
    if not (current / ENV_JSON).is_file():
        if current.exists() or (env_dir.is_dir() and any(env_dir.glob(f"{paths.GEN_PREFIX}*"))):
            raise MlstackError(
                f"env {name!r} has no usable generation ({current / ENV_JSON} is missing)",
                hint=f"recreate it with `mlstack env create --name {name}`, or "
                f"`mlstack env rollback {name}`",
            )
        raise MlstackError(f"no env named {name!r}", hint=describe_known())
    # Resolve once: a concurrent re-create swaps `current`, and everything activation
    # reads must come from the same generation.
    return current.resolve()


MANIFEST = "mlstack.toml"  # project.MANIFEST_NAME; the hot path does not import project


def project_default_env(start: Path) -> tuple[str, Path] | None:
    """``default-env`` of the ``mlstack.toml`` found from ``start`` upward, and the file.

    A light read (``tomllib`` only) for the ``env run`` hot path; ``mlstack lock`` and
    ``env create`` validate the whole manifest.
    """
    here = start.absolute()
    for directory in (here, *here.parents):
        manifest = directory / MANIFEST
        if manifest.is_file():
            import tomllib

            try:
                raw = tomllib.loads(manifest.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
                raise MlstackError(f"{manifest}: cannot read default-env ({e})",
                                   hint="fix the file; `mlstack lock` names the line") from None
            value = raw.get("default-env")
            if value is None:
                return None
            if not isinstance(value, str):
                raise MlstackError(f"{manifest}: default-env must be a profile name",
                                   hint='write default-env = "inference"')
            return value, manifest
    return None


def default_env_name(command: str = "mlstack env shell NAME") -> str:
    """The env a command without NAME uses: the project's ``default-env`` (``mlstack.toml``
    found from the working directory upward), else the only env, else an error listing
    them. ``command`` is how to name one, for the hint."""
    found = project_default_env(Path.cwd())
    if found is not None:
        name, manifest = found
        env_dir = paths.envs_dir() / validate_env_name(name)
        if not env_dir.is_dir():  # a broken one: current_generation says what is wrong
            raise MlstackError(
                f"the project's default-env {name!r} ({manifest}) has no env yet",
                hint=f"create it with `mlstack env create` in {manifest.parent}",
            )
        return name
    names = known_envs()
    if len(names) == 1:
        return names[0]
    if not names:
        raise MlstackError("there are no envs yet",
                           hint="create one with `mlstack env create PROFILE`")
    raise MlstackError(
        f"which env? there are {len(names)}: {', '.join(names)}",
        hint=f"name one (`{command}`), or set default-env in mlstack.toml",
    )

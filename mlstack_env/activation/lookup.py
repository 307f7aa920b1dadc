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
    """The directory of ``name``'s current generation, or an error naming the envs there are.

    A lost ``current`` link is repaired first; a link planted as the env's directory is
    refused.
    """
    validate_env_name(name)
    env_dir = paths.envs_dir() / name
    current = env_dir / paths.CURRENT
    if env_dir.is_symlink():
        raise MlstackError(
            f"env {name!r}: {env_dir} is a symbolic link; mlstack does not use it",
            hint=f"mlstack makes that directory itself: move {env_dir} away (after checking "
            f"what it is) and recreate the env with `mlstack env create --name {name}`",
        )
    if not (current / ENV_JSON).is_file() and not _repaired(name):
        if (env_dir / paths.RETIRED).exists() and not current.exists():
            raise MlstackError(f"no env named {name!r}", hint=describe_known())
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


def require_python(name: str, generation: Path, venv: Path) -> None:
    """Refuse an env whose Python is gone (its store entry removed, or the interpreter the
    venv links to uninstalled): activating it would silently run the system Python.

    One ``stat`` on the fast path, following ``gen-N/venv -> store/<key>`` and
    ``bin/python -> the interpreter``.
    """
    python = venv / "bin" / "python"
    try:
        python.stat()
    except OSError:
        pass
    else:
        return
    try:
        key = venv.readlink().name
    except OSError:
        key = "?"
    why = ("the Python it was made with is no longer installed" if (venv / "bin").is_dir()
           else f"its store entry {key} is gone")
    from mlstack_env.store.fingerprint import read_fingerprint

    fp = read_fingerprint(generation)
    again = fp.recreate_command() if fp is not None else f"mlstack env create --name {name}"
    raise MlstackError(
        f"env {name!r} cannot run: {why} ({python} is missing)",
        hint=f"re-create it: `{again}`",
    )


def _repaired(name: str) -> bool:
    """A lost ``current`` link: repaired from the newest usable generation (off the fast
    path: only when the link is missing)."""
    env_dir = paths.envs_dir() / name
    if not env_dir.is_dir() or not any(env_dir.glob("gen-*")):
        return False
    from mlstack_env.store.generations import NamedEnv

    env = NamedEnv(name)
    if not env.needs_repair():
        return False
    with env.lock():
        env.repair()
    return env.exists()

"""From an env name to the generation that activation uses: ``envs/<name>/current``.

A light reader of the store's layout for the ``env run`` hot path (the rest of the store
pulls in the lock and TOML machinery, and loads only when a lost ``current`` is repaired
or a generation's Python is gone). It only reads: ``current`` is swapped atomically by
:mod:`mlstack_env.store.generations`, so reading it once gives one whole generation. Like
:mod:`mlstack_env.activation.data` it works on strings (``os.path``): ``pathlib`` and the
``re`` it imports are a third of ``env run``'s start-up.
"""

from __future__ import annotations

import os

from mlstack_env.activation.data import ENV_JSON
from mlstack_env.core import paths
from mlstack_env.core.envname import validate_env_name
from mlstack_env.core.errors import EnvNotFound, ManifestError, StoreError, UsageError
from mlstack_env.core.projectdir import find_manifest

TYPE_CHECKING = False  # no typing import on the hot path; mypy reads the name
if TYPE_CHECKING:
    from pathlib import Path

    StrPath = str | os.PathLike[str]


def known_envs() -> list[str]:
    """Names of the envs that have a current generation, sorted."""
    envs = paths.envs_dir_str()
    try:
        names = os.listdir(envs)
    except OSError:
        return []
    return sorted(n for n in names
                  if os.path.isfile(os.path.join(envs, n, paths.CURRENT, ENV_JSON)))


def describe_known() -> str:
    names = known_envs()
    if not names:
        return "there are no envs yet; create one with `mlstack env create PROFILE`"
    return f"existing envs: {', '.join(names)}; or create one with `mlstack env create`"


def current_generation(name: str) -> Path:
    """The directory of ``name``'s current generation (:func:`current_generation_dir`)."""
    from pathlib import Path

    return Path(current_generation_dir(name))


def current_generation_dir(name: str) -> str:
    """The directory of ``name``'s current generation, or an error naming the envs there are.

    A lost ``current`` link is repaired first; a link planted as the env's directory is
    refused.
    """
    validate_env_name(name)
    env_dir = os.path.join(paths.envs_dir_str(), name)
    current = os.path.join(env_dir, paths.CURRENT)
    env_json = os.path.join(current, ENV_JSON)
    if os.path.islink(env_dir):
        raise StoreError(
            f"env {name!r}: {env_dir} is a symbolic link; mlstack does not use it",
            hint=f"mlstack makes that directory itself: move {env_dir} away (after checking "
            f"what it is) and recreate the env with `mlstack env create --name {name}`",
        )
    if not os.path.isfile(env_json) and not _repaired(name):
        if (os.path.exists(os.path.join(env_dir, paths.RETIRED))
                and not os.path.exists(current)):
            raise EnvNotFound(name, hint=describe_known())
        if os.path.exists(current) or _has_generations(env_dir):
            raise StoreError(
                f"env {name!r} has no usable generation ({env_json} is missing)",
                hint=f"recreate it with `mlstack env create --name {name}`, or "
                f"`mlstack env rollback {name}`",
            )
        raise EnvNotFound(name, hint=describe_known())
    # Resolve once: a concurrent re-create swaps `current`, and everything activation
    # reads must come from the same generation.
    return os.path.realpath(current)


def _has_generations(env_dir: str) -> bool:
    try:
        return any(n.startswith(paths.GEN_PREFIX) for n in os.listdir(env_dir))
    except OSError:
        return False


def project_default_env(start: StrPath) -> tuple[str, str] | None:
    """``default-env`` of the ``mlstack.toml`` found from ``start`` upward, and the file.

    A light read (``tomllib`` only) for the ``env run`` hot path; ``mlstack lock`` and
    ``env create`` validate the whole manifest.
    """
    manifest = find_manifest(start)
    if manifest is None:
        return None
    import tomllib

    try:
        with open(manifest, encoding="utf-8") as f:
            text = f.read()
        if max(map(str.count, text.splitlines() or [""], ".")) > 64:
            # Maybe a key deep enough to cost tomllib gigabytes: the full check.
            from mlstack_env.core.userfile import check_toml_shape

            check_toml_shape(text, manifest, kind=ManifestError)
        raw = tomllib.loads(text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError,
            RecursionError) as e:
        raise ManifestError(f"{manifest}: cannot read default-env ({e})",
                            hint="fix the file; `mlstack lock` names the line") from None
    value = raw.get("default-env")
    if value is None:
        return None
    if not isinstance(value, str):
        raise ManifestError(f"{manifest}: default-env must be a profile name",
                            hint='write default-env = "inference"')
    return value, manifest


def default_env_name(command: str = "mlstack env shell NAME") -> str:
    """The env a command without NAME uses: the project's ``default-env`` (``mlstack.toml``
    found from the working directory upward), else the only env, else an error listing
    them. ``command`` is how to name one, for the hint."""
    found = project_default_env(os.getcwd())
    if found is not None:
        name, manifest = found
        env_dir = os.path.join(paths.envs_dir_str(), validate_env_name(name))
        if not os.path.isdir(env_dir):  # a broken one: current_generation says what is wrong
            raise StoreError(
                f"the project's default-env {name!r} ({manifest}) has no env yet",
                hint=f"create it with `mlstack env create` in {os.path.dirname(manifest)}",
            )
        return name
    names = known_envs()
    if len(names) == 1:
        return names[0]
    if not names:
        raise StoreError("there are no envs yet",
                         hint="create one with `mlstack env create PROFILE`")
    raise UsageError(
        f"which env? there are {len(names)}: {', '.join(names)}",
        hint=f"name one (`{command}`), or set default-env in mlstack.toml",
    )


def require_python(name: str, generation: StrPath, venv: StrPath) -> None:
    """Refuse an env whose Python is gone (its store entry removed, or the interpreter the
    venv links to uninstalled): activating it would silently run the system Python.

    One ``stat`` on the fast path, following ``gen-N/venv -> store/<key>`` and
    ``bin/python -> the interpreter``.
    """
    try:
        os.stat(os.path.join(venv, "bin", "python"))
    except OSError:
        pass
    else:
        return
    from pathlib import Path

    generation, venv = Path(generation), Path(venv)
    python = venv / "bin" / "python"
    try:
        key = venv.readlink().name
    except OSError:
        key = "?"
    why = ("the Python it was made with is no longer installed" if (venv / "bin").is_dir()
           else f"its store entry {key} is gone")
    from mlstack_env.store.fingerprint import read_fingerprint

    fp = read_fingerprint(generation)
    again = fp.recreate_command() if fp is not None else f"mlstack env create --name {name}"
    raise StoreError(
        f"env {name!r} cannot run: {why} ({python} is missing)",
        hint=f"re-create it: `{again}`",
    )


def _repaired(name: str) -> bool:
    """A lost ``current`` link: repaired from the newest usable generation (off the fast
    path: only when the link is missing)."""
    if not _has_generations(os.path.join(paths.envs_dir_str(), name)):
        return False
    from mlstack_env.store.generations import NamedEnv

    env = NamedEnv(name)
    if not env.needs_repair():
        return False
    with env.lock():
        env.repair()
    return env.exists()


LOCK_STAMP = "lock-stamp"  # gen-N/lock-stamp: the lock file it was made from, and its stat


def _stat_text(st: os.stat_result) -> str:
    return f"{st.st_mtime_ns} {st.st_size} {st.st_ino} {st.st_dev}"


def lock_stamp_changed(generation: str) -> str | None:
    """The lock file ``generation`` was made from, when that file changed since (its stat
    differs from the one recorded at create); None when it did not, or when the env has no
    lock to follow (a built-in profile outside a project, an unpacked archive) or the lock
    is gone. One small read and one ``stat``: ``env run``'s staleness check (issue 19)."""
    try:
        with open(os.path.join(generation, LOCK_STAMP), encoding="utf-8") as f:
            lock, recorded = f.read().split("\n")[:2]
        st = os.stat(lock)
    except (OSError, ValueError):
        return None
    return None if _stat_text(st) == recorded else lock


def write_lock_stamp(generation: str, lock: str) -> None:
    """Record that ``generation`` matches ``lock`` as the file is now (atomically)."""
    lock = os.path.abspath(lock)
    try:
        text = f"{lock}\n{_stat_text(os.stat(lock))}\n"
    except OSError:
        return
    target = os.path.join(generation, LOCK_STAMP)
    try:
        with open(target, encoding="utf-8") as f:
            if f.read() == text:
                return  # an up-to-date create: already recorded (a read, not a rename)
    except (OSError, ValueError):
        pass
    temporary = f"{target}.{os.getpid()}.tmp"
    try:
        with open(temporary, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(temporary, target)
    except OSError:  # a read-only home: the next run checks the lock again, nothing worse
        import contextlib

        with contextlib.suppress(OSError):
            os.unlink(temporary)

"""Removing named envs: ``env remove`` retires an env instead of deleting what a running
command holds.

``envs/<name>/.retired`` records the highest generation number removed, ``current`` goes,
and every generation no ``env run`` holds is deleted. Held ones stay (with their store
entries) until gc finds them free. Generations up to the ``.retired`` number are never
current, listed or rolled back to, even if the name is created again
(:mod:`mlstack_env.store.generations`). A whole env nobody holds is renamed aside
(``envs/.tmp-removed-*``) and then deleted; what a killed remove left there is reclaimed
by the next create or gc.
"""

from __future__ import annotations

import os
from pathlib import Path

from mlstack_env.core import paths
from mlstack_env.core.locks import try_lock_dir
from mlstack_env.core.userfile import write_atomic
from mlstack_env.store.files import fsync_dir, live_paths, remove_tree
from mlstack_env.store.generations import TMP_PREFIX, Generation, NamedEnv


def in_use(path: Path, used: list[str]) -> bool:
    """Is ``path`` (or something under it) among ``used`` (``files.live_paths``)?"""
    here = str(path)
    return any(u == here or u.startswith(here + "/") for u in used)


def remove_env(env: NamedEnv) -> list[Generation]:
    """Remove a named env; the caller holds its lock. Returns the generations kept because
    a running command holds them (``env run``, ``env shell``: a lock; a detached child or
    a program of a sourced activation: its ``VIRTUAL_ENV``): they and their store entries
    stay until gc finds them free. The store entries the env used stay until gc."""
    gens = env._all_generations()
    used = live_paths([str(env.path)])
    fds = [None if in_use(g.path, used) else try_lock_dir(g.path, shared=False)
           for g in gens]
    # Held until the tree is deleted: a `.tmp-removed-*` directory nobody holds was left
    # by a killed remove, and the next create or gc reclaims it.
    whole = try_lock_dir(env.path, shared=False)
    aside: Path | None = None
    try:
        if all(fd is not None for fd in fds):
            # Nothing in use: the whole directory goes (renamed aside first, so a
            # half-removed env is never seen under its name). The exclusive locks held
            # meanwhile keep an `env run` from starting in it.
            aside = env.path.parent / f"{TMP_PREFIX}removed-{env.name}-{os.getpid()}"
            env.path.rename(aside)
        else:
            # Retire: from here on the name is gone (``current`` is ignored), the held
            # generations stay where the running commands find their files.
            write_atomic(env.path / paths.RETIRED, f"{max(g.number for g in gens)}\n")
            (env.path / paths.CURRENT).unlink(missing_ok=True)
            fsync_dir(env.path)
    finally:
        for fd in fds:
            if fd is not None:
                os.close(fd)
    try:
        if aside is not None:
            remove_tree(aside)
            return []
    finally:
        if whole is not None:
            os.close(whole)
    for gen in gens:
        if not in_use(gen.path, used):
            env.remove_generation(gen)
    env.clean_temporaries()
    return [g for g in gens if g.path.is_dir()]


def removed_message(name: str, held: list[Generation]) -> str:
    """What ``env remove`` says: the name is gone; generations still running are kept."""
    if not held:
        return f"removed env {name}; run `mlstack gc` to free store entries no env uses"
    nums = ", ".join(str(g.number) for g in held)
    plural = "s" if len(held) > 1 else ""
    return (f"removed env {name}; generation{plural} {nums} still in use by a running "
            f"command, kept with {'their' if plural else 'its'} store entr"
            f"{'ies' if plural else 'y'} until it ends: `mlstack gc` frees them then")


def reclaim_removed(envs: Path | None = None) -> list[Path]:
    """Delete what killed ``env remove`` runs left (``envs/.tmp-removed-*``), unless a
    running remove still holds it; the paths deleted."""
    base = envs or paths.envs_dir()
    try:  # names first: a Path for each of a hundred envs was the cost of this check
        with os.scandir(base) as entries:
            names = sorted(e.name for e in entries if e.name.startswith(f"{TMP_PREFIX}removed-"))
    except OSError:
        return []
    leftovers = [base / n for n in names]
    done = []
    for p in leftovers:
        if p.is_symlink() or not p.is_dir():
            remove_tree(p)
            done.append(p)
            continue
        fd = try_lock_dir(p, shared=False)
        if fd is None:
            continue
        try:
            remove_tree(p)
        finally:
            os.close(fd)
        done.append(p)
    return done

"""Locks made straight from the loopback index's wheels, for the env/store tests.

They are written by hand (no resolver): each entry lists the served wheels with their
canonical URLs (download.pytorch.org, files.pythonhosted.org) and real sha256, exactly as
``mlstack lock`` records them; ``[mirrors]`` in the test's config routes them to the
loopback server.

PYTEST_DONT_REWRITE
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from mlstack_env import __version__, uv
from mlstack_env.catalog import torch_index_name
from mlstack_env.catalog.target import Target
from mlstack_env.lockfile import Lock, LockedPackage, LockEntry, Wheel, dumps
from tests.wheelindex import FILES, PYPI_DISTS, PYTORCH, PYTORCH_INDEXES, Dist, build_wheel

if TYPE_CHECKING:
    from mlstack_env.export.containers import Recipe

PLATFORM = "x86_64-manylinux_2_28"


def _pytorch_package(index: str, name: str, python: str) -> LockedPackage:
    dist = next(d for d in PYTORCH_INDEXES[index] if d.name == name)
    return _package(dist, python, lambda w: f"{PYTORCH}whl/{index}/{quote(w)}",
                    f"{PYTORCH}whl/{index}")


def _pypi_package(name: str, python: str) -> LockedPackage:
    dist = next(d for d in PYPI_DISTS if d.name == name)

    def url(filename: str) -> str:
        wheel = build_wheel(dist, _tag(dist, python))
        digest = hashlib.blake2b(wheel.data, digest_size=32).hexdigest()
        return f"{FILES}packages/{digest[:2]}/{digest[2:4]}/{digest[4:]}/{quote(filename)}"

    return _package(dist, python, url, "https://pypi.org/simple")


def _tag(dist: Dist, python: str) -> str:
    cp = "cp" + python.replace(".", "")
    return next((t for t in dist.tags if t.startswith(cp + "-")), dist.tags[0])


def _package(dist: Dist, python: str, url: Callable[[str], str], index: str) -> LockedPackage:
    wheel = build_wheel(dist, _tag(dist, python))
    return LockedPackage(
        name=dist.name,
        version=dist.version,
        index=index,
        wheels=(Wheel(url(wheel.filename), wheel.sha256, len(wheel.data)),),
    )


def torch_entry(profile: str, target: str, python: str = "3.12",
                env: dict[str, str] | None = None, extra: Sequence[str] = ()) -> LockEntry:
    """torch + triton (+ filelock) for a ROCm target, or torch+cpu for ``cpu``."""
    t = Target.parse(target)
    # The index a real lock takes for this ROCm version (6.2.4 has its own, not 6.2's),
    # and the Triton it ships (pytorch-triton-rocm, renamed triton-rocm from 7.0).
    index = (torch_index_name(t.rocm) or f"rocm{t.rocm_minor}") if t.rocm else "cpu"
    triton = [d.name for d in PYTORCH_INDEXES[index] if "triton" in d.name]
    names = ["torch"] + (triton[:1] if t.is_rocm else [])
    packages = [_pytorch_package(index, n, python) for n in names]
    packages += [_pypi_package(n, python) for n in ("filelock", *extra)]
    return LockEntry(
        profile=profile,
        target=t,
        python=python,
        platform=PLATFORM,
        packages=tuple(sorted(packages, key=lambda p: p.name)),
        env=dict(env or {}),
        inputs_hash="sha256:" + "0" * 64,
    )


def write_lock(path: Path, entries: Sequence[LockEntry]) -> Path:
    path.write_text(dumps(Lock(tuple(entries), __version__, uv.PINNED_VERSION)),
                    encoding="utf-8")
    return path


def team_lock(path: Path, profile: str = "demo") -> Path:
    """What a team commits: the same stack for a 7900 XTX and a 6700 XT box, ROCm 6.4."""
    return write_lock(path, [
        torch_entry(profile, "rocm6.4:gfx1100"),
        torch_entry(profile, "rocm6.4:gfx1031"),
    ])


def create_demo(cli: Callable[..., Any], fake_machine: Callable[[str], Path],
                tmp_path: Path) -> Path:
    """Env ``demo`` from the team lock on a 7900 XTX (the loopback index must be
    mirrored); returns the lock."""
    fake_machine("7900xtx")
    lock = team_lock(tmp_path / "mlstack.lock")
    r = cli("env", "create", "demo", "--lock", str(lock))
    assert r.returncode == 0, r.stderr
    return lock


def uv_wrapper(path: Path, body: str) -> Path:
    """An executable standing in for uv (``MLSTACK_UV``): ``body`` is sh, ``$REAL_UV`` the
    real binary."""
    real = uv.binary()
    path.write_text(f"#!/bin/sh\nREAL_UV={real}\n{body}\n", encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def failing_uv(directory: Path) -> dict[str, str]:
    """Environment that makes any uv call fail loudly (proves that none runs)."""
    script = uv_wrapper(directory / "no-uv", 'echo "uv must not run here: $*" >&2\nexit 97')
    return {"MLSTACK_UV": str(script)}


def env_without(*names: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in names}


STEP_LINE = re.compile(r".+: done in \d+(\.\d+)? s")
# mlstack's own download lines off a terminal (mlstack_env/cli/downloads.py)
DOWNLOAD_LINE = re.compile(r"downloading \d+ files?(, .*)?|downloading: .*|resuming .*"
                           r"|\[\d+/\d+\] .*|downloaded \d+ files?, .*")


def error_lines(stderr: str) -> list[str]:
    """stderr without the progress lines of the steps that completed before the error
    (``env create`` prints one per step when stderr is not a terminal)."""
    return [line for line in stderr.strip().splitlines()
            if not STEP_LINE.fullmatch(line) and not DOWNLOAD_LINE.fullmatch(line)]



# A Python script for lifetime tests: prints "ready", waits for stdin to close, then imports
# from the env (the import happens after whatever the test did meanwhile) and prints
# "torch <version>".
LATE_IMPORT = ("import sys; print('ready', flush=True); sys.stdin.read(); "
               "import torch, filelock; print('torch', torch.__version__, flush=True)")


def catalog_recipe(kind: str, entry: LockEntry, **options: Any) -> Recipe:
    """``make_recipe`` of ``entry`` under the catalog's URL policy (what a lock outside a
    project gets), as ``mlstack export`` calls it."""
    from mlstack_env.catalog.sources import catalog
    from mlstack_env.export.containers import make_recipe
    from mlstack_env.fetch.urlpolicy import UrlPolicy

    return make_recipe(kind, entry, policy=UrlPolicy(catalog()), source="mlstack.lock",
                       **options)

"""``uv pip compile`` for one request: the argv, the run, and the hint for its failure
(chosen by the kind uv.py classified, never by uv's wording)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlstack_env import uv
from mlstack_env.catalog.sourcemodel import SourceKind
from mlstack_env.catalog.sources import catalog
from mlstack_env.fetch.config import UserConfig, mirror_advice
from mlstack_env.lockfile import LockEntry, to_pylock
from mlstack_env.resolve.request import Request
from mlstack_env.uv import UvError, UvFailure


def uv_args(request: Request, config: UserConfig, requirements: Path, output: Path, *,
            interpreter: Path, fmt: str, overrides: Path | None = None) -> list[str]:
    args = [
        "pip", "compile", str(requirements),
        "--format", fmt, "-o", str(output),
        "--python", str(interpreter),
        "--python-version", request.python,
        "--python-platform", request.platform,
        "--index-strategy", "first-index",
        "--only-binary", ":all:",
        "--no-header",
    ]
    if overrides is not None:
        args += ["--overrides", str(overrides)]
    if request.profile.allows_prereleases:
        # else uv's default (if-necessary-or-explicit), checked after (resolve/prerelease.py)
        args += ["--prerelease", "allow"]
    for src in request.sources:
        url = config.rewrite(src.url)
        if src.default:
            args += ["--default-index", url]
        elif src.kind is SourceKind.FIND_LINKS:
            args += ["--find-links", url]
        else:
            args += ["--index", url]
    return args


@dataclass(frozen=True)
class Upgrade:
    """What ``mlstack lock --upgrade`` / ``--upgrade-package P`` asks uv to take anew."""

    everything: bool = False
    packages: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return self.everything or bool(self.packages)

    def uv_args(self) -> list[str]:
        # --refresh: fresh index pages, not the ones uv cached at the last lock.
        if self.everything:
            return ["--upgrade", "--refresh"]
        args: list[str] = []
        for name in self.packages:
            args += ["--upgrade-package", name, "--refresh-package", name]
        return args


@dataclass(frozen=True)
class Relock:
    """What a re-lock keeps and what it takes anew: the entry it replaces (``previous``),
    whose versions uv keeps, but for what ``upgrade`` asks."""

    previous: LockEntry | None = None
    upgrade: Upgrade | None = None

    def write_preferences(self, output: Path, fmt: str) -> None:
        """``previous`` written to ``output``, uv's compile target: uv reads an existing
        output file as preferences (a pylock only: the format ``previous`` can be written
        in)."""
        if self.previous is not None and fmt == "pylock.toml":
            output.write_text(to_pylock(self.previous, require_urls=False), encoding="utf-8")

    def uv_args(self) -> list[str]:
        return self.upgrade.uv_args() if self.upgrade else []


def compile_request(request: Request, config: UserConfig, workdir: Path, fmt: str,
                    output: Path, *, offline: bool, relock: Relock | None = None) -> None:
    """Run ``uv pip compile`` for ``request`` into ``output`` (format ``fmt``).

    ``relock.previous`` (the entry being re-locked) is written to ``output`` first: uv reads
    an existing output file as preferences, so every package keeps its locked version unless
    the requirements or ``relock.upgrade`` ask otherwise (as ``uv lock`` keeps uv.lock's).
    """
    relock = relock or Relock()
    wanted, replaced = request.requirements()
    requirements = workdir / "requirements.in"
    requirements.write_text("".join(r + "\n" for r in wanted), encoding="utf-8")
    overrides = None
    if replaced:  # ROCm as wheels: the rocm selector sdist out, its wheels in (rocmsdk)
        overrides = workdir / "overrides.txt"
        overrides.write_text("".join(r + "\n" for r in replaced), encoding="utf-8")
    relock.write_preferences(output, fmt)
    interpreter = uv.find_python(request.python)
    args = uv_args(request, config, requirements, output, interpreter=interpreter, fmt=fmt,
                   overrides=overrides)
    args += relock.uv_args()
    try:
        uv.run(args, what=f"resolving {request.key}", cwd=workdir, offline=offline)
    except UvError as err:
        if err.kind is not UvFailure.UNAVAILABLE:  # uv missing: its own hint says what to do
            err.hint = failure_hint(err, request, config)
        raise


def failure_hint(err: UvError, request: Request, config: UserConfig) -> str:
    if err.kind is UvFailure.NETWORK:
        return mirror_advice([s.url for s in request.sources], config)
    if err.kind is UvFailure.OFFLINE:
        return "drop --offline, or resolve once online so uv's cache holds these packages"
    if err.kind is UvFailure.NO_PYTHON:
        why = f" ({request.python_why})" if request.python_why else ""
        return (f"Python {request.python}{why} has no wheels that satisfy the profile; lock "
                "for another Python with --python X.Y (or python = \"X.Y\" in mlstack.toml)")
    if err.kind is UvFailure.SDIST_ONLY:
        return ("a lock holds wheels only, and a package it needs is published as a source "
                "distribution alone: pin a version with wheels; for ROCm's `rocm` selector "
                "lock a ROCm-as-wheels target (rocm7.14, rocm10.0), where mlstack locks the "
                "rocm-sdk-* wheels it stands for")
    hint = "change the profile's requirements, or lock for another target"
    if request.target.rocm is not None and "torch" in err.reason:
        from mlstack_env.catalog import torch_index_name

        index = torch_index_name(request.target.rocm)
        builds = catalog().torch_builds(index or "")
        if builds:
            hint = (f"the {index} index carries torch {', '.join(builds)}; pin torch to one of "
                    "those, or lock for another ROCm version")
    return hint

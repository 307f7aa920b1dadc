"""The CUDA trap (ROCM-FACTS §4): a ROCm entry holding a torch (or vllm) without a ``+rocm``
label or any ``nvidia-*`` package is refused, naming the requirement that pulled it in; and
a package of an ``exclusive`` source (vLLM's ROCm index) taken from anywhere else is refused
(PyPI's vllm is a CUDA abi3 wheel that installs silently on Python 3.11: vllm#44660)."""

from __future__ import annotations

import re
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from mlstack_env.core.errors import SourceError
from mlstack_env.fetch.config import UserConfig
from mlstack_env.lockfile import LockedPackage
from mlstack_env.resolve.request import Request
from mlstack_env.resolve.uvcompile import compile_request


def check_exclusive(entry_packages: list[LockedPackage], request: Request) -> None:
    """Every package an ``exclusive`` source carries comes from that source."""
    for src in request.sources:
        if not src.exclusive:
            continue
        own = {canonicalize_name(p) for p in src.packages}
        for p in entry_packages:
            # A file without its canonical URL (locked through a mirror of another layout)
            # came from the package's index, which the mirror's page decided.
            if p.name in own and not all(src.owns(w.url) if w.url else p.index == src.url
                                         for w in p.wheels):
                raise SourceError(
                    f"resolving {request.key} took {p.name} {p.version} from "
                    f"{p.wheels[0].url or p.index if p.wheels else p.index}, not from source "
                    f"{src.name!r} ({src.url}), the only one with its ROCm build",
                    f"pin {p.name} to a version {src.url} carries, or remove it from the "
                    "profile",
                )


def check_rocm(entry_packages: list[LockedPackage], request: Request, config: UserConfig,
               workdir: Path, offline: bool) -> None:
    if not request.target.is_rocm:
        return
    check_exclusive(entry_packages, request)
    labelled = set(request.labelled)
    bad = [
        p for p in entry_packages
        if p.name.startswith("nvidia-")
        or (p.name in labelled and not _local_label(p.version).startswith("rocm"))
    ]
    if not bad:
        return
    parents = _via(request, config, workdir, offline)
    direct = {str(canonicalize_name(Requirement(r).name)) for r in request.profile.packages}
    described = []
    for p in bad:
        roots = _pulled_by(p.name, parents, direct)
        why = f" (pulled by {', '.join(roots)})" if roots else (
            " (a direct requirement)" if p.name in direct else "")
        described.append(f"{p.name} {p.version}{why}")
    culprits = sorted({r for p in bad for r in _pulled_by(p.name, parents, direct)}
                      | {p.name for p in bad if p.name in direct})
    raise SourceError(
        f"resolving {request.key} pulled CUDA builds into a ROCm entry: "
        + "; ".join(described),
        f"{', '.join(culprits) or 'a requirement'} has no ROCm build on the configured "
        "sources: remove it from the profile, pin a version the ROCm index carries, or add "
        "a [sources.NAME] index that has its ROCm build",
    )


def _via(request: Request, config: UserConfig, workdir: Path, offline: bool) -> dict[str, set[str]]:
    """Who requires whom, from uv's annotated requirements output (only on failure)."""
    out = workdir / "annotated.txt"
    compile_request(request, config, workdir, "requirements.txt", out, offline=offline)
    parents: dict[str, set[str]] = {}
    current: str | None = None
    for raw_line in out.read_text(encoding="utf-8").splitlines():
        line = raw_line.strip()
        if line and not line.startswith("#"):
            current = canonicalize_name(re.split(r"[=<>!~ ;\[]", line, maxsplit=1)[0])
            parents.setdefault(current, set())
        elif current and line.startswith("#"):
            text = line.lstrip("#").strip().removeprefix("via").strip()
            if text and not text.startswith("-r"):
                parents[current].add(canonicalize_name(text))
    return parents


def _pulled_by(name: str, parents: dict[str, set[str]], direct: set[str]) -> list[str]:
    """The profile's direct requirements that (transitively) pull ``name``."""
    seen: set[str] = set()
    stack = [name]
    roots: set[str] = set()
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        if n in direct and n != name:
            roots.add(n)
        stack.extend(parents.get(n, ()))
    return sorted(roots)


def _local_label(version: str) -> str:
    return Version(version).local or ""

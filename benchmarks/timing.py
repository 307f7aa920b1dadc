"""Shared by the benchmarks: run commands alternately, N times each, report medians.

Alternating (a, b, a, b, …) rather than all a's then all b's keeps a slow patch of the
machine (another process, a cold cache) from landing on one side only.
"""

from __future__ import annotations

import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path


def time_once(argv: Sequence[str], env: Mapping[str, str] | None = None) -> float:
    """Wall-clock seconds for one run of ``argv``, which must succeed."""
    start = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def time_cpu(argv: Sequence[str], env: Mapping[str, str] | None = None,
             cwd: Path | None = None) -> tuple[float, float]:
    """Wall-clock and CPU seconds (user + system, with its children) of one run of
    ``argv``, which must succeed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, cwd=cwd)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def medians(commands: Sequence[tuple[Sequence[str], Mapping[str, str] | None]],
            runs: int, warmup: int = 3) -> list[float]:
    """Median seconds of each command over ``runs`` alternating runs (after warm-up)."""
    for _ in range(warmup):
        for argv, env in commands:
            time_once(argv, env)
    samples: list[list[float]] = [[] for _ in commands]
    for _ in range(runs):
        for i, (argv, env) in enumerate(commands):
            samples[i].append(time_once(argv, env))
    return [statistics.median(s) for s in samples]


def machine() -> str:
    """One line: CPUs, CPU model, OS, Python."""
    model = "unknown CPU"
    try:
        with Path("/proc/cpuinfo").open(encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (f"{os.cpu_count()} CPUs (nproc), {model}; {platform.system()} "
            f"{platform.release()}; Python {platform.python_version()} ({sys.executable})")


def mlstack_script() -> str:
    """The installed console script next to this Python (the dev venv's: pip's launcher
    of an editable install)."""
    script = Path(sys.executable).parent / "mlstack"
    if not script.exists():
        sys.exit(f"error: no mlstack console script next to {sys.executable}\n"
                 "hint: run with the dev venv: .venv/bin/python benchmarks/...")
    return str(script)


def install_like_users(repo: Path, where: Path, uv_bin: str) -> str:
    """mlstack installed the way the README tells users (``uv tool install .``): a venv of
    its own with a wheel built from ``repo`` (not editable) and uv's console-script
    launcher, which, unlike pip's, does not import ``re`` before mlstack starts. The
    dependencies come from the developer's uv cache or PyPI. Returns the script."""
    venv = where / "mlstack-venv"
    subprocess.run([uv_bin, "venv", "--quiet", "--python", sys.executable, str(venv)],
                   check=True)
    subprocess.run([uv_bin, "pip", "install", "--quiet", "--python",
                    str(venv / "bin" / "python"), str(repo)], check=True)
    return str(venv / "bin" / "mlstack")

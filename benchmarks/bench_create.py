"""Benchmarks (a) and (b): ``mlstack env create`` against plain uv, and a store hit.

(a) ``mlstack env create demo --lock L`` from a warm uv cache (the store entry absent)
    against plain ``uv venv --relocatable`` + ``uv pip sync pylock.toml`` of the same lock
    entry with the same cache. Target: at most 1.15x (median).
(b) ``mlstack env create demo --name bench-N --lock L`` when the store already holds the
    entry (no uv runs; a new named env and generation are written). Target: at most 0.25 s.

Run by hand, not in CI:

    .venv/bin/python benchmarks/bench_create.py [--runs 20]

The lock is the test suite's team lock (torch 2.8.0+rocm6.4, pytorch-triton-rocm,
filelock: tiny wheels) served by the loopback index of ``tests/wheelindex.py`` through
``[mirrors]``, on a fake 7900 XTX machine tree. Tiny wheels make the fixed costs (Python
start-up, detection, locks, fingerprints, activation scripts) as visible as they can be.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from timing import machine, mlstack_script, time_once

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mlstack_env import uv
from mlstack_env.lockfile import read_lock, to_pylock
from tests import machines
from tests.envfixtures import team_lock
from tests.wheelindex import serve

TARGET_RATIO = 1.15
TARGET_HIT_S = 0.25


def with_payload(lock: Path, wheels: Path, count: int) -> Path:
    """The lock with one more package: a wheel of ``count`` 8 KiB files, served from disk."""
    from dataclasses import replace

    from mlstack_env.lockfile import LockedPackage, Wheel
    from tests.envfixtures import write_lock
    from tests.wheelindex import Dist, build_wheel

    body = "x = 0\n" * 1400  # ~8 KiB, like a compiled module's share of torch
    dist = Dist("payload", "1.0", files=tuple(
        (f"payload/m{i:05d}.py", f"# {i}\n{body}") for i in range(count)))
    built = build_wheel(dist, "py3-none-any")
    wheels.mkdir(parents=True, exist_ok=True)
    path = wheels / built.filename
    path.write_bytes(built.data)
    extra = LockedPackage("payload", "1.0", None,
                          (Wheel(path.as_uri(), built.sha256, len(built.data)),))
    entries = [replace(e, packages=(*e.packages, extra)) for e in read_lock(lock).entries]
    return write_lock(lock, entries)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument(
        "--payload-files", type=int, default=0,
        help="add a local wheel of this many files (a ROCm torch wheel has ~12,000) so the "
        "install work is torch-sized and not only mlstack's fixed start-up cost",
    )
    args = parser.parse_args()
    mlstack = mlstack_script()

    with tempfile.TemporaryDirectory(prefix="mlstack-bench-") as tmp, \
            serve(Path(tmp) / "index") as index:
        base = Path(tmp)
        home = base / "home"
        config = index.write_config(base / "config.toml")
        root = machines.MACHINES["7900xtx"](base / "machine")
        lock = team_lock(base / "mlstack.lock")
        if args.payload_files:
            lock = with_payload(lock, base / "wheels", args.payload_files)
        environ = {k: v for k, v in os.environ.items()
                   if not k.startswith(("MLSTACK_", "UV_"))}
        environ |= {"MLSTACK_HOME": str(home), "MLSTACK_CONFIG": str(config),
                    "MLSTACK_ROOT": str(root), "NO_COLOR": "1"}
        create = [mlstack, "env", "create", "demo", "--lock", str(lock), "--json"]

        # Plain uv, the same entry (the one mlstack picks on a 7900 XTX), the same cache.
        entry = next(e for e in read_lock(lock).entries if str(e.target) == "rocm6.4:gfx1100")
        pylock = base / "pylock.toml"
        pylock.write_text(to_pylock(entry, url_map=index.mirrors))
        uv_bin, python = str(uv.binary()), str(uv.find_python(entry.python))
        uv_env = environ | {"UV_CACHE_DIR": str(home / "cache" / "uv"),
                            "UV_PYTHON_DOWNLOADS": "never", "UV_NO_PROGRESS": "1"}
        plain_root = base / "plain"
        plain_root.mkdir()

        def reset_mlstack() -> None:
            subprocess.run([mlstack, "env", "remove", "demo"], env=environ, check=True,
                           capture_output=True)
            subprocess.run([mlstack, "gc"], env=environ, check=True, capture_output=True)

        def plain() -> float:
            # A new path each round, as each mlstack store miss builds in a new directory:
            # uv caches its interpreter query per path, and reusing one path would give
            # plain uv a warm query that a new env never has (about 50 ms here).
            for old in plain_root.iterdir():
                shutil.rmtree(old)
            plain_venv = Path(tempfile.mkdtemp(dir=plain_root)) / "venv"
            t = time_once([uv_bin, "--no-config", "venv", "--relocatable", "--quiet",
                           "--python", python, str(plain_venv)], uv_env)
            return t + time_once([uv_bin, "pip", "--no-config", "sync", "--python",
                                  str(plain_venv / "bin" / "python"), "--preview-features",
                                  "pylock", "--no-index", "--quiet", str(pylock)], uv_env)

        # Warm the uv cache (and both code paths) before measuring.
        for _ in range(3):
            time_once(create, environ)
            reset_mlstack()
            plain()
        t_create: list[float] = []
        t_plain: list[float] = []
        for _ in range(args.runs):
            t_create.append(time_once(create, environ))
            reset_mlstack()
            t_plain.append(plain())

        # (b) the entry stays in the store; every create is a new env name.
        time_once(create, environ)
        hits = []
        for i in range(args.runs + 3):
            t = time_once([*create[:3], "demo", "--name", f"bench-{i}", *create[4:]], environ)
            if i >= 3:
                hits.append(t)

    a, p, h = statistics.median(t_create), statistics.median(t_plain), statistics.median(hits)
    ratio = a / p
    print(f"machine: {machine()}")
    print(f"uv {uv.version()}; runs: {args.runs} each, alternating, median")
    if args.payload_files:
        print(f"lock: the team lock + a local wheel of {args.payload_files} files")
    print(f"(a) mlstack env create (warm cache, store miss) : {a * 1000:7.1f} ms")
    print(f"    uv venv + uv pip sync pylock.toml           : {p * 1000:7.1f} ms")
    ok_a = ratio <= TARGET_RATIO
    print(f"    ratio: {ratio:.2f}x (target <= {TARGET_RATIO}x) {'OK' if ok_a else 'OVER TARGET'}")
    ok_b = h <= TARGET_HIT_S
    print(f"(b) mlstack env create (store hit, no uv)       : {h * 1000:7.1f} ms "
          f"(target <= {TARGET_HIT_S * 1000:.0f} ms) {'OK' if ok_b else 'OVER TARGET'}")
    return 0 if ok_a and ok_b else 1


if __name__ == "__main__":
    sys.exit(main())

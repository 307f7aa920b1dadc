"""Benchmark (c): ``mlstack env run E -- python -c pass`` against the env's python directly.

Target: at most 80 ms extra (median). Run by hand, not in CI:

    .venv/bin/python benchmarks/bench_run.py [--runs 40]

The env is a hand-made generation (``write_scripts``, as the store writes it) whose
venv is ``python -m venv`` of this Python, under a temporary data root reached through
XDG_DATA_HOME, as a user's default MLSTACK_HOME would be (so mlstack's own path lookup
is part of what is measured).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import venv
from pathlib import Path

from timing import machine, medians, mlstack_script

from mlstack_env.activation import write_scripts

TARGET_MS = 80.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="mlstack-bench-") as tmp:
        data_home = Path(tmp) / "data"
        env_venv = Path(tmp) / "venv"
        venv.EnvBuilder(with_pip=False, symlinks=True).create(env_venv)
        env_dir = data_home / "mlstack" / "envs" / "bench"
        write_scripts(env_dir / "gen-1", name="bench", venv=env_venv,
                      variables={"HSA_OVERRIDE_GFX_VERSION": "11.0.0",
                                 "PYTORCH_ROCM_ARCH": "gfx1100", "MIOPEN_FIND_MODE": "2"})
        (env_dir / "current").symlink_to("gen-1")

        environ = {k: v for k, v in os.environ.items() if not k.startswith("MLSTACK_")}
        environ["XDG_DATA_HOME"] = str(data_home)
        python = str(env_venv / "bin" / "python")
        via_mlstack = [mlstack_script(), "env", "run", "bench", "--", "python", "-c", "pass"]
        direct = [python, "-c", "pass"]
        t_run, t_direct = medians([(via_mlstack, environ), (direct, environ)], args.runs)

    extra_ms = (t_run - t_direct) * 1000
    print(f"machine: {machine()}")
    print(f"runs: {args.runs} each, alternating, median")
    print(f"mlstack env run bench -- python -c pass : {t_run * 1000:7.1f} ms")
    print(f"<env>/bin/python -c pass                 : {t_direct * 1000:7.1f} ms")
    verdict = "OK" if extra_ms <= TARGET_MS else "OVER TARGET"
    print(f"extra: {extra_ms:.1f} ms (target <= {TARGET_MS:.0f} ms) {verdict}")
    return 0 if extra_ms <= TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())

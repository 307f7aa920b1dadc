"""Benchmark (d): ``mlstack --version`` against ``python -c pass`` (the same Python).

Target: at most 8x (ratio of medians). Run by hand, not in CI:

    .venv/bin/python benchmarks/bench_startup.py [--runs 40]
"""

from __future__ import annotations

import argparse
import os
import sys

from timing import machine, medians, mlstack_script

TARGET_RATIO = 8.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()

    environ = dict(os.environ)
    t_version, t_python = medians(
        [([mlstack_script(), "--version"], environ), ([sys.executable, "-c", "pass"], environ)],
        args.runs,
    )
    ratio = t_version / t_python
    print(f"machine: {machine()}")
    print(f"runs: {args.runs} each, alternating, median")
    print(f"mlstack --version : {t_version * 1000:7.1f} ms")
    print(f"python -c pass    : {t_python * 1000:7.1f} ms")
    verdict = "OK" if ratio <= TARGET_RATIO else "OVER TARGET"
    print(f"ratio: {ratio:.2f}x (target <= {TARGET_RATIO:.0f}x) {verdict}")
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())

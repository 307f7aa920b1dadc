"""`mlstack diff` and `mlstack tree` on a big lock: time and peak memory (issue 21).

    .venv/bin/python benchmarks/bench_biglock.py [--entries 40] [--packages 1000]

Writes two locks of ENTRIES x PACKAGES packages (3 wheels each; 40 x 1000 is ~36 MiB)
that differ in every tenth package, then times `mlstack diff A B` and `mlstack tree
--lock A` (GNU time's elapsed seconds and maximum resident set). Run it at two sizes to
see the growth: it should be linear (the TOML parser is most of it).
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import tempfile
from pathlib import Path

from timing import mlstack_script

from mlstack_env.catalog.target import Target
from mlstack_env.lockfile import Lock, LockEntry, dumps
from mlstack_env.lockfile.model import LockedPackage, Wheel


def _h(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def make_lock(entries: int, packages: int, variant: int) -> Lock:
    out = []
    for e in range(entries):
        pkgs = []
        for p in range(packages):
            name = f"pkg{p:05d}"
            version = f"1.{p % 7}.{variant if p % 10 == 0 else 0}"
            wheels = tuple(
                Wheel(f"https://files.pythonhosted.org/packages/ab/cd/{_h(name + version)}/"
                      f"{name}-{version}-cp3{w}-cp3{w}-manylinux_2_28_x86_64.whl",
                      _h(f"{name}{version}{w}{variant}"), 1000 + p)
                for w in range(3))
            pkgs.append(LockedPackage(name, version, "https://pypi.org/simple", wheels))
        out.append(LockEntry(f"prof{e:03d}", Target.parse("rocm6.4:gfx1100"), "3.12",
                             "x86_64-manylinux_2_28", tuple(pkgs),
                             inputs_hash="sha256:" + _h(str(e))))
    return Lock(tuple(out), "0.1.0", "0.9.0")


def timed(argv: list[str], env_home: Path) -> str:
    r = subprocess.run(["/usr/bin/time", "-f", "%e s, %M KB", *argv], capture_output=True,
                       text=True, check=False, env={"MLSTACK_HOME": str(env_home),
                                                     "PATH": "/usr/bin:/bin"})
    return r.stderr.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=40)
    parser.add_argument("--packages", type=int, default=1000)
    args = parser.parse_args()
    mlstack = mlstack_script()
    with tempfile.TemporaryDirectory() as tmp:
        a, b = Path(tmp, "a.lock"), Path(tmp, "b.lock")
        a.write_text(dumps(make_lock(args.entries, args.packages, 1)), encoding="utf-8")
        b.write_text(dumps(make_lock(args.entries, args.packages, 2)), encoding="utf-8")
        size = a.stat().st_size / (1 << 20)
        home = Path(tmp, "home")
        print(f"lock: {args.entries} entries x {args.packages} packages, {size:.1f} MiB")
        print("diff A B:", timed([mlstack, "diff", str(a), str(b)], home))
        print("tree --lock A:", timed([mlstack, "tree", "--lock", str(a), "--profile",
                                       "prof000", "--target", "rocm6.4:gfx1100",
                                       "--python", "3.12"], home))


if __name__ == "__main__":
    main()

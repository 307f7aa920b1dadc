"""Every fixed-cost target of issue 14 (item 7), measured in one run, each met or not.

    .venv/bin/python benchmarks/bench_targets.py [--runs 15] [--torch-wheel PATH]

Targets (medians; a ratio compares two commands measured alternately in the same run):

- store hit: ``mlstack env create demo --name N --lock L`` when the store holds the entry
  <= 1.0x raw warm ``uv venv`` + ``uv pip sync`` of the same entry;
- store miss, small wheels: ``mlstack env create demo --lock L`` (uv cache warm, entry
  absent) <= 1.3x raw ``uv venv`` + ``uv pip sync``;
- store miss, torch-sized: the same with PyPI's real torch wheel (``--torch-wheel PATH``,
  installed with its dependencies left out: ~900 MB, ~4 GB unpacked) <= 1.1x;
- no-op ``mlstack lock`` (inputs unchanged) <= 0.15 s, with and without ``python =`` in
  mlstack.toml (without it mlstack chooses the interpreter: no probe of the others);
- ``mlstack env run demo -- python -c pass`` <= 25 ms over ``<env>/bin/python -c pass``;
- ``mlstack env list`` with 100 envs <= 0.15 s.

The wheels are the test suite's stand-ins (tests/wheelindex.py), served on loopback; the
machine is the fake 7900 XTX tree. mlstack is installed as users install it (uv, from a
wheel, with uv's launcher; ``--dev-venv`` times the dev venv's script instead); its
site-packages are byte-compiled first (``compileall``) and the measured commands run
without PYTHONDONTWRITEBYTECODE, so Python loads ``.pyc`` files as it does for users
(``--no-compile`` to skip). The torch-sized miss is measured last. Get the torch wheel
with ``pip download --no-deps --only-binary :all: torch==2.9.1 --python-version 3.11
-d /tmp/torchwheel``; never commit it.
"""

from __future__ import annotations

import argparse
import compileall
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from timing import install_like_users, machine, medians, mlstack_script, time_once

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from mlstack_env import uv  # noqa: E402
from mlstack_env.lockfile import LockedPackage, Wheel, read_lock, to_pylock  # noqa: E402
from tests import machines  # noqa: E402
from tests.envfixtures import torch_entry, write_lock  # noqa: E402
from tests.wheelindex import PYTORCH, WheelIndex, serve, write_project  # noqa: E402

TORCH_INDEX = "cu128"
Verdicts = list[tuple[str, str, bool]]


def byte_compile(*trees: Path) -> None:
    for tree in trees:
        compileall.compile_dir(tree, quiet=2, workers=2)


def site_packages(script: str) -> Path:
    """The site-packages of the venv whose ``bin/`` holds ``script``."""
    venv = Path(script).parent.parent
    return next((venv / "lib").glob("python3*/site-packages"))


def torch_lock(path: Path, wheel: Path, index: WheelIndex) -> Path:
    """A 3.11 entry for the 7900 XTX whose torch is ``wheel``, served by the index under
    its canonical download.pytorch.org URL (the index maps that prefix to itself)."""
    served = index.root / "pytorch" / "whl" / TORCH_INDEX / wheel.name
    served.parent.mkdir(parents=True, exist_ok=True)
    if not served.exists():
        served.symlink_to(wheel.resolve())
    digest = hashlib.sha256()
    with wheel.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    version = wheel.name.split("-")[1]
    torch = LockedPackage("torch", version, f"{PYTORCH}whl/{TORCH_INDEX}", (Wheel(
        f"{PYTORCH}whl/{TORCH_INDEX}/{wheel.name}", digest.hexdigest(), wheel.stat().st_size),))
    entry = torch_entry("demo", "rocm6.4:gfx1100", python="3.11")
    packages = tuple(torch if p.name == "torch" else p for p in entry.packages)
    return write_lock(path, [replace(entry, packages=packages)])


class Bench:
    def __init__(self, base: Path, index: WheelIndex, runs: int, mlstack: str) -> None:
        self.base, self.runs, self.index = base, runs, index
        self.home = base / "home"
        self.mlstack = mlstack
        config = index.write_config(base / "config.toml")
        root = machines.MACHINES["7900xtx"](base / "machine")
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("MLSTACK_", "UV_")) and k != "PYTHONDONTWRITEBYTECODE"}
        self.env |= {"MLSTACK_HOME": str(self.home), "MLSTACK_CONFIG": str(config),
                     "MLSTACK_ROOT": str(root), "NO_COLOR": "1"}
        self.uv_env = self.env | {"UV_CACHE_DIR": str(self.home / "cache" / "uv"),
                                  "UV_PYTHON_DOWNLOADS": "never", "UV_NO_PROGRESS": "1"}
        self.plain_root = base / "plain"
        self.plain_root.mkdir()

    def run(self, *args: str, cwd: Path | None = None) -> None:
        subprocess.run([self.mlstack, *args], env=self.env, check=True, capture_output=True,
                       cwd=cwd)

    def time(self, *args: str, cwd: Path | None = None) -> float:
        start = time.perf_counter()
        self.run(*args, cwd=cwd)
        return time.perf_counter() - start

    def plain(self, lock: Path) -> Callable[[], float]:
        """Raw uv for the entry mlstack picks here: a new venv path each round, as each
        store miss builds in a new directory (uv caches its interpreter query per path)."""
        entry = next(e for e in read_lock(lock).entries if str(e.target) == "rocm6.4:gfx1100")
        pylock = lock.parent / f"pylock.{lock.stem}.toml"
        pylock.write_text(to_pylock(entry, url_map=self.index.mirrors))
        uv_bin, python = str(uv.binary()), str(uv.find_python(entry.python))

        def once() -> float:
            for old in self.plain_root.iterdir():
                shutil.rmtree(old)
            venv = Path(tempfile.mkdtemp(dir=self.plain_root)) / "venv"
            t = time_once([uv_bin, "--no-config", "venv", "--relocatable", "--quiet",
                           "--python", python, str(venv)], self.uv_env)
            return t + time_once([uv_bin, "pip", "--no-config", "sync", "--python",
                                  str(venv / "bin" / "python"), "--preview-features", "pylock",
                                  "--no-index", "--quiet", str(pylock)], self.uv_env)

        return once

    def alternate(self, a: Callable[[], float], b: Callable[[], float],
                  runs: int) -> tuple[float, float]:
        for _ in range(2):
            a()
            b()
        ta, tb = [], []
        for _ in range(runs):
            ta.append(a())
            tb.append(b())
        return statistics.median(ta), statistics.median(tb)

    def miss(self, lock: Path, runs: int) -> tuple[float, float]:
        def create() -> float:
            t = self.time("env", "create", "demo", "--lock", str(lock), "--json")
            self.run("env", "remove", "demo")
            self.run("gc")
            return t

        return self.alternate(create, self.plain(lock), runs)

    def hit(self, lock: Path) -> tuple[float, float]:
        self.run("env", "create", "demo", "--lock", str(lock))
        n = iter(range(10**6))
        return self.alternate(
            lambda: self.time("env", "create", "demo", "--name", f"hit-{next(n)}", "--lock",
                              str(lock), "--json"), self.plain(lock), self.runs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--torch-runs", type=int, default=5)
    parser.add_argument("--torch-wheel", type=Path, help="PyPI's torch wheel (cp311)")
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--dev-venv", action="store_true",
                        help="time the dev venv's mlstack (pip's launcher, editable) instead "
                             "of one installed as users install it (uv, from a wheel)")
    args = parser.parse_args()
    results: Verdicts = []

    def ratio(name: str, a: float, b: float, target: float) -> None:
        r = a / b
        results.append((name, f"{a * 1000:.0f} ms vs {b * 1000:.0f} ms = {r:.2f}x "
                              f"(target <= {target}x)", r <= target))

    def limit(name: str, t: float, target_ms: float, extra: str = "") -> None:
        results.append((name, f"{t * 1000:.1f} ms{extra} (target <= {target_ms:.0f} ms)",
                        t * 1000 <= target_ms))

    with tempfile.TemporaryDirectory(prefix="mlstack-bench-") as tmp, \
            serve(Path(tmp) / "index") as index:
        base = Path(tmp)
        if args.dev_venv:
            script, trees = mlstack_script(), [REPO / "mlstack_env",
                                               Path(sysconfig.get_paths()["purelib"])]
        else:
            script = install_like_users(REPO, base, str(uv.binary()))
            trees = [site_packages(script)]
        if not args.no_compile:
            byte_compile(*trees)
        b = Bench(base, index, args.runs, script)
        from tests.envfixtures import team_lock

        lock = team_lock(base / "team.lock")
        ratio("store miss, small wheels", *b.miss(lock, args.runs), 1.3)
        ratio("store hit", *b.hit(lock), 1.0)

        project = base / "project"
        write_project(project, profiles={"ml": ["torch"]}, targets=["rocm6.4:gfx1100"])
        b.run("lock", cwd=project)
        no_op = [b.time("lock", cwd=project) for _ in range(args.runs + 2)][2:]
        limit("no-op lock", statistics.median(no_op), 150)
        # The same without `python =` in mlstack.toml: mlstack picks the Python itself.
        any_python = base / "project-any-python"
        write_project(any_python, profiles={"ml": ["torch"]}, targets=["rocm6.4:gfx1100"],
                      python=None)
        b.run("lock", cwd=any_python)
        no_op = [b.time("lock", cwd=any_python) for _ in range(args.runs + 2)][2:]
        limit("no-op lock, no python =", statistics.median(no_op), 150)

        venv = b.home / "envs" / "demo" / "current" / "venv"
        t_run, t_py = medians([([b.mlstack, "env", "run", "demo", "--", "python", "-c", "pass"],
                                b.env), ([str(venv / "bin" / "python"), "-c", "pass"], b.env)],
                              args.runs * 3)
        limit("env run overhead", t_run - t_py, 25,
              f" ({t_run * 1000:.1f} ms vs python's {t_py * 1000:.1f} ms)")

        count = len(list((b.home / "envs").iterdir()))
        for i in range(count, 100):
            b.run("env", "create", "demo", "--name", f"fill-{i}", "--lock", str(lock), "-q")
        assert len(list((b.home / "envs").iterdir())) >= 100
        (t_list,) = medians([([b.mlstack, "env", "list"], b.env)], args.runs)
        limit("env list, 100 envs", t_list, 150)
        t_version, t_pass = medians([([b.mlstack, "--version"], b.env),
                                     ([sys.executable, "-c", "pass"], b.env)], args.runs * 3)
        # Last: each round writes ~4 GB, and the disk stays busy flushing it for a while,
        # which would slow whatever is measured after it.
        if args.torch_wheel:
            tlock = torch_lock(base / "torch.lock", args.torch_wheel, index)
            ratio("store miss, torch wheel", *b.miss(tlock, args.torch_runs), 1.1)

    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.2f}")
    how = ("the dev venv's (pip's launcher, editable)" if args.dev_venv
           else "installed by uv from a wheel, as users install it")
    print(f"uv {uv.version()}; {args.runs} runs per command (torch: {args.torch_runs}), "
          f"alternating, medians; byte-compiled: {not args.no_compile}; mlstack: {how}")
    for name, text, ok in results:
        print(f"{name:<26} {text:<58} {'met' if ok else 'NOT MET'}")
    print(f"{'(info) --version':<26} {t_version * 1000:.1f} ms vs python -c pass "
          f"{t_pass * 1000:.1f} ms")
    return 0 if all(ok for *_, ok in results) else 1


if __name__ == "__main__":
    sys.exit(main())

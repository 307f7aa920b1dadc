"""Every fixed-cost target (issue 14 item 7, issue 22), measured in one run, each met or not.

    .venv/bin/python benchmarks/bench_targets.py [--runs 15] [--torch-wheel PATH]

Targets (medians; two commands compared are run alternately in the same run, and a
difference or ratio is taken between those medians):

- store miss, small wheels: ``mlstack env create demo --lock L`` (uv cache warm, entry
  absent) <= +60 ms over ``uv sync --frozen`` of the same packages into a fresh env;
- store miss, torch-sized (``--torch-wheel PATH``: PyPI's real torch wheel, ~900 MB,
  ~15k files, ~4 GB unpacked, dependencies left out) <= 1.1x ``uv sync --frozen``;
- store hit (``env create demo --name N --lock L``, the store holds the entry) <= 50 ms;
- up-to-date create (``env create demo --lock L`` again: nothing to do) <= 40 ms;
- ``mlstack --help`` <= 60 ms; ``mlstack diff A B`` and ``mlstack tree --lock A …`` of
  16-target locks <= 80 ms;
- ``mlstack env run demo -- python -c pass`` <= 20 ms over ``<env>/bin/python -c pass``,
  and the same without ``MLSTACK_HOME``, in the default home (``~/.local/share/mlstack``);
- no-op ``mlstack lock`` <= 150 ms, with and without ``python =``; ``env list`` with 100
  envs <= 150 ms (issue 14).

Each line also shows CPU time (user + system of the command and its children, median):
on a loaded machine it moves much less than wall time. An ``(info)`` line splits a small
store miss into its ``uv pip sync`` (timed by a bash wrapper as ``MLSTACK_UV``) and
mlstack's own part.

Each round of a store miss and of its peer starts from a quiet disk (``os.sync()``,
untimed): deleting and linking 15k files leaves the kernel busy for a while, and whichever
side ran next was slowed by the other's leftovers (the torch-sized ratio moved between
1.0x and 2x from one run to the next).

The peer ``uv sync --frozen`` installs a uv project (``pyproject.toml`` + ``uv.lock``,
locked once per run against the same loopback index; each package from its own index and
without requirements of its own, so exactly the entry's packages) into a new directory
each round, with the same uv, interpreter and warm uv cache as mlstack.

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
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from timing import install_like_users, machine, medians, mlstack_script, time_cpu

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from mlstack_env import uv  # noqa: E402
from mlstack_env.lockfile import LockedPackage, Wheel, map_url, read_lock  # noqa: E402
from tests import machines  # noqa: E402
from tests.envfixtures import torch_entry, write_lock  # noqa: E402
from tests.wheelindex import PYPI, PYTORCH, WheelIndex, serve, write_project  # noqa: E402

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
    its canonical download.pytorch.org URL (the index maps that prefix to itself), with a
    project page there."""
    served = index.root / "pytorch" / "whl" / TORCH_INDEX / wheel.name
    served.parent.mkdir(parents=True, exist_ok=True)
    if not served.exists():
        served.symlink_to(wheel.resolve())
    digest = hashlib.sha256()
    with wheel.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    version = wheel.name.split("-")[1]
    # Its project page, for the peer's `uv lock` (mlstack fetches the locked URL itself).
    page = served.parent / "torch" / "index.html"
    page.parent.mkdir(exist_ok=True)
    page.write_text(f'<html><body><a href="../{wheel.name}#sha256={digest.hexdigest()}">'
                    f"{wheel.name}</a></body></html>\n")
    torch = LockedPackage("torch", version, f"{PYTORCH}whl/{TORCH_INDEX}", (Wheel(
        f"{PYTORCH}whl/{TORCH_INDEX}/{wheel.name}", digest.hexdigest(), wheel.stat().st_size),))
    entry = torch_entry("demo", "rocm6.4:gfx1100", python="3.11")
    packages = tuple(torch if p.name == "torch" else p for p in entry.packages)
    return write_lock(path, [replace(entry, packages=packages)])


Sample = tuple[float, float]  # wall, CPU seconds
Runner = Callable[[], Sample]


def median2(samples: list[Sample]) -> Sample:
    return (statistics.median(w for w, _ in samples), statistics.median(c for _, c in samples))


PEER_PROJECT = """[project]
name = "peer"
version = "0"
requires-python = "=={python}.*"
dependencies = [{deps}]

[tool.uv]
package = false
environments = ["sys_platform == 'linux' and platform_machine == 'x86_64'"]
{indexes}
[[tool.uv.index]]
url = "{pypi}"
default = true

[tool.uv.sources]
{sources}
{metadata}"""

PEER_INDEX = """
[[tool.uv.index]]
name = "{name}"
url = "{url}"
explicit = true
"""

# Each package installed as the entry holds it, without its own requirements: the lock
# entry already lists every package (the torch-sized one leaves PyPI torch's out).
PEER_METADATA = """
[[tool.uv.dependency-metadata]]
name = "{name}"
version = "{version}"
requires-dist = []
"""


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
        self.uv = str(uv.binary())

    def run(self, *args: str, cwd: Path | None = None) -> None:
        subprocess.run([self.mlstack, *args], env=self.env, check=True, capture_output=True,
                       cwd=cwd)

    def time(self, *args: str, cwd: Path | None = None) -> Sample:
        return time_cpu([self.mlstack, *args], self.env, cwd)

    def peer_project(self, lock: Path, name: str) -> tuple[Path, str]:
        """A uv project of the entry mlstack picks (rocm6.4:gfx1100), locked by uv
        against the same loopback index; (its directory, the interpreter)."""
        entry = next(e for e in read_lock(lock).entries if str(e.target) == "rocm6.4:gfx1100")
        project = self.base / f"peer-{name}"
        project.mkdir()
        # One explicit index per index of the entry's packages (torch's and Triton's
        # differ in the torch-sized lock), each package taken from its own.
        others = sorted({p.index for p in entry.packages if p.index and p.index != PYPI})
        names = {index: f"index{n}" for n, index in enumerate(others)}
        indexes = "".join(PEER_INDEX.format(name=names[i], url=map_url(i, self.index.mirrors))
                          for i in others)
        deps = ", ".join(f'"{p.name}=={p.version}"' for p in entry.packages)
        sources = "\n".join(f'{p.name} = {{ index = "{names[p.index]}" }}'
                            for p in entry.packages if p.index in names)
        metadata = "".join(PEER_METADATA.format(name=p.name, version=p.version)
                           for p in entry.packages)
        (project / "pyproject.toml").write_text(PEER_PROJECT.format(
            python=entry.python, deps=deps, indexes=indexes, pypi=self.index.mirrors[PYPI],
            sources=sources, metadata=metadata))
        python = str(uv.find_python(entry.python))
        subprocess.run([self.uv, "lock", "--quiet", "--python", python], cwd=project,
                       env=self.uv_env, check=True)
        return project, python

    def uv_sync(self, project: Path, python: str, fresh: bool = True) -> Runner:
        """``uv sync --frozen`` into a new directory each round (``fresh``), or again into
        the same env (nothing to do)."""
        same = self.plain_root / f"same-{project.name}"

        def once() -> Sample:
            if fresh:
                for old in self.plain_root.iterdir():
                    if not old.name.startswith("same-"):
                        shutil.rmtree(old)
            venv = (Path(tempfile.mkdtemp(dir=self.plain_root)) / "venv") if fresh else same
            env = self.uv_env | {"UV_PROJECT_ENVIRONMENT": str(venv)}
            os.sync()  # what the last round wrote or removed is on disk before this one
            return time_cpu([self.uv, "sync", "--frozen", "--quiet", "--python", python],
                            env, project)

        return once

    def alternate(self, a: Runner, b: Runner, runs: int) -> tuple[Sample, Sample]:
        for _ in range(2):
            a()
            b()
        ta, tb = [], []
        for _ in range(runs):
            ta.append(a())
            tb.append(b())
        return median2(ta), median2(tb)

    def alone(self, a: Runner, runs: int) -> Sample:
        for _ in range(2):
            a()
        return median2([a() for _ in range(runs)])

    def miss(self, lock: Path, peer: Runner, runs: int) -> tuple[Sample, Sample]:
        def create() -> Sample:
            os.sync()  # as before the peer's round: the disk is not still busy with the last
            t = self.time("env", "create", "demo", "--lock", str(lock), "--json")
            self.run("env", "remove", "demo")
            self.run("gc")
            return t

        return self.alternate(create, peer, runs)

    def miss_split(self, lock: Path, runs: int) -> tuple[Sample, Sample]:
        """Medians of a store miss and of its uv run within it, each (wall, CPU): uv
        timed by a bash wrapper (``MLSTACK_UV``) around it, its CPU from bash's
        ``times``. Not alternated with anything: the share of uv, not a target."""
        log = self.base / "uv-times.log"
        wrapper = self.base / "uv-timed"
        # `times` in the shell itself (not in a pipe or $(…), a subshell): its second
        # line is the user and system time of the shell's children, uv.
        wrapper.write_text(f'#!/bin/bash\ns=$EPOCHREALTIME\n"{self.uv}" "$@"\nrc=$?\n'
                           f'echo "$s $EPOCHREALTIME" >> "{log}"\ntimes >> "{log}"\n'
                           "exit $rc\n")
        wrapper.chmod(0o755)
        env = self.env | {"MLSTACK_UV": str(wrapper)}
        totals, uvs = [], []
        for n in range(runs + 2):
            log.unlink(missing_ok=True)
            os.sync()
            t = time_cpu([self.mlstack, "env", "create", "demo", "--lock", str(lock), "--json"],
                         env)
            stamps, _, children = log.read_text().splitlines()[-3:]
            (start, end), (user, system) = stamps.split(), children.split()
            self.run("env", "remove", "demo")
            self.run("gc")
            if n >= 2:  # the first asks the wrapper's version; both warm up
                totals.append(t)
                uvs.append((float(end) - float(start), _seconds(user) + _seconds(system)))
        return median2(totals), median2(uvs)


def _seconds(times: str) -> float:
    """``0m0.012s`` (bash's ``times``) in seconds."""
    minutes, _, seconds = times.rstrip("s").partition("m")
    return int(minutes) * 60 + float(seconds)


def sixteen_target_locks(base: Path) -> tuple[Path, Path]:
    """Two locks of 16 entries (4 ROCm releases x 4 GPUs); the second adds numpy to
    every entry and a variable to half of them, as a re-lock does."""
    targets = [f"{r}:{g}" for r in ("rocm6.4", "rocm6.3", "rocm7.0", "rocm7.1")
               for g in ("gfx1100", "gfx1031", "gfx942", "gfx90a")]
    old = [torch_entry("demo", t) for t in targets]
    new = [torch_entry("demo", t, extra=("numpy",),
                       env={"HSA_XNACK": "1"} if i % 2 else None)
           for i, t in enumerate(targets)]
    return write_lock(base / "a.lock", old), write_lock(base / "b.lock", new)


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

    def ms(t: Sample) -> str:
        return f"{t[0] * 1000:.0f} ms (cpu {t[1] * 1000:.0f})"

    def over(name: str, a: Sample, b: Sample, target_ms: float, peer: str) -> None:
        d = (a[0] - b[0]) * 1000
        results.append((name, f"{ms(a)} vs {peer} {ms(b)} = {d:+.0f} ms "
                              f"(cpu {(a[1] - b[1]) * 1000:+.0f}) (target <= +{target_ms:.0f})",
                        d <= target_ms))

    def ratio(name: str, a: Sample, b: Sample, target: float, peer: str) -> None:
        r = a[0] / b[0]
        results.append((name, f"{ms(a)} vs {peer} {ms(b)} = {r:.2f}x (target <= {target}x)",
                        r <= target))

    def limit(name: str, t: Sample, target_ms: float, extra: str = "") -> None:
        results.append((name, f"{ms(t)}{extra} (target <= {target_ms:.0f} ms)",
                        t[0] * 1000 <= target_ms))

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
        project, python = b.peer_project(lock, "small")
        fresh_sync = b.uv_sync(project, python)
        miss = b.miss(lock, fresh_sync, args.runs)
        over("store miss, small wheels", *miss, 60, "uv sync --frozen")
        total, in_uv = b.miss_split(lock, args.runs)
        split = (f"{ms(total)}, of it uv pip sync {ms(in_uv)}, mlstack's own "
                 f"{ms((total[0] - in_uv[0], total[1] - in_uv[1]))}")

        b.run("env", "create", "demo", "--lock", str(lock))
        n = iter(range(10**6))
        hit, peer = b.alternate(
            lambda: b.time("env", "create", "demo", "--name", f"hit-{next(n)}", "--lock",
                           str(lock), "--json"), fresh_sync, args.runs)
        limit("store hit", hit, 50, f"; uv sync --frozen, fresh env, {ms(peer)}")
        b.uv_sync(project, python, fresh=False)()
        same, noop = b.alternate(lambda: b.time("env", "create", "demo", "--lock", str(lock)),
                                 b.uv_sync(project, python, fresh=False), args.runs)
        limit("up-to-date create", same, 40, f"; uv sync --frozen no-op {ms(noop)}")

        help_, uv_help = b.alternate(lambda: b.time("--help"),
                                     lambda: time_cpu([b.uv, "--help"], b.env), args.runs)
        limit("--help", help_, 60, f"; uv --help {ms(uv_help)}")
        old, new = sixteen_target_locks(base)
        diff = b.alone(lambda: b.time("diff", str(old), str(new)), args.runs)
        limit("diff, 16-target locks", diff, 80)
        tree, uv_tree = b.alternate(
            lambda: b.time("tree", "--lock", str(old), "--target", "rocm6.4:gfx1100"),
            lambda: time_cpu([b.uv, "tree", "--frozen", "--quiet", "--python", python], b.uv_env,
                             project),
            args.runs)
        limit("tree --lock, 16 targets", tree, 80, f"; uv tree --frozen {ms(uv_tree)}")

        venv = b.home / "envs" / "demo" / "current" / "venv"
        run, py = b.alternate(
            lambda: time_cpu([b.mlstack, "env", "run", "demo", "--", "python", "-c", "pass"],
                             b.env),
            lambda: time_cpu([str(venv / "bin" / "python"), "-c", "pass"], b.env),
            args.runs * 2)
        over("env run overhead", run, py, 20, "python -c pass")
        # As users run it, without MLSTACK_HOME: ~/.local/share/mlstack, linked to the home.
        user = base / "user"
        (user / ".local" / "share").mkdir(parents=True)
        (user / ".local" / "share" / "mlstack").symlink_to(b.home)
        user_env = {k: v for k, v in b.env.items()
                    if k not in ("MLSTACK_HOME", "MLSTACK_CONFIG") and not k.startswith("XDG_")}
        user_env["HOME"] = str(user)
        run, py = b.alternate(
            lambda: time_cpu([b.mlstack, "env", "run", "demo", "--", "python", "-c", "pass"],
                             user_env),
            lambda: time_cpu([str(venv / "bin" / "python"), "-c", "pass"], user_env),
            args.runs * 2)
        over("env run overhead, default home", run, py, 20, "python -c pass")

        project_dir = base / "project"
        write_project(project_dir, profiles={"ml": ["torch"]}, targets=["rocm6.4:gfx1100"])
        b.run("lock", cwd=project_dir)
        limit("no-op lock", b.alone(lambda: b.time("lock", cwd=project_dir), args.runs), 150)
        # The same without `python =` in mlstack.toml: mlstack picks the Python itself.
        any_python = base / "project-any-python"
        write_project(any_python, profiles={"ml": ["torch"]}, targets=["rocm6.4:gfx1100"],
                      python=None)
        b.run("lock", cwd=any_python)
        limit("no-op lock, no python =",
              b.alone(lambda: b.time("lock", cwd=any_python), args.runs), 150)

        count = len(list((b.home / "envs").iterdir()))
        for i in range(count, 100):
            b.run("env", "create", "demo", "--name", f"fill-{i}", "--lock", str(lock), "-q")
        assert len(list((b.home / "envs").iterdir())) >= 100
        limit("env list, 100 envs", b.alone(lambda: b.time("env", "list"), args.runs), 150)
        t_version, t_pass = medians([([b.mlstack, "--version"], b.env),
                                     ([sys.executable, "-c", "pass"], b.env)], args.runs * 3)
        # Last: each round writes ~4 GB, and the disk stays busy flushing it for a while,
        # which would slow whatever is measured after it.
        if args.torch_wheel:
            tlock = torch_lock(base / "torch.lock", args.torch_wheel, index)
            tproject, tpython = b.peer_project(tlock, "torch")
            ratio("store miss, torch wheel",
                  *b.miss(tlock, b.uv_sync(tproject, tpython), args.torch_runs), 1.1,
                  "uv sync --frozen")

    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.2f}")
    how = ("the dev venv's (pip's launcher, editable)" if args.dev_venv
           else "installed by uv from a wheel, as users install it")
    print(f"uv {uv.version()}; {args.runs} runs per command (torch: {args.torch_runs}), "
          f"alternating, medians; byte-compiled: {not args.no_compile}; mlstack: {how}")
    for name, text, ok in results:
        print(f"{name:<25} {text} {'met' if ok else 'NOT MET'}")
    print(f"{'(info) --version':<25} {t_version * 1000:.1f} ms vs python -c pass "
          f"{t_pass * 1000:.1f} ms")
    print(f"{'(info) small miss':<25} {split} (uv timed by a wrapper)")
    return 0 if all(ok for *_, ok in results) else 1


if __name__ == "__main__":
    sys.exit(main())

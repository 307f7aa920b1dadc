"""A 1 GB wheel downloaded on loopback: mlstack's own download (issue 22) against uv's.

    .venv/bin/python benchmarks/bench_download.py [--size-mb 1024] [--runs 3] [--wheel PATH]

Target: ``mlstack env create`` of a lock holding one 1 GB wheel, every cache empty
(mlstack downloads the file into its cache, then uv installs it from there), within
1.1x of raw uv doing the same from the URL with an empty cache (``uv venv`` + ``uv pip
sync`` of the same pylock: uv downloads, unpacks and links in one stream). Both fetch
the same file from the same loopback server (tests/wheelindex.py, full speed), alternately,
one cold round each per run; medians. Also printed: mlstack's download alone (the file
into its cache, no install) beside curl's (``curl -o`` of the same URL into a file, when
curl is installed: the download's peer), and a resume after a kill at 50% (bytes
fetched in all).

``--wheel PATH`` measures a real wheel instead (PyPI's torch 2.9.1 for cp311: ~900 MB,
15k files, 4 GB unpacked; ``pip download --no-deps --only-binary :all: torch==2.9.1
--python-version 3.11 -d /tmp/torchwheel``, never committed), served from where it is.
Otherwise the wheel is built in a temporary directory (random bytes, stored uncompressed, like the
bulk of a ROCm wheel's shared libraries: zip deflate gains little on them) and removed
at the end; each round writes about 3 GB (the file, uv's unpacked copy, the env's links).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from timing import machine, mlstack_script

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from mlstack_env import uv  # noqa: E402
from mlstack_env.catalog.target import Target  # noqa: E402
from mlstack_env.lockfile import LockedPackage, LockEntry, Wheel, read_lock, to_pylock  # noqa: E402
from tests import machines  # noqa: E402
from tests.envfixtures import PLATFORM, write_lock  # noqa: E402
from tests.wheelindex import FILES, serve  # noqa: E402

PYTHON = f"{sys.version_info[0]}.{sys.version_info[1]}"


def build_big_wheel(directory: Path, size: int) -> Path:
    """``bigblob-1.0-py3-none-any.whl`` with ``size`` random bytes in one stored member."""
    name = "mlbigblob-1.0-py3-none-any.whl"
    path = directory / name
    blob = hashlib.sha256()
    records = []
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        init = b"X = 1\n"
        zf.writestr("mlbigblob/__init__.py", init)
        records.append(("mlbigblob/__init__.py", init))
        info = zipfile.ZipInfo("mlbigblob/blob.bin", date_time=(2020, 2, 2, 0, 0, 0))
        with zf.open(info, "w", force_zip64=True) as out:
            left = size
            while left:
                chunk = os.urandom(min(left, 8 << 20))
                blob.update(chunk)
                out.write(chunk)
                left -= len(chunk)
        meta = b"Metadata-Version: 2.1\nName: mlbigblob\nVersion: 1.0\n"
        wheel = b"Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        zf.writestr("mlbigblob-1.0.dist-info/METADATA", meta)
        zf.writestr("mlbigblob-1.0.dist-info/WHEEL", wheel)
        record = io.StringIO()
        for p, data in [*records, ("mlbigblob-1.0.dist-info/METADATA", meta),
                        ("mlbigblob-1.0.dist-info/WHEEL", wheel)]:
            record.write(f"{p},sha256={_b64(hashlib.sha256(data).digest())},{len(data)}\n")
        record.write(f"mlbigblob/blob.bin,sha256={_b64(blob.digest())},{size}\n")
        record.write("mlbigblob-1.0.dist-info/RECORD,,\n")
        zf.writestr("mlbigblob-1.0.dist-info/RECORD", record.getvalue())
    return path


def _b64(digest: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--wheel", type=Path, help="a real wheel to serve (cp311 torch)")
    parser.add_argument("--no-resume", action="store_true", help="skip the kill at 50%%")
    args = parser.parse_args()
    mlstack = mlstack_script()
    uv_bin = str(uv.binary())
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="bench-download-") as tmp:
        base = Path(tmp)
        with serve(base / "index") as index:
            served = index.root / "files" / "packages" / "bb"
            served.mkdir(parents=True, exist_ok=True)
            if args.wheel:
                wheel_path = served / args.wheel.name
                wheel_path.symlink_to(args.wheel.resolve())
            else:
                wheel_path = build_big_wheel(served, args.size_mb << 20)
            dist, version = wheel_path.name.split("-")[:2]
            size = wheel_path.stat().st_size
            wheel = Wheel(f"{FILES}packages/bb/{wheel_path.name}", file_sha256(wheel_path), size)
            entry = LockEntry(profile="big", target=Target.parse("rocm6.4:gfx1100"),
                              python=PYTHON, platform=PLATFORM,
                              packages=(LockedPackage(dist, version, None,  # by its URL
                                                      (wheel,)),),
                              env={}, inputs_hash="sha256:" + "0" * 64)
            lock = write_lock(base / "mlstack.lock", [entry])
            config = index.write_config(base / "config.toml")
            root = machines.MACHINES["7900xtx"](base / "machine")
            home = base / "home"
            env = {k: v for k, v in os.environ.items() if not k.startswith(("MLSTACK_", "UV_"))}
            env |= {"MLSTACK_HOME": str(home), "MLSTACK_CONFIG": str(config),
                    "MLSTACK_ROOT": str(root), "NO_COLOR": "1"}
            uv_cache = base / "uv-cache"
            uv_env = env | {"UV_CACHE_DIR": str(uv_cache), "UV_PYTHON_DOWNLOADS": "never",
                            "UV_NO_PROGRESS": "1", "UV_LINK_MODE": "hardlink"}
            pylock = base / "pylock.toml"
            locked = read_lock(lock).entries[0]
            pylock.write_text(to_pylock(locked, url_map=index.mirrors), encoding="utf-8")
            python = shutil.which(f"python{PYTHON}") or sys.executable

            def raw_uv() -> float:
                shutil.rmtree(uv_cache, ignore_errors=True)
                venv = base / "raw-venv"
                shutil.rmtree(venv, ignore_errors=True)
                start = time.perf_counter()
                subprocess.run([uv_bin, "venv", "--quiet", "--relocatable", "--python",
                                python, str(venv)], env=uv_env, check=True)
                subprocess.run([uv_bin, "pip", "sync", "--python", str(venv / "bin/python"),
                                "--preview-features", "pylock", "--no-index", str(pylock)],
                               env=uv_env, check=True, capture_output=True)
                return time.perf_counter() - start

            steps: list[str] = []  # the last cold create's steps and their times

            def cold_create() -> float:
                shutil.rmtree(home, ignore_errors=True)
                start = time.perf_counter()
                done = subprocess.run([mlstack, "env", "create", "big", "--lock", str(lock)],
                                      env=env, check=True, capture_output=True, text=True)
                steps[:] = [line for line in done.stderr.splitlines() if " done in " in line]
                return time.perf_counter() - start

            def download_only() -> float:
                shutil.rmtree(home, ignore_errors=True)
                code = ("from mlstack_env.fetch import download as d; "
                        "from mlstack_env.fetch.config import load_config; "
                        "from mlstack_env.lockfile import Wheel; c = load_config(); "
                        f"w = Wheel({wheel.url!r}, {wheel.sha256!r}, {size}); "
                        "d.fetch_all([d.want(w, '', c.mirrors)], "
                        "settings=d.settings_from(c.downloads))")
                start = time.perf_counter()
                subprocess.run([sys.executable, "-c", code], env=env, check=True)
                return time.perf_counter() - start

            curl = shutil.which("curl") or ""

            def curl_only() -> float:
                """The same file into a file by curl: the download's peer (no hash)."""
                out = base / "curl.whl"
                start = time.perf_counter()
                subprocess.run([curl, "--silent", "--fail", "--output", str(out),
                                index.mirrors[FILES] + wheel.url[len(FILES):]],
                               check=True)
                took = time.perf_counter() - start
                out.unlink()
                return took

            raw_uv()  # warm: the interpreter query, the page cache of the served file
            cold_create()
            samples: dict[str, list[float]] = {"uv": [], "mlstack": [], "download": []}
            if curl:
                samples["curl"] = []
            for _ in range(args.runs):
                samples["uv"].append(raw_uv())
                samples["mlstack"].append(cold_create())
                samples["download"].append(download_only())
                if curl:
                    samples["curl"].append(curl_only())
            med = {k: statistics.median(v) for k, v in samples.items()}
            mb = size / 1e6
            print(f"uv {uv.version()}; {args.runs} cold rounds each, alternating, medians; "
                  f"wheel {size / (1 << 20):.0f} MiB")
            ratio = med["mlstack"] / med["uv"]
            verdict = "met" if ratio <= 1.1 else "NOT MET"
            print(f"cold create of a {mb:.0f} MB wheel  mlstack {med['mlstack']:.2f} s vs "
                  f"uv venv + pip sync {med['uv']:.2f} s = {ratio:.2f}x (target <= 1.1x)  "
                  f"{verdict}")
            print(f"  mlstack's download alone      {med['download']:.2f} s "
                  f"({mb / med['download']:.0f} MB/s, sha256 checked, into its cache)")
            if curl:
                print(f"  curl's download into a file   {med['curl']:.2f} s "
                      f"({mb / med['curl']:.0f} MB/s, no hash, no fsync)")
            print("  samples: " + "; ".join(f"{k} " + " ".join(f"{s:.2f}" for s in v)
                                            for k, v in samples.items()))
            print("  the last cold create's steps:\n" + "\n".join(f"    {s}" for s in steps))
            if args.wheel:
                warm_miss(mlstack, env, base, uv_bin, python, wheel=wheel, lock=lock,
                          runs=args.runs, mirrors=index.mirrors)
            if not args.no_resume:
                resume(mlstack, env, home, index, wheel=wheel, lock=lock)


PEER = """[project]
name = "peer"
version = "0"
requires-python = ">={python}"
dependencies = ["{dist} @ {url}"]

[tool.uv]
package = false
"""


def warm_miss(mlstack: str, env: dict[str, str], base: Path, uv_bin: str, python: str, *,
              wheel: Wheel, lock: Path, runs: int, mirrors: dict[str, str]) -> None:
    """The store miss with every cache warm (the files in mlstack's cache, the wheel
    unpacked in uv's): ``env create`` of a new store entry against ``uv sync --frozen``
    into a new directory, sharing mlstack's uv cache; both link the wheel's files."""
    home = Path(env["MLSTACK_HOME"])
    url = next((target + wheel.url[len(prefix):] for prefix, target in mirrors.items()
                if wheel.url.startswith(prefix)), wheel.url)
    project = base / "peer"
    project.mkdir(exist_ok=True)
    dist = wheel.url.rsplit("/", 1)[-1].split("-")[0]
    (project / "pyproject.toml").write_text(PEER.format(python=PYTHON, dist=dist, url=url))
    uv_env = {k: v for k, v in env.items() if not k.startswith("UV_")}
    uv_env |= {"UV_CACHE_DIR": str(home / "cache" / "uv"), "UV_PYTHON_DOWNLOADS": "never",
               "UV_NO_PROGRESS": "1"}
    subprocess.run([uv_bin, "lock", "--quiet", "--python", python], cwd=project, env=uv_env,
                   check=True)
    envs = base / "peer-envs"

    steps: list[str] = []

    def create() -> float:
        start = time.perf_counter()
        done = subprocess.run([mlstack, "env", "create", "big", "--lock", str(lock)],
                              env=env, check=True, capture_output=True, text=True)
        took = time.perf_counter() - start
        steps[:] = [line for line in done.stderr.splitlines() if " done in " in line]
        for command in (["env", "remove", "big"], ["gc"]):
            subprocess.run([mlstack, *command], env=env, check=True, capture_output=True)
        return took

    def sync() -> float:
        shutil.rmtree(envs, ignore_errors=True)
        start = time.perf_counter()
        subprocess.run([uv_bin, "sync", "--frozen", "--quiet", "--python", python],
                       cwd=project, env=uv_env | {"UV_PROJECT_ENVIRONMENT": str(envs)},
                       check=True)
        return time.perf_counter() - start

    create()  # warm: mlstack's file cache and uv's unpacked copy of it
    sync()  # warm: uv's unpacked copy under the URL it locked
    samples: dict[str, list[float]] = {"mlstack": [], "uv": []}
    for _ in range(runs):
        samples["mlstack"].append(create())
        samples["uv"].append(sync())
    ml, peer = (statistics.median(samples[k]) for k in ("mlstack", "uv"))
    print(f"store miss, caches warm ({wheel.url.rsplit('/', 1)[-1]})  mlstack env create "
          f"{ml:.2f} s vs uv sync --frozen {peer:.2f} s = {ml / peer:.2f}x (target <= 1.1x)  "
          f"{'met' if ml / peer <= 1.1 else 'NOT MET'}")
    print("  samples: " + "; ".join(f"{k} " + " ".join(f"{s:.2f}" for s in v)
                                    for k, v in samples.items()))
    print("  the last warm create's steps:\n" + "\n".join(f"    {s}" for s in steps))
    shutil.rmtree(envs, ignore_errors=True)


def resume(mlstack: str, env: dict[str, str], home: Path, index: object, *, wheel: Wheel,
           lock: Path) -> None:
    """Kill a create at 50% of the file, run it again: bytes served in all."""
    from tests.wheelindex import WheelIndex

    assert isinstance(index, WheelIndex)
    assert wheel.size is not None
    shutil.rmtree(home, ignore_errors=True)
    index.throttle(200 << 20)
    part = home / "cache" / "files" / wheel.sha256 / ".part"
    start = len(index.log)
    child = subprocess.Popen([mlstack, "env", "create", "big", "--lock", str(lock)], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while (not part.exists() or part.stat().st_size < wheel.size // 2) and child.poll() is None:
        time.sleep(0.005)
    child.send_signal(signal.SIGKILL)
    child.wait()
    kept = part.stat().st_size
    name = wheel.url.rsplit("/", 1)[-1]
    while not any(s.path.endswith(name) for s in index.log[start:]):
        time.sleep(0.01)  # the server notes the killed response at its next write
    index.throttle(None)
    before = len(index.log)
    subprocess.run([mlstack, "env", "create", "big", "--lock", str(lock)], env=env, check=True,
                   capture_output=True)
    all_sent = sum(s.sent for s in index.log[start:] if s.path.endswith(name))
    second = [s for s in index.log[before:] if s.path.endswith(name)]
    again = sum(s.sent for s in second)
    share = again / wheel.size
    print(f"resume after a kill at {kept / wheel.size:.0%}: the next run asked "
          f"{second[0].range} and fetched {share:.1%} of the file; served in all "
          f"{all_sent / wheel.size:.3f}x the file (target: <= 55% on the next run)  "
          f"{'met' if share <= 0.55 else 'NOT MET'}")


if __name__ == "__main__":
    main()

"""The exported recipes, built by a real engine: Debian's docker.io, a private dockerd
(``--bridge=none --iptables=false``, vfs storage, its own data-root and socket under a
temp dir, stopped by PID), FROM a Debian bookworm base made once with debootstrap
(`.ci/real/containers.sh`, cached under .real/containers/). The build reaches the
loopback index through ``--network host`` and the MLSTACK_MIRRORS build argument; then
``import torch`` (the index's stand-in) runs in the image, whose installed files equal the
store entry's. hadolint reads every Dockerfile mlstack writes. Apptainer is not
installable here: its definition is checked statically (sections, shell syntax).

The base image has Python 3.11 (bookworm's), so the entries are locked for 3.11. The uv
stage (``FROM ghcr.io/astral-sh/uv:<pinned>``; ghcr.io is unreachable here) is an image
this fixture builds from the pinned uv binary, under the same name.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mlstack_env import uv
from tests.envfixtures import catalog_recipe, torch_entry
from tests.real import components
from tests.real.installed import SCRIPT as INSTALLED_SCRIPT
from tests.real.installed import installed_files
from tests.wheelindex import WheelIndex

pytest_plugins = ["tests.wheelindex"]
pytestmark = pytest.mark.xdist_group("dockerd")

Cli = Callable[..., subprocess.CompletedProcess[str]]
REPO = Path(__file__).resolve().parents[2]
REAL = REPO / ".real" / "containers"
BASE_TAR = REAL / "bookworm-python3.tar"
BASE = "mlstack-real/debian:bookworm"
DOCKER = "/usr/bin/docker"
DOCKERD = "/usr/sbin/dockerd"
HADOLINT = REAL / "hadolint" / "bin" / "hadolint"
BUILDAH = "/usr/bin/buildah"
LOCAL_BASE = f"localhost/{BASE}"  # buildah: a name no registry is asked for
SECTIONS = {"arguments", "files", "post", "environment", "labels"}


@dataclass(frozen=True)
class Docker:
    socket: str

    def __call__(self, *args: str, timeout: int = 900) -> subprocess.CompletedProcess[str]:
        return subprocess.run([DOCKER, "-H", f"unix://{self.socket}", *args],
                              capture_output=True, text=True, check=False, timeout=timeout,
                              env={**os.environ, "DOCKER_BUILDKIT": "0"})


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


def _start(top: Path, driver: str) -> tuple[subprocess.Popen[bytes], Docker, str]:
    """dockerd with ``driver`` storage; its error text when it did not come up."""
    data = top / driver
    data.mkdir()
    log_path = data / "dockerd.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [DOCKERD, "--data-root", str(data / "data"), "--exec-root", str(data / "exec"),
             "--pidfile", str(data / "dockerd.pid"), "--host", f"unix://{data}/docker.sock",
             "--bridge=none", "--iptables=false", "--ip6tables=false",
             f"--storage-driver={driver}"], stdout=log, stderr=subprocess.STDOUT)
    engine = Docker(f"{data}/docker.sock")
    deadline = time.monotonic() + 120
    while engine("version").returncode != 0:
        if proc.poll() is not None or time.monotonic() > deadline:
            _stop(proc)
            return proc, engine, log_path.read_text(errors="replace")[-2000:]
        time.sleep(0.5)
    return proc, engine, ""


@pytest.fixture(scope="session")
def docker() -> Iterator[Docker]:
    """A private dockerd for the session, with the base and the uv stage imported:
    overlay2 storage where the kernel allows it here, else vfs (slower, works anywhere)."""
    for what, path in (("dockerd", Path(DOCKERD)), ("debootstrap", BASE_TAR)):
        if not path.exists():
            components.need(what, f"{path} is missing")
    # A short path: the socket's must fit in sun_path (108 bytes).
    top = Path(tempfile.mkdtemp(prefix="mlstack-dockerd-"))
    proc: subprocess.Popen[bytes] | None = None
    try:
        errors = []
        for driver in ("overlay2", "vfs"):
            proc, engine, error = _start(top, driver)
            if not error:
                break
            errors.append(f"{driver}: {error}")
        else:
            components.need("dockerd", "dockerd did not start: " + "; ".join(errors))
        done = engine("import", str(BASE_TAR), BASE)
        assert done.returncode == 0, done.stderr
        uv_ctx = top / "uv-stage"
        uv_ctx.mkdir()
        shutil.copy(uv.binary(), uv_ctx / "uv")
        (uv_ctx / "Dockerfile").write_text("FROM scratch\nCOPY uv /uv\n", encoding="utf-8")
        done = engine("build", "-q", "-t", f"ghcr.io/astral-sh/uv:{uv.PINNED_VERSION}",
                      str(uv_ctx))
        assert done.returncode == 0, done.stderr
        yield engine
    finally:
        if proc is not None:
            _stop(proc)
        _unmount_under(top)
        shutil.rmtree(top)


def _unmount_under(top: Path) -> None:
    """What dockerd leaves mounted under its roots (the default network namespace at
    exec-root/netns/default stays bound after it exits), deepest first."""
    prefix = f"{top}/"
    mounts = Path("/proc/self/mounts").read_text(encoding="utf-8").splitlines()
    points = [line.split()[1] for line in mounts]
    for point in sorted((p for p in points if p.startswith(prefix)), key=len, reverse=True):
        subprocess.run(["umount", point], check=True, timeout=60)


def hadolint(dockerfile: Path) -> None:
    if not HADOLINT.exists():
        components.need("hadolint", f"{HADOLINT} is missing")
    r = subprocess.run([str(HADOLINT), "--no-color", str(dockerfile)], capture_output=True,
                       text=True, check=False, timeout=120)
    assert (r.returncode, r.stdout, r.stderr) == (0, "", ""), r.stdout + r.stderr


def check_definition(definition: Path) -> None:
    """What `apptainer build` would read, statically: the two-stage header, only the
    sections mlstack writes (a value that opened %setup would show here), %files sources
    beside it, and %post/%environment valid sh."""
    lines = definition.read_text(encoding="utf-8").splitlines()
    opened = [line for line in lines if line.lstrip().startswith("%")]
    names = [line.strip()[1:].split()[0] for line in opened]
    assert set(names) <= SECTIONS and len(names) == len(SECTIONS) + 1, opened  # %files x2
    assert all(line.startswith("%") for line in opened)
    body: dict[str, list[str]] = {}
    current = "header"
    for line in lines:
        if line.startswith("%"):
            current = line.strip()[1:]
        body.setdefault(current, []).append(line)
    header = [line for line in body["header"] if line and not line.startswith("#")]
    assert [line.split(":")[0] for line in header] == ["Bootstrap", "From", "Stage"] * 2
    for line in body["files"][1:]:
        if line.strip():
            assert (definition.parent / line.split()[0]).is_file(), line
    for section in ("post", "environment"):
        script = "\n".join(body[section][1:])
        script = re.sub(r"\{\{ \w+ \}\}", "x", script)  # Apptainer's build-arg template
        r = subprocess.run(["sh", "-n"], input=script, capture_output=True, text=True,
                           check=False)
        assert r.returncode == 0, (section, r.stderr)


def _mirrors(index: WheelIndex) -> str:
    return " ".join(f"{k}={v}" for k, v in index.mirrors.items())


@dataclass(frozen=True)
class Exported:
    ctx: Path  # Dockerfile, ml.def and their files
    store_files: dict[str, str]  # installed_files of the store entry
    torch: str  # the locked torch version


def export_env(case: tuple[str, str], base: str, *, fake_machine: Callable[[str], Path],
               tmp_path: Path, cli: Cli) -> Exported:
    """Lock (minimal, for the base's Python 3.11), create, export both recipes of the env
    FROM ``base``, lint both. The env is named ml.v2: its pylock's name must still be
    PEP 751's."""
    target, machine = case
    fake_machine(machine)
    lock = tmp_path / "mlstack.lock"
    r = cli("lock", "minimal", "--target", target, "--python", "3.11", "-o", str(lock))
    assert r.returncode == 0, r.stderr
    r = cli("env", "create", "minimal", "--name", "ml.v2", "--lock", str(lock),
            "--target", target)
    assert r.returncode == 0, r.stderr
    from mlstack_env.store.generations import get_env

    gen = get_env("ml.v2").current()
    assert gen is not None
    ctx = tmp_path / "ctx"
    for kind, out in (("docker", "Dockerfile"), ("apptainer", "ml.def")):
        r = cli("export", kind, "ml.v2", "--base", base, "-o", str(ctx / out))
        assert r.returncode == 0, r.stderr
    pylock = (ctx / "pylock.ml_v2.toml").read_text(encoding="utf-8")  # PEP 751's name
    # The selector (ROCm as wheels) is the recipe's to unpack: the file says it is partial.
    assert pylock.startswith("# Not installable alone") == target.startswith("rocm7.14")
    hadolint(ctx / "Dockerfile")
    check_definition(ctx / "ml.def")
    torch = next(p.version for p in gen.entry().packages if p.name == "torch")
    return Exported(ctx, installed_files([str(gen.venv / "bin" / "python")]), torch)


@pytest.mark.parametrize("case", [("rocm6.4:gfx1100", "7900xtx"),
                                  ("rocm7.14:gfx1100", "7900xtx-no-rocm"), ("cpu", "no-gpu")],
                         ids=lambda case: case[0])
def test_exported_recipe_builds_and_imports_torch(  # noqa: PLR0917 - pytest fixtures
        case: tuple[str, str], docker: Docker, mirrored: WheelIndex,
        fake_machine: Callable[[str], Path], tmp_path: Path, cli: Cli) -> None:
    """docker build of the exported Dockerfile, then torch runs in the image, whose
    installed files are the store entry's."""
    target = case[0]
    done = export_env(case, BASE, fake_machine=fake_machine, tmp_path=tmp_path, cli=cli)
    ctx, store_files = done.ctx, done.store_files
    image = f"mlstack-real/test-{target.replace(':', '-')}"
    built = docker("build", "--network", "host", "--build-arg",
                   f"MLSTACK_MIRRORS={_mirrors(mirrored)}", "-t", image, str(ctx))
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr
    try:
        run = docker("run", "--rm", "--network", "none", image, "python", "-c",
                     "import torch; print(torch.__version__)")
        assert run.returncode == 0, run.stderr
        assert run.stdout.strip() == done.torch
        in_image = installed_files([DOCKER, "-H", f"unix://{docker.socket}", "run", "--rm",
                                    "--network", "none", image, "python"])
        assert in_image == store_files
    finally:
        docker("rmi", "-f", image)


@dataclass(frozen=True)
class Buildah:
    top: Path

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [BUILDAH, "--root", str(self.top / "root"), "--runroot", str(self.top / "run"),
             "--storage-driver", "vfs", *args],
            capture_output=True, text=True, check=False, timeout=900)


@pytest.fixture(scope="session")
def buildah() -> Iterator[Buildah]:
    """buildah with its own vfs storage under a temp dir (no daemon), the base and the uv
    stage built into it once. Builds run with --isolation chroot; `podman run` cannot
    start a container here, so what is checked in the image runs as RUN steps."""
    for what, path in (("buildah", Path(BUILDAH)), ("debootstrap", BASE_TAR)):
        if not path.exists():
            components.need(what, f"{path} is missing")
    engine = Buildah(Path(tempfile.mkdtemp(prefix="mlstack-buildah-")))
    try:
        for name, files, text in (
                (LOCAL_BASE, (BASE_TAR,), f"FROM scratch\nADD {BASE_TAR.name} /\n"),
                (f"ghcr.io/astral-sh/uv:{uv.PINNED_VERSION}", (uv.binary(),),
                 "FROM scratch\nCOPY uv /uv\n")):
            ctx = Path(tempfile.mkdtemp(dir=engine.top))
            for f in files:
                shutil.copy(f, ctx / f.name)
            (ctx / "Dockerfile").write_text(text, encoding="utf-8")
            done = engine("bud", "-q", "--isolation", "chroot", "-t", name, str(ctx))
            if done.returncode != 0:
                components.need("buildah", f"buildah bud failed: {done.stderr[-2000:]}")
        yield engine
    finally:
        _unmount_under(engine.top)
        shutil.rmtree(engine.top)


def test_buildah_builds_the_recipe_and_torch_imports_in_a_run_step(
        buildah: Buildah, mirrored: WheelIndex, fake_machine: Callable[[str], Path],
        tmp_path: Path, cli: Cli) -> None:
    """A second engine (buildah's own Dockerfile parser): the exported recipe, then two
    RUN steps appended in a copy of it print torch's version and the installed files."""
    done = export_env(("rocm7.14:gfx1100", "7900xtx-no-rocm"), LOCAL_BASE,
                      fake_machine=fake_machine, tmp_path=tmp_path, cli=cli)
    (done.ctx / "files.py").write_text(INSTALLED_SCRIPT, encoding="utf-8")
    recipe = (done.ctx / "Dockerfile").read_text(encoding="utf-8")
    (done.ctx / "Dockerfile.check").write_text(
        recipe + "COPY files.py /opt/files.py\n"
        "RUN python -c 'import torch; print(\"torch\", torch.__version__)' && "
        "python -I /opt/files.py\n", encoding="utf-8")
    built = buildah("bud", "--isolation", "chroot", "--network", "host", "--build-arg",
                    f"MLSTACK_MIRRORS={_mirrors(mirrored)}", "-f",
                    str(done.ctx / "Dockerfile.check"), "-t", "mlstack-real/buildah-check",
                    str(done.ctx))
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    lines = built.stdout.splitlines()
    assert f"torch {done.torch}" in lines
    (files,) = (json.loads(line) for line in lines if line.startswith("{"))
    assert files == done.store_files


def test_hadolint_finds_nothing_in_any_dockerfile(tmp_path: Path) -> None:
    """Every shape of Dockerfile mlstack writes: AMD's images old and new, the plain base,
    baked mirrors, values that need quoting."""
    env = {"EVIL": "it's $(touch pwned) `x` \"q\" ${HOME}", "SPACES": "  a  b  "}
    entries = [torch_entry("ml", "rocm6.4:gfx1100", env=env), torch_entry("ml", "rocm6.1:gfx90a"),
               torch_entry("ml", "rocm6.4.1:gfx942"), torch_entry("ml", "cpu")]
    for i, entry in enumerate(entries):
        for mirrors in (None, {"https://download.pytorch.org/": "https://m.example/pt/"}):
            recipe = catalog_recipe("docker", entry, name="ml", mirrors=mirrors)
            path = tmp_path / f"Dockerfile.{i}.{bool(mirrors)}"
            path.write_text(recipe.text, encoding="utf-8")
            hadolint(path)

"""Real index servers as ``[mirrors]`` (issue 18 item 3): pypiserver and devpi-server,
installed by .ci/real/mirrors.sh into <repo>/.real/, started here on loopback with the
loopback index's files (tests/wheelindex.py) and no upstream: pypiserver with
``--disable-fallback`` (else it redirects unknown projects to PyPI), devpi with
``--offline-mode`` and indexes without bases. Stopped by PID at the end.

Neither copies the upstream layout (pypiserver links ``/packages/<file>``, devpi
``/root/<index>/+f/<3>/<13>/<file>``): a lock made through either records canonical
indexes, names and hashes only — the same bytes — and installs through the other.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mlstack_env.core import paths
from tests.layoutmirror import UPSTREAMS, local_path, upstream_files
from tests.mirrorscenario import Cli, create_behind_each, lock_through, project, use_mirrors
from tests.real import components
from tests.wheelindex import PYPI, WheelIndex, free_port

pytest_plugins = ["tests.wheelindex"]
pytestmark = pytest.mark.xdist_group("mirrors-real")

REAL = Path(__file__).resolve().parents[2] / ".real"
PYPI_SERVER = REAL / "pypiserver" / "bin" / "pypi-server"
DEVPI = REAL / "devpi" / "bin"


def wait_for(url: str, proc: subprocess.Popen[bytes], log: Path, name: str,
             seconds: float = 60.0) -> None:
    """Until ``url`` answers; the component's own log when it exits or never answers."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            stop(proc)
            components.need(name, f"exited {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.3)
    stop(proc)
    components.need(name, f"no answer on {url} in {seconds:.0f} s: {log.read_text()[-2000:]}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def files_of(index: WheelIndex, canonical: str) -> list[Path]:
    return sorted({local_path(f) for files in upstream_files(index, UPSTREAMS[canonical])
                   .values() for f in files.values()})


# The PyPI mirror's pypiserver asks for a login to list and download (as a corporate
# mirror does); the mirror URL carries it, like uv's and pip's index URLs.
LOGIN = ("team", "s3cret")


def htpasswd(path: Path) -> None:
    """An Apache htpasswd file with :data:`LOGIN`, written by pypiserver's own passlib."""
    code = ("import sys; from passlib.apache import HtpasswdFile as H; "
            "h = H(sys.argv[1], new=True); h.set_password(sys.argv[2], sys.argv[3]); h.save()")
    done = subprocess.run([str(PYPI_SERVER.parent / "python"), "-c", code, str(path), *LOGIN],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        components.need("pypiserver", f"passlib could not write htpasswd: {done.stderr}")


@pytest.fixture(scope="session")
def pypiserver(wheel_index: WheelIndex, tmp_path_factory: pytest.TempPathFactory,
               ) -> Iterator[dict[str, str]]:
    """One pypiserver per upstream index (it serves one flat index), PyPI's behind a
    login; the ``[mirrors]``."""
    if not PYPI_SERVER.is_file():
        components.need("pypiserver", f"{PYPI_SERVER} is not installed")
    table: dict[str, str] = {}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for canonical in UPSTREAMS:
            folder = tmp_path_factory.mktemp("pypiserver")
            packages = folder / "packages"
            packages.mkdir()
            for path in files_of(wheel_index, canonical):
                shutil.copyfile(path, packages / path.name)
            port = free_port()
            log = folder / "log"
            auth = ["-a", ".", "-P", "."]  # no login
            login = ""
            if canonical == PYPI:
                htpasswd(folder / "htpasswd")
                auth = ["-a", "list,download,update", "-P", str(folder / "htpasswd")]
                login = ":".join(LOGIN) + "@"
            with log.open("wb") as out:
                proc = subprocess.Popen(
                    [str(PYPI_SERVER), "run", "-p", str(port), "-i", "127.0.0.1",
                     "--disable-fallback", "--hash-algo", "sha256", *auth,
                     str(packages)], stdout=out, stderr=subprocess.STDOUT)
            procs.append(proc)
            url = f"http://127.0.0.1:{port}"
            wait_for(f"{url}/", proc, log, "pypiserver")
            table[canonical] = f"http://{login}127.0.0.1:{port}/simple"
        yield table
    finally:
        for proc in procs:
            stop(proc)


@pytest.fixture(scope="session")
def devpi(wheel_index: WheelIndex, tmp_path_factory: pytest.TempPathFactory,
          ) -> Iterator[dict[str, str]]:
    """One devpi-server, offline, an index without bases per upstream; the ``[mirrors]``."""
    if not (DEVPI / "devpi-server").is_file():
        components.need("devpi-server", f"{DEVPI / 'devpi-server'} is not installed")
    folder = tmp_path_factory.mktemp("devpi")
    server_dir = folder / "server"
    init = subprocess.run([str(DEVPI / "devpi-init"), "--serverdir", str(server_dir),
                           "--no-root-pypi", "--root-passwd", "root"],
                          capture_output=True, text=True, check=False)
    if init.returncode != 0:
        components.need("devpi-server", f"devpi-init failed: {init.stderr[-2000:]}")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = folder / "log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(DEVPI / "devpi-server"), "--serverdir", str(server_dir), "--host",
             "127.0.0.1", "--port", str(port), "--offline-mode"],
            stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for(f"{url}/+api", proc, log, "devpi-server")
        env = {**os.environ, "DEVPI_CLIENTDIR": str(folder / "client")}

        def client(*args: str) -> None:
            done = subprocess.run([str(DEVPI / "devpi"), *args], env=env,
                                  capture_output=True, text=True, check=False)
            if done.returncode != 0:
                components.need("devpi-server",
                                f"devpi {' '.join(args[:2])} failed: {done.stdout[-1500:]}")

        client("use", url)
        client("login", "root", "--password", "root")
        table: dict[str, str] = {}
        for n, canonical in enumerate(UPSTREAMS):
            name = f"root/upstream{n}"
            client("index", "-c", name, "bases=", "volatile=False")
            client("upload", "--index", name,
                   *(str(p) for p in files_of(wheel_index, canonical)))
            table[canonical] = f"{url}/{name}/+simple"
        yield table
    finally:
        stop(proc)


@pytest.fixture
def machine(wheel_index: WheelIndex, warm_interpreters: None,
            fake_machine: Callable[[str], Path]) -> WheelIndex:
    fake_machine("7900xtx")
    return wheel_index


@pytest.fixture
def servers(pypiserver: dict[str, str], devpi: dict[str, str]) -> dict[str, dict[str, str]]:
    return {"pypiserver": pypiserver, "devpi": devpi}


@pytest.mark.parametrize("made", ["through-both", "canonical"])
def test_one_lock_installs_behind_pypiserver_and_behind_devpi(
        made: str, machine: WheelIndex, servers: dict[str, dict[str, str]], tmp_path: Path,
        cli: Cli) -> None:
    """through-both: locked through pypiserver, then devpi: the same bytes, no mirror URL.
    canonical: a lock with canonical URLs (made through the loopback index, which copies
    the upstream layout), which prefix rewriting asked pypiserver for as
    /packages/packages/24/88/<hash>/<file> (404)."""
    proj = project(tmp_path / "proj")
    if made == "through-both":
        assert lock_through(cli, proj, servers["pypiserver"]) == \
            lock_through(cli, proj, servers["devpi"])
    else:
        machine.write_config()
        assert cli("lock", cwd=proj).returncode == 0
        assert "https://files.pythonhosted.org/packages/" in \
            (proj / "mlstack.lock").read_text(encoding="utf-8")
    create_behind_each(cli, proj / "mlstack.lock", servers)
    # The login reached pypiserver (it refuses without), and was written nowhere.
    assert LOGIN[1] not in (proj / "mlstack.lock").read_text(encoding="utf-8")
    assert not [p for p in paths.home().rglob("*") if p.is_file() and p.stat().st_size < 1 << 20
                and LOGIN[1].encode() in p.read_bytes()]


def test_pypiserver_refuses_without_the_login(pypiserver: dict[str, str]) -> None:
    """So the creates above prove the login was sent (as HTTP Basic auth)."""
    bare = pypiserver[PYPI].replace(":".join(LOGIN) + "@", "")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(bare + "/numpy/", timeout=10)
    assert err.value.code == 401


def test_bundle_through_devpi_and_pypiserver(
        machine: WheelIndex, servers: dict[str, dict[str, str]], tmp_path: Path,
        cli: Cli) -> None:
    proj = project(tmp_path / "proj")
    lock_through(cli, proj, servers["pypiserver"])
    for name, table in servers.items():
        use_mirrors(table)
        out = tmp_path / f"wheels-{name}"
        r = cli("bundle", "--lock", str(proj / "mlstack.lock"), "-o", str(out))
        assert r.returncode == 0, r.stderr
        names = sorted(p.name for p in out.iterdir())
        assert "numpy-2.3.2-py3-none-any.whl" in names
        assert all(machine.sha256(n) == _sha256(out / n) for n in names)


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()

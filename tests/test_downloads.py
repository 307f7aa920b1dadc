"""mlstack's own downloads (issue 22): resumed after a kill with an HTTP Range request,
progress that tells the truth on a terminal and in a log, a deadline per file, errors that
name the URL and the mirror, the user's proxy and netrc; against loopback servers."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import pty
import random
import re
import select
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import replace
from functools import cache
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import ClassVar

import pytest

from mlstack_env.catalog.target import Target
from mlstack_env.core import paths
from mlstack_env.fetch import download
from mlstack_env.fetch.transfer import AT_RISK
from mlstack_env.lockfile import LockedPackage, LockEntry, Wheel, read_lock
from tests.conftest import mlstack_exe
from tests.envfixtures import PLATFORM, error_lines, write_lock
from tests.layoutmirror import serve as serve_handler
from tests.wheelindex import FILES, Dist, WheelIndex, build_wheel, serve

pytest_plugins = ["tests.wheelindex"]

Cli = Callable[..., subprocess.CompletedProcess[str]]
BIG = 8 << 20  # the test wheel's payload: 8 MiB of incompressible bytes


@cache
def _big(size: int) -> tuple[str, bytes]:
    blob = random.Random(22).randbytes(size)  # noqa: S311 - test data, not secrets
    dist = Dist("bigblob", "1.0", files=(("bigblob/__init__.py", "X = 1\n"),
                                          ("bigblob/blob.bin", blob)))
    built = build_wheel(dist, "py3-none-any")
    return built.filename, built.data


def big_wheel(root: Path, size: int = BIG) -> Wheel:
    """A large-ish wheel served from ``root`` under a files.pythonhosted.org URL."""
    filename, data = _big(size)
    served = root / "files" / "packages" / "bb" / filename
    served.parent.mkdir(parents=True, exist_ok=True)
    served.write_bytes(data)
    import hashlib

    return Wheel(f"{FILES}packages/bb/{filename}", hashlib.sha256(data).hexdigest(), len(data))


def big_lock(path: Path, wheel: Wheel) -> Path:
    entry = LockEntry(profile="big", target=Target.parse("rocm6.4:gfx1100"), python="3.12",
                      platform=PLATFORM,
                      packages=(LockedPackage("bigblob", "1.0", None,  # by its URL
                                              (wheel,)),),
                      env={}, inputs_hash="sha256:" + "0" * 64)
    return write_lock(path, [entry])


def part_of(wheel: Wheel) -> Path:
    return paths.files_cache_dir() / wheel.sha256 / download.PART


def wheel_requests(index: WheelIndex, wheel: Wheel) -> list[tuple[str | None, int, int]]:
    name = wheel.url.rsplit("/", 1)[-1]
    return [(s.range, s.status, s.sent) for s in index.log if s.path.endswith(name)]


@pytest.fixture
def big(fake_machine: Callable[[str], Path], tmp_path: Path,
        warm_interpreters: None) -> Iterator[tuple[WheelIndex, Wheel, Path]]:
    fake_machine("7900xtx")
    with serve(tmp_path / "index") as index:
        index.write_config()
        wheel = big_wheel(index.root)
        yield index, wheel, big_lock(tmp_path / "mlstack.lock", wheel)


def test_a_killed_download_resumes_with_a_range_request(
        big: tuple[WheelIndex, Wheel, Path], cli: Cli) -> None:
    index, wheel, lock = big
    assert wheel.size is not None
    index.throttle(4 << 20)  # ~2 s for the file: time to kill it half-way
    child = subprocess.Popen([*mlstack_exe(), "env", "create", "big", "--lock", str(lock)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    part = part_of(wheel)
    give_up = time.monotonic() + 120
    while (not part.exists() or part.stat().st_size < wheel.size // 2) and \
            time.monotonic() < give_up and child.poll() is None:
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    child.wait()
    kept = part.stat().st_size
    assert wheel.size // 2 <= kept < wheel.size
    while not wheel_requests(index, wheel) and time.monotonic() < give_up:
        time.sleep(0.01)  # the server notes the response when its next write fails
    first = wheel_requests(index, wheel)
    assert [(r, s) for r, s, _ in first] == [(None, 200)]

    index.throttle(None)
    r = cli("env", "create", "big", "--lock", str(lock), "--json")
    assert r.returncode == 0, r.stderr
    again = wheel_requests(index, wheel)[len(first):]
    assert again == [(f"bytes={kept}-", 206, wheel.size - kept)]
    assert wheel.size - kept <= 0.55 * wheel.size
    # Fetched twice: only what was in flight (received, not yet written) when it died.
    assert first[0][2] + again[0][2] - wheel.size <= AT_RISK
    fetched = json.loads(r.stdout)["downloads"]
    assert (fetched["downloaded"], fetched["bytes"], fetched["resumed_bytes"]) == (
        1, wheel.size - kept, kept)
    assert fetched["per_file"][0]["filename"] == wheel.filename
    assert fetched["seconds"] > 0
    assert not part.exists()
    assert (paths.files_cache_dir() / wheel.sha256 / wheel.filename).stat().st_size == \
        wheel.size
    run = cli("env", "run", "big", "--", "python", "-c",
              "import bigblob, pathlib; print(pathlib.Path(bigblob.__file__).with_name("
              "'blob.bin').stat().st_size)")
    assert run.stdout.strip() == str(BIG), run.stderr


def test_a_part_that_holds_the_whole_file_is_kept_without_a_request(
        big: tuple[WheelIndex, Wheel, Path], cli: Cli) -> None:
    """A run stopped after the last byte (another file failed) left the whole file in
    its part: the next run checks it and asks the server for nothing (a Range from the
    file's end would get HTTP 416)."""
    index, wheel, lock = big
    part = part_of(wheel)
    part.parent.mkdir(parents=True)
    part.write_bytes((index.root / "files/packages/bb" / wheel.filename).read_bytes())
    r = cli("env", "create", "big", "--lock", str(lock), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["downloads"]["resumed_bytes"] == wheel.size
    assert wheel_requests(index, wheel) == []


def test_a_terminal_shows_bytes_rate_and_eta(big: tuple[WheelIndex, Wheel, Path]) -> None:
    index, wheel, lock = big
    index.throttle(4 << 20)
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "160"}
    env.pop("NO_COLOR", None)
    primary, secondary = pty.openpty()
    child = subprocess.Popen([*mlstack_exe(), "env", "create", "big", "--lock", str(lock)],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=secondary, env=env)
    os.close(secondary)
    screen = bytearray()
    while True:
        ready, _, _ = select.select([primary], [], [], 60)
        if not ready:
            break
        try:
            data = os.read(primary, 65536)
        except OSError:  # EIO: the child closed its end
            break
        if not data:
            break
        screen += data
    child.wait(timeout=120)
    os.close(primary)
    assert child.returncode == 0, screen.decode(errors="replace")
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.decode(errors="replace"))
    mb = wheel.size / 1e6 if wheel.size else 0
    # rich's DownloadColumn, TransferSpeedColumn and TimeRemainingColumn, and N of M files
    assert re.search(rf"\d+\.\d/{mb:.1f} MB", text), text
    assert re.search(r"\d+(\.\d)? MB/s", text), text
    assert re.search(r"\d:\d\d:\d\d", text), text
    assert "0 of 1 files" in text
    assert f"[1/1] downloaded {wheel.filename}" in text


def test_piped_a_total_line_comes_at_most_every_few_seconds(
        big: tuple[WheelIndex, Wheel, Path], cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlstack_env.cli import downloads

    index, _, lock = big
    monkeypatch.setattr(downloads, "EVERY", 0.2)  # the rule, on a shorter clock
    index.throttle(8 << 20)
    r = cli("env", "create", "big", "--lock", str(lock))
    assert r.returncode == 0, r.stderr
    totals = [line for line in r.stderr.splitlines() if line.startswith("downloading: ")]
    assert totals, r.stderr
    assert re.fullmatch(r"downloading: \d+\.\d [KM]iB of 8\.\d MiB at \d+\.\d [KM]iB/s, 0 of 1 "
                        r"files done, \S.* left", totals[0]), totals
    assert error_lines(r.stderr) == []  # every download line is a progress line


# --- servers that misbehave -------------------------------------------------------------

class _Trickle(BaseHTTPRequestHandler):
    """Announces 1000 bytes, then sends one a second."""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "1000")
        self.end_headers()
        with contextlib.suppress(OSError):  # the client gives up
            for _ in range(1000):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(1)


def _config(mirror: str, downloads: str) -> None:
    Path(os.environ["MLSTACK_CONFIG"]).write_text(
        f'[mirrors]\n"{FILES}" = "{mirror}/files/"\n\n[downloads]\n{downloads}\n')


def _create_through(server: contextlib.AbstractContextManager[str], downloads: str,
                    tmp_path: Path, cli: Cli) -> tuple[str, str, str, Wheel]:
    """``env create`` of a one-wheel lock through a mirror ``server`` starts: (its URL,
    the error line, the hint line, the wheel)."""
    wheel = big_wheel(tmp_path / "unused", 1000)
    lock = big_lock(tmp_path / "mlstack.lock", wheel)
    with server as url:
        _config(url, downloads)
        r = cli("env", "create", "big", "--lock", str(lock))
    assert r.returncode == 1
    error, hint = error_lines(r.stderr)
    assert not paths.envs_dir().joinpath("big").exists()
    return url, error, hint, wheel


def test_a_trickling_mirror_is_named_when_its_deadline_passes(
        fake_machine: Callable[[str], Path], tmp_path: Path, cli: Cli) -> None:
    fake_machine("7900xtx")
    url, error, hint, wheel = _create_through(serve_handler(_Trickle), "deadline = 2\ntimeout = 30",
                                              tmp_path, cli)
    assert error == (f"error: cannot download {url}/files/packages/bb/{wheel.filename} "
                     f"(through mirror {url}/files/): not done within its deadline of 2.0 s "
                     "(the server sends too slowly)")
    assert hint.startswith("hint: raise `deadline` in [downloads] of the mlstack config")
    assert part_of(wheel).stat().st_size > 0  # what came is kept for a resume


def test_a_silent_mirror_times_out_and_is_named(fake_machine: Callable[[str], Path],
                                                tmp_path: Path, cli: Cli) -> None:
    from tests.test_hardening import silent_server

    fake_machine("7900xtx")
    url, error, hint, wheel = _create_through(silent_server(), "timeout = 1\nretries = 1",
                                              tmp_path, cli)
    assert error == (f"error: cannot download {url}/files/packages/bb/{wheel.filename} "
                     f"(through mirror {url}/files/): timed out: no byte for 1.0 s (after 2 "
                     "attempts)")
    assert "[mirrors]" in hint


def test_a_missing_file_names_the_status_and_mirror(own_index: WheelIndex, tmp_path: Path,
                                                    fake_machine: Callable[[str], Path],
                                                    cli: Cli) -> None:
    fake_machine("7900xtx")
    wheel = big_wheel(tmp_path / "elsewhere", 1000)  # not on the index
    lock = big_lock(tmp_path / "mlstack.lock", wheel)
    r = cli("env", "create", "big", "--lock", str(lock))
    assert r.returncode == 1
    error, hint = error_lines(r.stderr)
    assert error == (f"error: cannot download {own_index.url}/files/packages/bb/"
                     f"{wheel.filename} (through mirror {own_index.url}/files/): HTTP 404 "
                     "File not found")
    assert hint.startswith("hint: the server does not have this file")


def test_a_dead_mirror_is_named(dead_index: str, fake_machine: Callable[[str], Path],
                                tmp_path: Path, cli: Cli) -> None:
    fake_machine("7900xtx")
    wheel = big_wheel(tmp_path / "unused", 1000)
    lock = big_lock(tmp_path / "mlstack.lock", wheel)
    _config(dead_index, "retries = 0")
    r = cli("env", "create", "big", "--lock", str(lock))
    assert r.returncode == 1
    error, _ = error_lines(r.stderr)
    assert error.endswith(f"(through mirror {dead_index}/files/): connection refused (after "
                          "1 attempt)")


# --- the user's network settings ---------------------------------------------------------

class _Proxy(BaseHTTPRequestHandler):
    """A forward proxy for http:// URLs that logs what it was asked."""

    seen: ClassVar[list[str]] = []

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.seen.append(self.path)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(self.path, timeout=30) as upstream:
            body = upstream.read()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_downloads_go_through_the_users_proxy_unless_no_proxy(
        big: tuple[WheelIndex, Wheel, Path], cli: Cli, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    index, wheel, lock = big
    _Proxy.seen = []
    with serve_handler(_Proxy) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy)
        monkeypatch.setenv("NO_PROXY", "example.invalid")
        r = cli("env", "create", "big", "--lock", str(lock))
        assert r.returncode == 0, r.stderr
        assert _Proxy.seen == [f"{index.url}/files/packages/bb/{wheel.filename}"]
        cli("cache", "clean")
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        r = cli("env", "create", "big", "--name", "direct", "--lock", str(lock),
                "--reinstall")
        assert r.returncode == 0, r.stderr
        assert len(_Proxy.seen) == 1
    assert [s for _, s, _ in wheel_requests(index, wheel)] == [200, 200]


class _Guarded(BaseHTTPRequestHandler):
    """Serves ``body`` to user ``u`` with password ``p`` only."""

    body = b""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.headers.get("Authorization") != "Basic " + base64.b64encode(b"u:p").decode():
            self.send_response(401)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)


def test_credentials_from_netrc(fake_machine: Callable[[str], Path], tmp_path: Path,
                                cli: Cli, monkeypatch: pytest.MonkeyPatch,
                                warm_interpreters: None) -> None:
    fake_machine("7900xtx")
    wheel = big_wheel(tmp_path / "guarded", 1000)
    _Guarded.body = _big(1000)[1]
    lock = big_lock(tmp_path / "mlstack.lock", wheel)
    with serve_handler(_Guarded) as url:
        _config(url, "retries = 0")
        refused = cli("env", "create", "big", "--lock", str(lock))
        assert refused.returncode == 1
        error, hint = error_lines(refused.stderr)
        assert error.endswith("HTTP 401 Unauthorized")
        assert "~/.netrc" in hint
        netrc = tmp_path / "netrc"
        netrc.write_text("machine 127.0.0.1 login u password p\n")
        netrc.chmod(0o600)
        monkeypatch.setenv("NETRC", str(netrc))
        r = cli("env", "create", "big", "--lock", str(lock))
        assert r.returncode == 0, r.stderr


def test_the_downloads_table_is_checked(fake_machine: Callable[[str], Path], tmp_path: Path,
                                       cli: Cli) -> None:
    fake_machine("7900xtx")
    lock = big_lock(tmp_path / "mlstack.lock", big_wheel(tmp_path / "unused", 1000))
    Path(os.environ["MLSTACK_CONFIG"]).write_text("[downloads]\ndeadlines = 3\n")
    r = cli("env", "create", "big", "--lock", str(lock))
    assert r.returncode == 1
    error, hint = error_lines(r.stderr)
    assert error.endswith("unknown key 'deadlines' in [downloads]")
    assert hint.startswith("hint: the keys are: parallel (files at once), timeout")
    Path(os.environ["MLSTACK_CONFIG"]).write_text("[downloads]\nparallel = 0\n")
    r = cli("env", "create", "big", "--lock", str(lock))
    assert "[downloads] parallel = 0 is not a whole number above 0" in r.stderr


def test_a_create_whose_files_are_cached_loads_no_http_client(
        big: tuple[WheelIndex, Wheel, Path], cli: Cli, tmp_path: Path) -> None:
    index, wheel, lock = big
    assert cli("env", "create", "big", "--lock", str(lock)).returncode == 0
    entry = read_lock(lock).entries[0]
    other = write_lock(tmp_path / "other.lock", [replace(entry, env={"NEW_KEY": "1"})])
    code = "import sys; from mlstack_env.cli import main; sys.exit(main())"
    r = subprocess.run([sys.executable, "-X", "importtime", "-c", code, "env", "create", "big",
                        "--name", "other", "--lock", str(other), "--json"],
                       capture_output=True, text=True, check=False, timeout=300)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["downloads"]["cached"] == 1  # a store miss, files cached
    modules = {line.rsplit("|", 1)[1].strip() for line in r.stderr.splitlines()
               if line.startswith("import time:") and "|" in line}
    assert "mlstack_env.fetch.download" in modules
    assert {m for m in modules if m.split(".")[0] in ("urllib3", "ssl", "netrc")} == set()
    assert len(wheel_requests(index, wheel)) == 1

"""Issue 21, items 11-14: bad input and faults are clean errors, and what a killed
command leaves is reclaimed.

11. internal errors (exit 2) become one ``error:`` line and one ``hint:`` line;
12. ``gc`` removes what a ``kill -9`` left: ``.DIR.unpack-*``, ``.FILE.*.part`` with the
    squashfs staging tree, ``cache/wheel-urls/.*.tmp``;
13. ``env unpack`` onto a full disk says the disk is full;
14. a failed key download leaves no keyring file.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mlstack_env.core import paths
from mlstack_env.store.pack import MANIFEST
from tests.envfixtures import error_lines, team_lock
from tests.test_hardening import mounted_tmpfs
from tests.wheelindex import WheelIndex

pytest_plugins = ["tests.wheelindex"]

Cli = Callable[..., subprocess.CompletedProcess[str]]


def clean(r: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert r.returncode == 1, r.stderr
    lines = error_lines(r.stderr)
    assert [line.split(":")[0] for line in lines][:2] == ["error", "hint"], r.stderr
    assert "internal error" not in r.stderr and "Traceback" not in r.stderr
    for needle in needles:
        assert needle in lines[0], r.stderr


# --- item 11 ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["tqdm[", "tqdm]", "[", "tqdm (", "tqdm;", "tqdm @", ">1"])
def test_remove_of_a_malformed_name_is_clean(tmp_path: Path, cli: Cli, name: str) -> None:
    (tmp_path / "mlstack.toml").write_text('[profiles.ml]\npackages = ["numpy"]\n',
                                           encoding="utf-8")
    before = (tmp_path / "mlstack.toml").read_bytes()
    r = cli("remove", name, cwd=tmp_path)
    clean(r, "is not a PEP 508 requirement")
    assert "hint: write the package name, e.g. mlstack remove tqdm" in r.stderr
    assert (tmp_path / "mlstack.toml").read_bytes() == before


@pytest.mark.parametrize("url", [" https://x.example/simple", "https://x.example/simple\t",
                                 "https://x.example/\nsimple", "https://x.example/sim ple",
                                 "https://x.example/simple\u200b\x7f"])
def test_source_urls_with_spaces_or_controls_are_refused(tmp_path: Path, cli: Cli,
                                                         url: str) -> None:
    (tmp_path / "mlstack.toml").write_text(
        f'[profiles.ml]\npackages = ["numpy"]\n[sources.x]\nurl = {json.dumps(url)}\n',
        encoding="utf-8")
    r = cli("profile", "show", "ml", cwd=tmp_path)
    clean(r, "source 'x': url", "holds a space or a control character")


@pytest.mark.parametrize("host", ["http://localhost:1/", "https://x/", "https://[::1]:8/",
                                  "https://a.b.example/", "https:///"])
def test_mirror_advice_names_any_host(host: str) -> None:
    from mlstack_env.fetch.config import UserConfig, mirror_advice

    advice = mirror_advice([f"{host}simple"], UserConfig())
    assert "[mirrors]" in advice and "https://MIRROR.example/" in advice


@pytest.mark.parametrize(("name", "data"), [
    ("notarch.tar.gz", b"hello\n"), ("empty.tar.gz", b""),
    ("garbage.tar.zst", bytes(range(256)) * 2), ("magic.tar.zst", b"\x28\xb5\x2f\xfd junk"),
    ("trunc.tar.gz", None),
])
def test_unpack_of_a_non_archive_is_clean(tmp_path: Path, cli: Cli, name: str,
                                          data: bytes | None) -> None:
    archive = tmp_path / name
    if data is None:  # a real gzip tar, cut short
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            blob = os.urandom(50_000)
            info = tarfile.TarInfo("venv/blob")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
        data = buf.getvalue()[:20_000]
    archive.write_bytes(data)
    r = cli("env", "unpack", str(archive), str(tmp_path / "out"))
    clean(r, "damaged or not an env archive")
    assert sorted(p.name for p in tmp_path.iterdir() if "out" in p.name) == []


@pytest.mark.parametrize("args", [("profile", "list"), ("lock", "--check"), ("tree",),
                                  ("diff",), ("remove", "numpy"), ("profile", "show", "ml")])
def test_a_non_utf8_project_path_is_never_an_internal_error(tmp_path: Path,
                                                            args: tuple[str, ...]) -> None:
    project = Path(os.fsdecode(bytes(tmp_path) + b"/proj\xff"))
    project.mkdir()
    (project / "mlstack.toml").write_text('[profiles.ml]\npackages = ["numpy"]\n',
                                          encoding="utf-8")
    from tests.conftest import mlstack_exe

    r = subprocess.run([*mlstack_exe(), *args, "--project", os.fsencode(project)],
                       capture_output=True, check=False, timeout=120,
                       env=os.environ | {"UV_OFFLINE": "1"})
    err = r.stderr.decode(errors="replace")
    assert r.returncode in (0, 1), err
    assert "internal error" not in err and "Traceback" not in err


# --- item 12 ---------------------------------------------------------------------------

KILLED_UNPACK = """
import os, signal, sys
from pathlib import Path
from mlstack_env.store import unpack

def killed(archive, dest):
    (dest / "venv").mkdir()
    (dest / "venv" / "half").write_bytes(b"x" * 4096)
    os.kill(os.getpid(), signal.SIGKILL)

unpack._extract = killed
unpack.unpack_env(Path(sys.argv[1]), Path(sys.argv[2]))
"""

KILLED_PACK = """
import os, signal, sys
from pathlib import Path
from mlstack_env.store import pack, squashfs

def killed(tree, image):
    os.kill(os.getpid(), signal.SIGKILL)

squashfs.make_image = killed
pack.pack_env("demo", Path(sys.argv[1]))
"""


def _killed(code: str, *args: str) -> None:
    r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                       check=False, timeout=300)
    assert r.returncode == -signal.SIGKILL, r.stderr


def test_gc_reclaims_what_a_killed_unpack_left(tmp_path: Path, cli: Cli) -> None:
    archive = tmp_path / "demo.tar.gz"
    archive.write_bytes(b"")  # never read: the kill comes first
    node = tmp_path / "node"
    node.mkdir()
    _killed(KILLED_UNPACK, str(archive), str(node / "demo"))
    left = [p.name for p in node.iterdir()]
    assert len(left) == 1 and left[0].startswith(".demo.unpack-"), left
    dry = json.loads(cli("gc", "--dry-run", "--json").stdout)
    assert dry["temporaries"] == [str(node / left[0])]
    assert (node / left[0]).exists()
    r = cli("gc", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["temporaries"] == [str(node / left[0])]
    assert list(node.iterdir()) == []
    assert list((paths.home() / "temporaries").iterdir()) == []


@pytest.mark.skipif(shutil.which("mksquashfs") is None, reason="squashfs-tools is not installed")
def test_gc_reclaims_what_a_killed_squashfs_pack_left(
        mirrored: WheelIndex, fake_machine: Callable[[str], Path], tmp_path: Path,
        cli: Cli) -> None:
    fake_machine("7900xtx")
    assert cli("env", "create", "demo", "--lock",
               str(team_lock(tmp_path / "t.lock"))).returncode == 0
    out = tmp_path / "out"
    out.mkdir()
    _killed(KILLED_PACK, str(out / "demo.sqsh"))
    left = sorted(p.name for p in out.iterdir())
    assert len(left) == 2 and left[0].endswith(".part") and ".part.stage-" in left[1], left
    r = cli("gc", "--json")
    assert r.returncode == 0, r.stderr
    assert sorted(Path(p).name for p in json.loads(r.stdout)["temporaries"]) == left
    assert list(out.iterdir()) == []
    # The env itself (whose files the staging tree hard-linked) is whole.
    assert cli("env", "verify", "demo").returncode == 0


def test_gc_leaves_a_running_commands_temporary_and_planted_records(tmp_path: Path,
                                                                    cli: Cli) -> None:
    from mlstack_env.store.files import recorded, records_dir

    live = tmp_path / ".x.unpack-0123456789ab"
    live.mkdir()
    victim = tmp_path / "precious"
    victim.write_text("keep\n", encoding="utf-8")
    records_dir().mkdir(parents=True)
    (records_dir() / "planted").write_text(str(victim), encoding="utf-8")
    with recorded(live):
        r = cli("gc", "--json")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["temporaries"] == []
        assert live.is_dir()
    assert victim.read_text(encoding="utf-8") == "keep\n"


def test_gc_removes_old_url_record_temporaries_only(cli: Cli) -> None:
    folder = paths.wheel_urls_dir()
    folder.mkdir(parents=True)
    old, fresh, record = folder / ".abc.0123.tmp", folder / ".abd.4567.tmp", folder / "abc"
    for p in (old, fresh, record):
        p.write_text("https://x/\n", encoding="utf-8")
    long_ago = time.time() - 3600
    os.utime(old, (long_ago, long_ago))
    os.utime(record, (long_ago, long_ago))
    r = cli("gc", "--json")
    assert json.loads(r.stdout)["temporaries"] == [str(old)]
    assert sorted(p.name for p in folder.iterdir()) == [".abd.4567.tmp", "abc"]


# --- item 13 ---------------------------------------------------------------------------

def test_unpack_onto_a_full_disk_says_so(tmp_path: Path, cli: Cli) -> None:
    archive = tmp_path / "big.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        manifest = json.dumps({"format": 1}).encode()
        for name, data in ((MANIFEST, manifest), ("venv/big", b"\0" * (2 << 20))):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    disk = tmp_path / "disk"
    with mounted_tmpfs(disk, "size=256k"):
        r = cli("env", "unpack", str(archive), str(disk / "demo"))
        clean(r, "No space left on device", str(disk))
        assert "free some space" in r.stderr
        assert "damaged" not in r.stderr
        assert list(disk.iterdir()) == []


# --- item 14 ---------------------------------------------------------------------------

# `printf 'hello world\n' | gpg --enarmor`: what `gpg --dearmor` turns back into bytes.
ARMORED = (b"-----BEGIN PGP ARMORED FILE-----\n\naGVsbG8gd29ybGQK\n=7Tvw\n"
           b"-----END PGP ARMORED FILE-----\n")


@pytest.fixture
def key_server() -> Iterator[str]:
    """A loopback server with the key at /key.asc (anything else: 404)."""
    import http.server

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/key.asc":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(ARMORED)))
            self.end_headers()
            self.wfile.write(ARMORED)

        def log_message(self, *args: object) -> None:
            pass

    from tests.layoutmirror import serve

    with serve(Handler) as url:
        yield url


@pytest.mark.skipif(shutil.which("wget") is None or shutil.which("gpg") is None,
                    reason="wget and gpg are needed")
@pytest.mark.parametrize("shell", ["apply", "pasted-into-sh"])
def test_a_failed_key_download_leaves_no_keyring(tmp_path: Path, key_server: str,
                                                 shell: str) -> None:
    from dataclasses import replace

    from mlstack_env.system.apply import run_shell
    from mlstack_env.system.catalog import system_catalog
    from mlstack_env.system.plan import _key_step

    base = next(r for r in system_catalog().repos if r.kind == "apt")
    keyring = tmp_path / "keyrings" / "rocm.gpg"
    keyring.parent.mkdir()

    def step(url: str) -> int:
        command = _key_step(replace(base, key_url=url, keyring=str(keyring)), sudo=False)
        if shell == "apply":
            return run_shell(command)
        return subprocess.run(["sh", "-c", command], check=False, timeout=60).returncode

    assert step(f"{key_server}/missing.asc") != 0
    assert list(keyring.parent.iterdir()) == []  # no 0-byte keyring, no part
    assert step(f"{key_server}/key.asc") == 0
    assert keyring.read_bytes() == b"hello world\n"
    assert [p.name for p in keyring.parent.iterdir()] == ["rocm.gpg"]
    # A later failure keeps the keyring that works.
    assert step(f"{key_server}/missing.asc") != 0
    assert keyring.read_bytes() == b"hello world\n"

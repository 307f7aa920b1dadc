"""Mirrors of any path layout (issue 18 item 3), against static mirrors that do not copy
the upstream layout (tests/layoutmirror.py: pypiserver's ``/packages/<file>`` and devpi's
``/+f/<hash>/<file>``) and the loopback index, which does. The same scenario runs against
real pypiserver and devpi in tests/real/test_mirrors_real.py.

A lock never holds a mirror URL: through a mirror of another layout it records the
canonical index, the file's name and sha256 — the same bytes whichever mirror served it —
and an install finds each file by name on the mirror's project page, hash-checked.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mlstack_env.core import paths
from mlstack_env.fetch.indexpages import MirrorError, ProjectPages, parse_page
from tests.envfixtures import error_lines
from tests.layoutmirror import Layout, mirrors_table, serve_static, static_mirror
from tests.mirrorscenario import (
    Cli,
    create_and_import,
    create_behind_each,
    lock_through,
    project,
    use_mirrors,
)
from tests.wheelindex import WheelIndex, write_project

pytest_plugins = ["tests.wheelindex"]

NUMPY = "numpy-2.3.2-py3-none-any.whl"


@pytest.fixture
def machine(wheel_index: WheelIndex, warm_interpreters: None,
            fake_machine: Callable[[str], Path]) -> WheelIndex:
    fake_machine("7900xtx")
    return wheel_index


@pytest.fixture(scope="module")
def two_mirrors(wheel_index: WheelIndex, tmp_path_factory: pytest.TempPathFactory,
                ) -> Iterator[tuple[dict[str, str], dict[str, str]]]:
    """``[mirrors]`` tables of two servers with layouts of their own (pypiserver-like and
    devpi-like), serving the loopback index's rocm6.4 torch index and PyPI stand-in."""
    a = tmp_path_factory.mktemp("mirror-packages")
    b = tmp_path_factory.mktemp("mirror-devpi")
    static_mirror(wheel_index, a, Layout("packages"))
    static_mirror(wheel_index, b, Layout("devpi"))
    with serve_static(a) as url_a, serve_static(b) as url_b:
        yield mirrors_table(url_a), mirrors_table(url_b)


def test_a_lock_through_either_mirror_is_the_same_bytes_and_installs_through_the_other(
        machine: WheelIndex, two_mirrors: tuple[dict[str, str], dict[str, str]],
        tmp_path: Path, cli: Cli) -> None:
    a, b = two_mirrors
    proj = project(tmp_path / "proj")
    through_a = lock_through(cli, proj, a)
    through_b = lock_through(cli, proj, b)
    assert through_a == through_b
    # uv re-resolving from it (the entry as preferences, files without URLs) changes nothing.
    r = cli("lock", "--upgrade-package", "numpy", cwd=proj)
    assert r.returncode == 0, r.stderr
    assert "resolved" in r.stdout
    assert (proj / "mlstack.lock").read_text(encoding="utf-8") == through_b
    # Nothing but the file: index, name, sha256; no mirror's URL and no size it invented.
    torch = next(p for p in tomllib.loads(through_a)["entry"][0]["package"]
                 if p["name"] == "torch")
    assert torch["wheels"] == [{
        "name": "torch-2.8.0+rocm6.4-cp312-cp312-manylinux_2_28_x86_64.whl",
        "sha256": machine.sha256("torch-2.8.0+rocm6.4-cp312-cp312-manylinux_2_28_x86_64.whl"),
    }]
    # A teammate behind the other mirror creates from it; and behind the first one.
    create_behind_each(cli, proj / "mlstack.lock", {"a": a, "b": b})
    # A teammate who reaches the canonical hosts (here: the loopback index, which copies
    # their layout) creates from the same lock: each file found by name on its index.
    machine.write_config()
    create_and_import(cli, proj / "mlstack.lock", "direct")


def test_a_lock_with_canonical_urls_installs_through_a_mirror_of_another_layout(
        machine: WheelIndex, two_mirrors: tuple[dict[str, str], dict[str, str]],
        tmp_path: Path, cli: Cli) -> None:
    """The issue's second half: prefix rewriting asked pypiserver for
    /packages/packages/24/88/<hash>/<file>; finding the file by name does not."""
    proj = project(tmp_path / "proj")
    machine.write_config()  # the loopback index: canonical URLs in the lock
    assert cli("lock", cwd=proj).returncode == 0
    canonical = (proj / "mlstack.lock").read_text(encoding="utf-8")
    assert "https://files.pythonhosted.org/packages/" in canonical
    use_mirrors(two_mirrors[0])
    create_and_import(cli, proj / "mlstack.lock", "team")
    # Re-locking through that mirror keeps what the lock knew (its canonical URLs).
    r = cli("lock", "--upgrade-package", "numpy", cwd=proj)
    assert r.returncode == 0, r.stderr
    assert (proj / "mlstack.lock").read_text(encoding="utf-8") == canonical


def test_bundle_through_a_mirror_of_another_layout(
        machine: WheelIndex, two_mirrors: tuple[dict[str, str], dict[str, str]],
        tmp_path: Path, cli: Cli) -> None:
    proj = project(tmp_path / "proj")
    lock_through(cli, proj, two_mirrors[1])
    r = cli("bundle", "--lock", str(proj / "mlstack.lock"), "-o", str(tmp_path / "wheels"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "wheels" / NUMPY).read_bytes() == \
        (machine.root / "files").joinpath(*_numpy_path(machine)).read_bytes()
    offline = cli("env", "create", "ml", "--lock", str(proj / "mlstack.lock"),
                  "--wheels", str(tmp_path / "wheels"), "--offline")
    assert offline.returncode == 0, offline.stderr


def _numpy_path(machine: WheelIndex) -> list[str]:
    found = next((machine.root / "files").rglob(NUMPY))
    return list(found.relative_to(machine.root / "files").parts)


def test_a_file_missing_on_the_mirror_is_one_error_naming_mirror_project_and_file(
        machine: WheelIndex, two_mirrors: tuple[dict[str, str], dict[str, str]],
        tmp_path: Path, cli: Cli) -> None:
    proj = project(tmp_path / "proj")
    lock_through(cli, proj, two_mirrors[0])
    lacking = tmp_path / "lacking"
    static_mirror(machine, lacking, Layout("packages"), skip=(NUMPY,))
    with serve_static(lacking) as url:
        use_mirrors(mirrors_table(url))
        r = cli("env", "create", "ml", "--lock", str(proj / "mlstack.lock"))
        bundle = cli("bundle", "--lock", str(proj / "mlstack.lock"), "-o", str(tmp_path / "w"))
    assert r.returncode == 1
    error, hint = error_lines(r.stderr)
    mirror = f"{url}/1/simple"
    assert error == (f"error: the mirror {mirror} has no file {NUMPY} for project numpy "
                     f"(its page {mirror}/numpy/ does not list it)")
    assert hint.startswith(f"hint: copy or upload {NUMPY} to the mirror (with its sha256 ")
    assert bundle.returncode == 1 and error in error_lines(bundle.stderr)
    assert not (paths.envs_dir() / "ml").exists()  # nothing half-made


# --- the page reader on its own (indexpages.py) ----------------------------------------

def test_project_pages_are_read_once_per_run_and_json_is_preferred() -> None:
    asked: list[tuple[str, str]] = []
    json_page = (b'{"meta": {"api-version": "1.0"}, "name": "numpy", "files": [{"filename": '
                 b'"numpy-2.3.2-py3-none-any.whl", "url": "../../+f/4f6/numpy-2.3.2-py3-none'
                 b'-any.whl", "hashes": {"sha256": "' + b"ab" * 32 + b'"}}]}')

    def fetch(url: str, accept: str) -> tuple[bytes, str, str]:
        asked.append((url, accept))
        return json_page, "application/vnd.pypi.simple.v1+json", url

    pages = ProjectPages(fetch)
    index = "http://mirror.example/root/pypi/+simple"
    url = pages.locate(index, "NumPy", NUMPY, "ab" * 32)
    assert url == "http://mirror.example/root/pypi/+f/4f6/numpy-2.3.2-py3-none-any.whl"
    assert pages.locate(index, "numpy", NUMPY) == url
    assert [u for u, _ in asked] == [f"{index}/numpy/"]
    assert asked[0][1].startswith("application/vnd.pypi.simple.v1+json")
    with pytest.raises(MirrorError) as err:
        pages.locate(index, "numpy", NUMPY, "cd" * 32)
    assert "another hash than the lock" in err.value.message


def test_html_pages_resolve_relative_links_against_the_final_url() -> None:
    body = (b'<a href="/packages/torch-2.8.0%2Brocm6.4-cp312-cp312-manylinux_2_28_x86_64.whl'
            b'#sha256=' + b"0f" * 32 + b'">torch</a><a href="../">up</a>')
    files = parse_page(body, "text/html; charset=utf-8", "http://p.example:8080/simple/torch/")
    wheel = files["torch-2.8.0+rocm6.4-cp312-cp312-manylinux_2_28_x86_64.whl"]
    assert wheel.url == ("http://p.example:8080/packages/"
                         "torch-2.8.0%2Brocm6.4-cp312-cp312-manylinux_2_28_x86_64.whl")
    assert wheel.sha256 == "0f" * 32


# --- a file locked by name, in the lock format and its readers ----------------------------

LOCK_BY_NAME = '''version = 1
mlstack-version = "0.1.0"
uv-version = "0.13.9"

[[entry]]
profile = "ml"
target = "cpu"
backend = "cpu"
python = "3.12"
platform = "x86_64-manylinux_2_28"
inputs-hash = "sha256:0"
system = []
notes = []

[entry.env]

[[entry.package]]
name = "numpy"
version = "2.3.2"
index = "INDEX"
wheels = [
  { name = "FILE", sha256 = "''' + "ab" * 32 + '''" },
]
'''


def by_name(index: str = "https://pypi.org/simple", file: str = NUMPY) -> str:
    return LOCK_BY_NAME.replace("INDEX", index).replace("FILE", file)


def test_a_file_locked_by_name_reads_back_and_writes_the_same_bytes() -> None:
    from mlstack_env.lockfile import HEADER, dumps, loads

    lock = loads(by_name())
    wheel = lock.entries[0].packages[0].wheels[0]
    assert (wheel.url, wheel.filename, wheel.size) == ("", NUMPY, None)
    assert dumps(lock) == HEADER + by_name()


@pytest.mark.parametrize("bad", ["../numpy-2.3.2-py3-none-any.whl", "numpy.txt",
                                 "a/numpy-2.3.2-py3-none-any.whl", "numpy 2.whl"])
def test_a_file_name_that_is_no_file_name_is_refused(bad: str) -> None:
    from mlstack_env.core.errors import MlstackError
    from mlstack_env.lockfile import loads

    with pytest.raises(MlstackError) as err:
        loads(by_name(file=bad), "team.lock")
    assert err.value.message == (f"team.lock: entry 1: package numpy: file name {bad!r} is "
                                 "not a wheel or sdist file name")


def test_the_url_policy_checks_the_index_of_a_file_locked_by_name() -> None:
    from mlstack_env.catalog.sources import catalog
    from mlstack_env.core.errors import MlstackError
    from mlstack_env.fetch.urlpolicy import UrlPolicy
    from mlstack_env.lockfile import loads

    UrlPolicy(catalog()).check(loads(by_name()).entries[0], "team.lock")
    with pytest.raises(MlstackError) as err:
        UrlPolicy(catalog()).check(
            loads(by_name("https://evil.example/simple")).entries[0], "team.lock")
    assert err.value.message == (f"team.lock: entry ml@cpu@py3.12: index of {NUMPY} "
                                 "https://evil.example/simple is outside the configured sources")


def test_a_pylock_needs_a_url_per_wheel_and_says_so() -> None:
    from mlstack_env.core.errors import MlstackError
    from mlstack_env.lockfile import loads, to_pylock

    entry = loads(by_name()).entries[0]
    with pytest.raises(MlstackError) as err:
        to_pylock(entry)
    assert err.value.message == (f"ml@cpu@py3.12: {NUMPY} was locked through a mirror without "
                                 "its canonical URL, and a pylock.toml needs one per wheel")
    located = to_pylock(entry, located={"ab" * 32: "http://m.example/packages/" + NUMPY})
    assert f'url = "http://m.example/packages/{NUMPY}"' in located


def test_a_new_entry_through_a_mirror_of_another_layout_keeps_the_urls_the_lock_knows(
        machine: WheelIndex, two_mirrors: tuple[dict[str, str], dict[str, str]],
        tmp_path: Path, cli: Cli) -> None:
    proj = project(tmp_path / "proj")
    machine.write_config()  # canonical URLs for rocm6.4:gfx1100's files
    assert cli("lock", cwd=proj).returncode == 0
    use_mirrors(two_mirrors[1])
    r = cli("lock", "--target", "rocm6.4:gfx1031", cwd=proj)
    assert r.returncode == 0, r.stderr
    entries = tomllib.loads((proj / "mlstack.lock").read_text(encoding="utf-8"))["entry"]
    assert [e["target"] for e in entries] == ["rocm6.4:gfx1031", "rocm6.4:gfx1100"]
    assert entries[0]["package"] == entries[1]["package"]  # the same files, URLs and all
    assert all("url" in w for p in entries[0]["package"] for w in p["wheels"])


def test_a_mirror_login_is_sent_carried_to_its_files_and_never_shown() -> None:
    asked: list[str] = []

    def fetch(url: str, accept: str) -> tuple[bytes, str, str]:
        asked.append(url)
        page = (f'<a href="/packages/{NUMPY}#sha256={"ab" * 32}">n</a>'
                f'<a href="https://cdn.example/{NUMPY}.asc">sig</a>')
        return page.encode(), "text/html", "https://art.example/api/pypi/pypi/simple/numpy/"

    pages = ProjectPages(fetch)
    index = "https://me:p%40ss@art.example/api/pypi/pypi/simple"
    assert pages.locate(index, "numpy", NUMPY, "ab" * 32) == \
        f"https://me:p%40ss@art.example/packages/{NUMPY}"
    with pytest.raises(MirrorError) as err:
        pages.locate(index, "numpy", "numpy-9.9-py3-none-any.whl", "ab" * 32)
    assert "p%40ss" not in err.value.message
    assert "https://me:***@art.example/api/pypi/pypi/simple has no file" in err.value.message
    from mlstack_env.fetch.indexpages import basic_auth, split_credentials

    assert split_credentials(index) == ("https://art.example/api/pypi/pypi/simple", "me:p%40ss")
    assert basic_auth("me:p%40ss") == "Basic bWU6cEBzcw=="  # me:p@ss


def test_a_find_links_package_has_no_index_and_installs_by_its_url(
        machine: WheelIndex, tmp_path: Path, cli: Cli) -> None:
    """AMD's per-release folder is no index: its wheel is fetched by its URL (through the
    folder's [mirrors] prefix), never looked up on PyPI's mirror, which lacks it."""
    proj = tmp_path / "proj"
    proj.mkdir()
    write_project(proj, profiles={"ml": ["onnxruntime-migraphx"]}, targets=["rocm6.4:gfx1100"])
    machine.write_config()
    assert cli("lock", cwd=proj).returncode == 0
    packages = {p["name"]: p for p in tomllib.loads(
        (proj / "mlstack.lock").read_text(encoding="utf-8"))["entry"][0]["package"]}
    ort = packages["onnxruntime-migraphx"]
    assert "index" not in ort
    assert ort["wheels"][0]["url"].startswith(
        "https://repo.radeon.com/rocm/manylinux/rocm-rel-6.4/")
    assert packages["numpy"]["index"] == "https://pypi.org/simple"
    r = cli("env", "create", "ml", "--lock", str(proj / "mlstack.lock"))
    assert r.returncode == 0, r.stderr

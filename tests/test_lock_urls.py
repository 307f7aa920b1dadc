"""Lock URLs obey the sources (issue 13, item 6): a wheel URL outside the configured
sources, or a file:// URL, is refused at create and bundle time unless the project's
``allow-urls`` names it; ``[mirrors]`` apply to every URL, allowed ones included."""

from __future__ import annotations

import dataclasses
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from mlstack_env.core import paths
from mlstack_env.lockfile import LockEntry, Wheel
from tests.envfixtures import error_lines, torch_entry, write_lock
from tests.wheelindex import FILES, WheelIndex

pytest_plugins = ["tests.wheelindex"]

Cli = Callable[..., subprocess.CompletedProcess[str]]
TARGET = "rocm6.4:gfx1100"
KEY = f"demo@{TARGET}@py3.12"


def moved(entry: LockEntry, package: str, new_prefix: str) -> tuple[LockEntry, str]:
    """``entry`` with ``package``'s wheel URL moved from files.pythonhosted.org to
    ``new_prefix`` (same file, same sha256), from no index (a file on a host is found by
    its URL; one from an index, by name on the index's mirror); the new URL."""
    packages = []
    url = ""
    for p in entry.packages:
        if p.name == package:
            w = p.wheels[0]
            url = new_prefix + w.url.removeprefix(FILES)
            packages.append(dataclasses.replace(p, index=None,
                                                wheels=(Wheel(url, w.sha256, w.size),)))
        else:
            packages.append(p)
    return dataclasses.replace(entry, packages=tuple(packages)), url


def one_error(r: subprocess.CompletedProcess[str]) -> tuple[str, str]:
    assert r.returncode == 1, (r.stdout, r.stderr)
    lines = error_lines(r.stderr)
    assert len(lines) == 2, r.stderr
    return lines[0], lines[1]


def nothing_written() -> bool:
    return not any(p.exists() and any(p.iterdir())
                   for p in (paths.envs_dir(), paths.store_dir()))


@pytest.fixture
def machine(mirrored: WheelIndex, fake_machine: Callable[[str], Path]) -> WheelIndex:
    fake_machine("7900xtx")
    return mirrored


def test_a_wheel_url_outside_the_sources_is_refused(machine: WheelIndex, tmp_path: Path,
                                                    cli: Cli) -> None:
    entry, url = moved(torch_entry("demo", TARGET), "filelock", "https://evil.example/")
    lock = write_lock(tmp_path / "team.lock", [entry])
    error, hint = one_error(cli("env", "create", "demo", "--lock", str(lock)))
    assert error == (f"error: {lock}: entry {KEY}: wheel URL {url} is outside the "
                     "configured sources")
    assert hint == ("hint: re-lock from the configured sources (`mlstack lock`), or, if you "
                    "trust it, allow it in the project's mlstack.toml: "
                    'allow-urls = ["https://evil.example/"]')
    assert nothing_written()
    bundle = cli("bundle", "--lock", str(lock), "-o", str(tmp_path / "wheels"))
    assert one_error(bundle)[0] == error
    assert not (tmp_path / "wheels").exists()


def test_a_file_url_is_refused(machine: WheelIndex, tmp_path: Path, cli: Cli) -> None:
    entry, url = moved(torch_entry("demo", TARGET), "filelock", f"file://{tmp_path}/wheels/")
    lock = write_lock(tmp_path / "team.lock", [entry])
    error, hint = one_error(cli("env", "create", "demo", "--lock", str(lock)))
    assert error == (f"error: {lock}: entry {KEY}: wheel URL {url} is a local file, not a "
                     "configured source")
    assert hint.endswith(f'allow-urls = ["{url.rsplit("/", 1)[0]}/"]')
    assert nothing_written()


def test_allow_urls_lets_a_host_in_and_mirrors_still_apply(
        machine: WheelIndex, tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    # The first create cannot reach the host; uv's retries would only make it slower (~10 s).
    monkeypatch.setenv("UV_HTTP_RETRIES", "0")
    # The team's own host, allowed by the project; this machine reaches it via a mirror.
    entry, _url = moved(torch_entry("demo", TARGET), "filelock", "https://wheels.team.example/")
    project = tmp_path / "proj"
    project.mkdir()
    (project / "mlstack.toml").write_text(
        'allow-urls = ["https://wheels.team.example/"]\n', encoding="utf-8")
    lock = write_lock(project / "mlstack.lock", [entry])
    refused = cli("env", "create", "demo", "--lock", str(lock), cwd=tmp_path)
    assert refused.returncode == 1  # not mirrored anywhere yet: unreachable, but allowed
    assert "outside the configured sources" not in refused.stderr
    machine.write_config(mirrors={**machine.mirrors,
                                  "https://wheels.team.example/": f"{machine.url}/files/"})
    r = cli("env", "create", "demo", "--lock", str(lock), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    run = cli("env", "run", "demo", "--", "python", "-c", "import filelock")
    assert run.returncode == 0, run.stderr


def test_a_project_source_lets_its_server_in(machine: WheelIndex, tmp_path: Path,
                                             cli: Cli) -> None:
    entry, url = moved(torch_entry("demo", TARGET), "filelock", "https://wheels.team.example/")
    project = tmp_path / "proj"
    project.mkdir()
    manifest = project / "mlstack.toml"
    manifest.write_text('python = "3.12"\n', encoding="utf-8")
    lock = write_lock(project / "mlstack.lock", [entry])
    error, hint = one_error(cli("env", "create", "demo", "--lock", str(lock)))
    assert error.endswith(f"wheel URL {url} is outside the configured sources")
    assert f"allow it in {manifest}" in hint
    manifest.write_text('[sources.team]\nkind = "find-links"\n'
                        'url = "https://wheels.team.example/rocm/"\n', encoding="utf-8")
    machine.write_config(mirrors={**machine.mirrors,
                                  "https://wheels.team.example/": f"{machine.url}/files/"})
    r = cli("env", "create", "demo", "--lock", str(lock))
    assert r.returncode == 0, r.stderr


def test_allow_urls_must_be_url_prefixes(machine: WheelIndex, tmp_path: Path,
                                         cli: Cli) -> None:
    (tmp_path / "mlstack.toml").write_text('allow-urls = "https://x/"\n', encoding="utf-8")
    lock = write_lock(tmp_path / "mlstack.lock", [torch_entry("demo", TARGET)])
    error, hint = one_error(cli("env", "create", "demo", "--lock", str(lock)))
    assert "allow-urls must be a list of URL prefixes" in error
    assert hint == 'hint: write allow-urls = ["https://wheels.example/"]'
    assert nothing_written()
    (tmp_path / "mlstack.toml").write_text('allow-urls = ["https://x/"]\n', encoding="utf-8")
    ok = cli("env", "create", "demo", "--lock", str(lock), "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["name"] == "demo"

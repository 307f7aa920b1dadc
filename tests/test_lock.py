"""`mlstack lock` end to end, against the loopback wheel index (no network)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.envfixtures import error_lines
from tests.wheelindex import (
    DONE_WHEN_PROFILES,
    DONE_WHEN_TARGETS,
    WheelIndex,
    write_project,
)

pytest_plugins = ["tests.wheelindex"]  # the wheel_index / mirrored fixtures

Cli = Callable[..., subprocess.CompletedProcess[str]]
REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "lockfiles" / "example"


def _fail(result: subprocess.CompletedProcess[str]) -> tuple[str, str]:
    """A clean user error: exit 1, nothing on stdout, one error: line and one hint: line."""
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    lines = error_lines(result.stderr)  # after the entries resolved before the error
    assert len(lines) == 2, result.stderr
    assert lines[0].startswith("error: ")
    assert lines[1].startswith("hint: ")
    return lines[0], lines[1]


def test_done_when_scenario(mirrored: WheelIndex, tmp_path: Path, cli: Cli) -> None:
    write_project(tmp_path, profiles=DONE_WHEN_PROFILES, targets=DONE_WHEN_TARGETS)
    first = cli("lock", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    lock_path = tmp_path / "mlstack.lock"
    text = lock_path.read_text()
    assert "127.0.0.1" not in text  # canonical URLs only, never the mirror's
    data = tomllib.loads(text)
    by_target = {e["target"]: e for e in data["entry"]}
    assert set(by_target) == set(DONE_WHEN_TARGETS)
    expected = {"rocm6.4:gfx1100": "2.8.0+rocm6.4", "rocm6.3:gfx1101": "2.7.1+rocm6.3",
                "cpu": "2.8.0+cpu"}
    for target, version in expected.items():
        packages = {p["name"]: p for p in by_target[target]["package"]}
        torch = packages["torch"]
        assert torch["version"] == version
        (wheel,) = torch["wheels"]
        index = "https://download.pytorch.org/whl/" + version.split("+")[1]
        assert torch["index"] == index
        assert wheel["url"].startswith(index + "/torch-")
        assert wheel["sha256"] == mirrored.sha256(
            f"torch-{version}-cp312-cp312-manylinux_2_28_x86_64.whl")
        assert packages["numpy"]["wheels"][0]["url"].startswith(
            "https://files.pythonhosted.org/packages/")
        assert packages["numpy"]["wheels"][0]["size"] > 0
        assert not any(name.startswith("nvidia-") for name in packages)
    assert by_target["rocm6.4:gfx1100"]["env"] == {"PYTORCH_ROCM_ARCH": "gfx1100"}
    assert by_target["cpu"]["env"] == {}

    # Re-locking: same bytes, and no uv call at all (a missing uv binary would fail).
    again = cli("lock", cwd=tmp_path, env={"MLSTACK_UV": str(tmp_path / "no-uv")})
    assert again.returncode == 0, again.stderr
    assert "unchanged" in again.stdout
    assert lock_path.read_text() == text
    fresh = cli("lock", "--check", cwd=tmp_path)
    assert fresh.returncode == 0, fresh.stderr

    # The profile changes: --check fails and writes nothing.
    write_project(tmp_path, profiles={"ml": ["torch", "numpy"]}, targets=DONE_WHEN_TARGETS)
    stale = cli("lock", "--check", cwd=tmp_path)
    assert stale.returncode == 1
    assert "ml@cpu@py3.12 (stale)" in stale.stderr
    assert stale.stderr.splitlines()[-1].startswith("hint: run `mlstack lock`")
    assert lock_path.read_text() == text


def test_golden_example_lock_is_reproduced_byte_for_byte(
    mirrored: WheelIndex, tmp_path: Path, cli: Cli
) -> None:
    shutil.copy(EXAMPLE / "mlstack.toml", tmp_path / "mlstack.toml")
    result = cli("lock", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    produced = (tmp_path / "mlstack.lock").read_text()
    if os.environ.get("UPDATE_GOLDEN") == "1":  # regenerate: UPDATE_GOLDEN=1 pytest -k golden
        (EXAMPLE / "mlstack.lock").write_text(produced)
    assert produced == (EXAMPLE / "mlstack.lock").read_text()


def test_committed_example_lock_is_fresh(cli: Cli) -> None:
    """--check needs no index: it compares input hashes only."""
    result = cli("lock", "--check", "--project", str(EXAMPLE), "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["up_to_date"] is True
    assert [e["status"] for e in doc["entries"]] == ["fresh", "fresh", "fresh"]


def test_check_without_a_lock_fails_and_writes_nothing(tmp_path: Path, cli: Cli) -> None:
    write_project(tmp_path, profiles=DONE_WHEN_PROFILES, targets=["cpu"])
    result = cli("lock", "--check", cwd=tmp_path)
    assert result.returncode == 1
    assert "ml@cpu@py3.12 (missing)" in result.stderr
    assert not (tmp_path / "mlstack.lock").exists()


def test_json_is_one_document_and_export_pylock(
    mirrored: WheelIndex, tmp_path: Path, cli: Cli
) -> None:
    write_project(tmp_path, profiles=DONE_WHEN_PROFILES, targets=["cpu"])
    out = tmp_path / "pylocks"
    result = cli("lock", "--json", "--export-pylock", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)  # exactly one document: json.loads refuses trailing data
    assert set(doc) == {"lock", "check", "up_to_date", "written", "entries", "exported",
                        "change"}
    assert doc["change"]["added"] == ["ml@cpu@py3.12"]
    (entry,) = doc["entries"]
    assert entry["status"] == "resolved"
    assert entry["torch"] == "2.8.0+cpu"
    (exported,) = doc["exported"]
    assert Path(exported).name == "pylock.ml-cpu-py3_12.toml"
    pylock = tomllib.loads(Path(exported).read_text())
    assert pylock["lock-version"] == "1.0"
    torch = next(p for p in pylock["packages"] if p["name"] == "torch")
    assert torch["wheels"][0]["url"].startswith("https://download.pytorch.org/whl/cpu/")


def test_partial_lock_merges_and_new_targets_are_added(
    mirrored: WheelIndex, tmp_path: Path, cli: Cli
) -> None:
    write_project(tmp_path, profiles=DONE_WHEN_PROFILES, targets=["cpu"])
    assert cli("lock", cwd=tmp_path).returncode == 0
    result = cli("lock", "ml", "--target", "rocm6.4:gfx1031", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    data = tomllib.loads((tmp_path / "mlstack.lock").read_text())
    targets = {e["target"]: e for e in data["entry"]}
    assert set(targets) == {"cpu", "rocm6.4:gfx1031"}
    # gfx1031 is not in the rocm6.4 wheels: it runs their gfx1030 code (ROCM-FACTS §1).
    env = targets["rocm6.4:gfx1031"]["env"]
    assert env["HSA_OVERRIDE_GFX_VERSION"] == "10.3.0"
    assert env["PYTORCH_ROCM_ARCH"] == "gfx1030"  # the ISA it runs as
    assert targets["rocm6.4:gfx1031"]["notes"]


def test_built_in_profile_outside_a_project_needs_an_output(
    mirrored: WheelIndex, tmp_path: Path, cli: Cli
) -> None:
    _fail(cli("lock", "minimal", "-t", "cpu", cwd=tmp_path))
    out = tmp_path / "out" / "minimal.lock"
    result = cli("lock", "minimal", "-t", "cpu", "--python", "3.12", "-o", str(out),
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert 'profile = "minimal"' in out.read_text()


# --- bad input: one clean error, nothing written ---------------------------------------


def _project(tmp_path: Path, text: str) -> Path:
    (tmp_path / "mlstack.toml").write_text(text)
    return tmp_path


GOOD = 'python = "3.12"\ntargets = ["cpu"]\n\n[profiles.ml]\npackages = ["torch"]\n'


@pytest.mark.parametrize(
    ("manifest", "args", "message", "hint"),
    [
        ('python = "3.12"\n[profiles.ml\npackages = []\n', (), "mlstack.toml: invalid TOML",
         "line 2"),
        ('python = "3.12"\ntarget = ["cpu"]\n', (), "mlstack.toml:2: unknown key 'target'",
         "did you mean 'targets'"),
        (GOOD.replace("packages", "pakages"), (), "mlstack.toml:5: unknown key 'pakages'",
         "did you mean 'packages'"),
        (GOOD, ("nope",), "unknown profile 'nope'", "known profiles: inference, minimal, ml"),
        (GOOD.replace('packages = ["torch"]', 'extends = ["b"]\n[profiles.b]\nextends = ["ml"]'),
         (), "profile 'b' extends itself (b -> ml -> b)", "remove one"),
        (GOOD.replace('"torch"', '"torch>>2"'), (), "mlstack.toml:5: profile 'ml': bad "
         "requirement 'torch>>2'", "PEP 508"),
        (GOOD.replace('["cpu"]', '["rocm6.4-gfx1100"]'), (), "mlstack.toml:2: bad target",
         "rocmX.Y"),
        (GOOD.replace('["cpu"]', '["rocm6.4:gfx1199"]'), (), "unknown GPU architecture "
         "'gfx1199'", "gfx1100"),
        (GOOD, ("-t", "rocm6.4:sm_90"), "bad target 'rocm6.4:sm_90'", "rocmX.Y"),
        (GOOD, ("-t", "rocm6.4:gfx9999"), "unknown GPU architecture 'gfx9999'", "use one of"),
        (GOOD, ("-t", "rocm5.7:gfx1100"), "no known PyTorch wheel index for ROCm 5.7",
         "rocm6.4"),
        (GOOD, ("--python", "3.99"), "Python 3.99 is not installed", "install Python 3.99"),
    ],
)
def test_bad_input_is_one_clean_error(  # noqa: PLR0917 - pytest parameters
    tmp_path: Path, cli: Cli, manifest: str, args: tuple[str, ...], message: str, hint: str
) -> None:
    _project(tmp_path, manifest)
    error, hint_line = _fail(cli("lock", *args, cwd=tmp_path))
    assert message in error
    assert hint in error + hint_line
    assert not (tmp_path / "mlstack.lock").exists()


def test_no_solution_quotes_uv(mirrored: WheelIndex, tmp_path: Path, cli: Cli) -> None:
    _project(tmp_path, GOOD.replace('"torch"', '"torch==2.9.0"').replace("cpu", "rocm6.4:gfx1100"))
    error, hint = _fail(cli("lock", cwd=tmp_path))
    assert "No solution found" in error
    assert "torch" in error
    assert "rocm6.4 index carries torch 2.8" in hint
    assert not (tmp_path / "mlstack.lock").exists()


def test_cuda_build_in_a_rocm_entry_names_the_package_that_pulled_it(
    mirrored: WheelIndex, tmp_path: Path, cli: Cli
) -> None:
    _project(tmp_path, GOOD.replace('"torch"', '"torch", "cuda-kernels"')
             .replace("cpu", "rocm6.4:gfx1100"))
    error, hint = _fail(cli("lock", cwd=tmp_path))
    assert "nvidia-cublas-cu12 12.8.4.1 (pulled by cuda-kernels)" in error
    assert hint.startswith("hint: cuda-kernels has no ROCm build")
    assert not (tmp_path / "mlstack.lock").exists()


def test_plain_pypi_torch_is_refused_for_rocm(
    mirrored: WheelIndex, tmp_path: Path, cli: Cli
) -> None:
    # A project that switches the PyTorch index off gets PyPI's CUDA torch: refused.
    _project(tmp_path, GOOD.replace("cpu", "rocm6.4:gfx1100")
             + "\n[sources.pytorch]\nenabled = false\n")
    error, _ = _fail(cli("lock", cwd=tmp_path))
    assert "torch 2.9.0 (a direct requirement)" in error
    assert "nvidia-cublas-cu12 12.8.4.1 (pulled by torch)" in error


def test_unreachable_index(dead_index: str, wheel_index: WheelIndex, tmp_path: Path,
                           cli: Cli) -> None:
    dead = dead_index
    config = wheel_index.write_config(mirrors={k: f"{dead}/x/" for k in wheel_index.mirrors})
    _project(tmp_path, GOOD)
    error, hint = _fail(cli("lock", cwd=tmp_path))
    assert "Failed to fetch" in error
    assert dead in error
    assert f"check the network and that the mirrors in {config} are reachable" in hint
    assert not (tmp_path / "mlstack.lock").exists()


def test_bad_user_config_names_the_file(tmp_path: Path, cli: Cli) -> None:
    (tmp_path / "config.toml").write_text("[mirrors]\nx = \n")
    project = tmp_path / "p"
    project.mkdir()
    _project(project, GOOD)
    error, _ = _fail(cli("lock", cwd=project))
    assert f"{tmp_path / 'config.toml'}: invalid TOML" in error


def test_lock_without_python_starts_no_interpreter(
        mirrored: WheelIndex, tmp_path: Path, cli: Cli,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """No `python =` and no `--python`: mlstack takes the Python it runs on and asks no
    interpreter anything (a pyenv shim costs a quarter of a second each): the only
    processes a lock starts are uv's."""
    import sys

    from mlstack_env import uv

    write_project(tmp_path, profiles={"ml": ["torch"]}, targets=["rocm6.4:gfx1100"],
                  python=None)
    started: list[str] = []
    real = subprocess.Popen.__init__

    def record(self: subprocess.Popen[str], args: object, *a: object, **k: object) -> None:
        argv = list(args) if isinstance(args, (list, tuple)) else [args]
        started.append(str(argv[0]))
        real(self, args, *a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(subprocess.Popen, "__init__", record)
    r = cli("lock", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    mine = f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert f"@py{mine}" in r.stdout  # the Python mlstack runs on
    assert started, "uv ran"
    assert set(started) == {str(uv.binary())}, started

"""``mlstack tree``: packages, sizes and why each is there, from a real env's metadata."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from mlstack_env.actions.tree import key_versions
from mlstack_env.cli import main
from mlstack_env.core.requiresdist import parse
from mlstack_env.lockfile import LockEntry
from tests.envfixtures import _pytorch_package, torch_entry, write_lock
from tests.wheelindex import WheelIndex

pytest_plugins = ["tests.wheelindex"]

Cli = Callable[..., subprocess.CompletedProcess[str]]


def _entry() -> LockEntry:
    """torch, torchvision and numpy for a 7900 XTX, as `mlstack lock` would lock them."""
    base = torch_entry("ml", "rocm6.4:gfx1100", extra=("numpy",))
    vision = _pytorch_package("rocm6.4", "torchvision", "3.12")
    return replace(base, packages=tuple(sorted((*base.packages, vision), key=lambda p: p.name)))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "mlstack.toml").write_text(
        'default-env = "ml"\n\n[profiles.ml]\npackages = ["torch", "torchvision>=0.20", '
        '"numpy"]\n')
    write_lock(root / "mlstack.lock", [_entry()])
    return root


def _imported(args: list[str], cwd: Path) -> set[str]:
    """The modules ``mlstack ARGS`` imports (``-X importtime``, a process of its own)."""
    import sys

    code = "import sys; from mlstack_env.cli import main; sys.exit(main())"
    r = subprocess.run([sys.executable, "-X", "importtime", "-c", code, *args], cwd=cwd,
                       capture_output=True, text=True, check=False, timeout=120)
    assert r.returncode == 0, r.stderr
    return {line.rsplit("|", 1)[1].strip() for line in r.stderr.splitlines()
            if line.startswith("import time:") and "|" in line}


def _tree(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["tree", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_key_versions() -> None:
    assert key_versions(_entry()) == ["torch 2.8.0+rocm6.4", "torchvision 0.23.0+rocm6.4",
                                      "pytorch-triton-rocm 3.4.0"]
    assert key_versions(torch_entry("ml", "cpu")) == ["torch 2.8.0+cpu"]


def test_env_tree_from_its_metadata(  # noqa: PLR0917 - fixtures
    mirrored: WheelIndex, fake_machine: Callable[[str], Path], project: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], cli: Cli,
) -> None:
    fake_machine("7900xtx")
    made = cli("env", "create", "ml", "--lock", "mlstack.lock", cwd=project)
    assert made.returncode == 0, made.stderr
    # Each package's METADATA is read by core/metadata.py, not by the email package
    # (about a dozen modules on tree's fast path).
    modules = _imported(["tree", "ml", "--json"], project)
    assert "mlstack_env.core.metadata" in modules  # the log is the real one
    assert {m for m in modules if m == "email" or m.startswith("email.")} == set()
    monkeypatch.chdir(project)
    code, out, err = _tree(capsys, "--json")  # no NAME: the project's default-env
    assert code == 0, err
    doc = json.loads(out)
    assert doc["entry"] == "ml@rocm6.4:gfx1100@py3.12"
    assert doc["source"] == "env ml (generation 1)"
    assert doc["direct_from"] == f"profile ml ({project / 'mlstack.toml'})"
    assert doc["missing_metadata"] == []
    assert doc["disk_bytes"] > 0
    pkgs = {p["name"]: p for p in doc["packages"]}
    assert set(pkgs) == {"filelock", "numpy", "pytorch-triton-rocm", "torch", "torchvision"}
    assert pkgs["torch"]["requires"] == ["filelock", "pytorch-triton-rocm"]
    assert pkgs["torchvision"]["requires"] == ["numpy", "torch"]
    assert pkgs["torchvision"]["requirement"] == "torchvision>=0.20"
    assert pkgs["numpy"]["direct"] is True
    assert pkgs["numpy"]["required_by"] == ["torchvision"]
    assert pkgs["numpy"]["pulled_by"] == ["torchvision"]
    assert pkgs["filelock"]["direct"] is False
    assert pkgs["filelock"]["pulled_by"] == ["torch", "torchvision"]
    locked = {p.name: p for p in _entry().packages}
    assert pkgs["torch"]["wheel_size"] == locked["torch"].wheels[0].size
    assert doc["wheel_bytes"] == sum(p.wheels[0].size or 0 for p in locked.values())

    code, out, _ = _tree(capsys, "ml")
    lines = out.splitlines()
    assert lines[0].startswith("env ml (generation 1): ml@rocm6.4:gfx1100@py3.12, 5 packages, "
                               "wheels 5.4 KiB, ")
    assert lines[1:8] == [  # sizes: the lock's, of the loopback index's deterministic wheels
        "numpy 2.3.2 (946 B)",
        "torch 2.8.0+rocm6.4 (1.3 KiB)",
        "├── filelock 3.18.0 (987 B)",
        "└── pytorch-triton-rocm 3.4.0 (1.1 KiB)",
        "torchvision 0.23.0+rocm6.4 (1.1 KiB)  [torchvision>=0.20]",
        "├── numpy 2.3.2 (*)",
        "└── torch 2.8.0+rocm6.4 (*)",
    ]
    assert "(*) shown above" in lines
    assert lines[-1] == ("key versions: torch 2.8.0+rocm6.4, torchvision 0.23.0+rocm6.4, "
                         "pytorch-triton-rocm 3.4.0")

    # The lock entry, without naming the env: its graph comes from the store entry.
    code, out, err = _tree(capsys, "--lock", "mlstack.lock", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["source"] == "mlstack.lock"
    assert doc["graph_from"].startswith("the store entry ")
    assert doc["disk_bytes"] is None
    # Without env and store entry, the wheels uv unpacked in its cache still tell.
    assert cli("env", "remove", "ml").returncode == 0
    assert cli("gc").returncode == 0
    code, out, _ = _tree(capsys, "--lock", "mlstack.lock", "--json")
    doc = json.loads(out)
    assert doc["graph_from"].startswith("the wheels in uv's cache")
    assert {p["name"]: p["requires"] for p in doc["packages"]}["torch"] == [
        "filelock", "pytorch-triton-rocm"]


def test_lock_entry_without_any_metadata(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(project)
    code, out, err = _tree(capsys, "--lock", "mlstack.lock", "--target", "rocm6.4:gfx1100")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[1:4] == [line for line in lines[1:4] if "──" not in line]
    assert "the other locked packages (who requires them is unknown):" in lines
    assert any(line.startswith("why each package is there: unknown") for line in lines)


def test_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = _tree(capsys)
    assert code == 1
    assert err.splitlines()[0] == "error: there are no envs yet"
    code, _, err = _tree(capsys, "nope")
    assert code == 1
    assert err.splitlines()[0] == "error: no env named 'nope'"
    code, _, err = _tree(capsys, "--profile", "ml")
    assert err.splitlines()[0] == "error: --profile, --target and --python go with --lock FILE"



def _unpacked(name: str, version: str, requires: list[str]) -> None:
    """A wheel as uv unpacks it in its cache: ``archive-v0/<id>/<name>-<version>.dist-info``."""
    from mlstack_env.core import paths

    dist_info = paths.uv_cache_dir() / "archive-v0" / name / f"{name}-{version}.dist-info"
    dist_info.mkdir(parents=True)
    lines = [f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"]
    lines += [f"Requires-Dist: {r}\n" for r in requires]
    (dist_info / "METADATA").write_text("".join(lines), encoding="utf-8")


# torch's Requires-Dist as PyTorch writes it: markers on the platform, the Python, extras.
TORCH_REQUIRES = [
    "filelock", "typing-extensions>=4.10.0", 'setuptools; python_version >= "3.12"',
    'pytorch-triton-rocm==3.4.0; platform_system == "Linux"',
    'opt-einsum>=3.3; extra == "opt-einsum"',
    'numpy>=1.26; platform_system == "Windows"',
]


def _graph_lock(tmp_path: Path, extra_line: str | None = None) -> Path:
    """A lock of torch, Triton, filelock and numpy whose graph comes from uv's cache; the
    profile (`demo`) is neither a project's nor a built-in one."""
    entry = torch_entry("demo", "rocm6.4:gfx1100", extra=("numpy",))
    versions = {p.name: p.version for p in entry.packages}
    _unpacked("torch", versions["torch"], TORCH_REQUIRES + [extra_line] * bool(extra_line))
    _unpacked("filelock", versions["filelock"], [])
    _unpacked("pytorch_triton_rocm", versions["pytorch-triton-rocm"], [])
    _unpacked("numpy", versions["numpy"], [])
    return write_lock(tmp_path / "demo.lock", [entry])


# numpy is torch's only on Windows: a package of its own here.
TREE_LINES = [
    "numpy 2.3.2 (946 B)",
    "torch 2.8.0+rocm6.4 (1.3 KiB)",
    "├── filelock 3.18.0 (987 B)",
    "└── pytorch-triton-rocm 3.4.0 (1.1 KiB)",
]


def test_lock_tree_reads_requires_dist_without_packaging(tmp_path: Path) -> None:
    """The graph from Requires-Dist in the form build backends write, read without
    packaging's requirement parser (packaging.utils loads packaging.tags with logging,
    subprocess and platform; its tokenizer loads dataclasses), and off a terminal, with
    or without --json, without rich."""
    lock = _graph_lock(tmp_path)
    args = ["tree", "--lock", str(lock), "--target", "rocm6.4:gfx1100"]
    for extra in ([], ["--json"]):
        modules = _imported([*args, *extra], tmp_path)
        assert "mlstack_env.core.requiresdist" in modules  # the log is the real one
        heavy = {m for m in modules if m.split(".")[0] in ("rich", "dataclasses", "logging")
                 or m in ("packaging.requirements", "packaging.markers", "packaging.utils",
                          "packaging.tags", "packaging.specifiers", "subprocess")}
        assert heavy == set()
    code = "import sys; from mlstack_env.cli import main; sys.exit(main())"
    r = subprocess.run([sys.executable, "-c", code, *args], cwd=tmp_path,
                       capture_output=True, text=True, check=False, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[1:5] == TREE_LINES
    assert "requirements: packages nothing else requires (the profile could not be read)" \
        in r.stdout


def test_lock_tree_hands_other_lines_to_packaging(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    """A line outside the form read without packaging (a URL, no spaces round an operator)
    is packaging's to read, and the tree is the same."""
    line = 'numpy@ https://example.com/numpy.whl ; python_version>"3"'
    assert parse(line) is None
    lock = _graph_lock(tmp_path, line)
    monkeypatch.chdir(tmp_path)
    code, out, err = _tree(capsys, "--lock", str(lock), "--target", "rocm6.4:gfx1100")
    assert code == 0, err
    assert out.splitlines()[1:5] == [TREE_LINES[1], TREE_LINES[2], "├── numpy 2.3.2 (946 B)",
                                     TREE_LINES[3]]


def test_lock_tree_keeps_an_edge_whose_marker_packaging_cannot_evaluate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    """A Requires-Dist marker packaging parses but cannot evaluate (``~=`` with one
    component is no version comparison, and no string one) counts as true, as an invalid
    one does: the tree is drawn, not ended by a traceback."""
    line = 'numpy ; python_version ~= "3"'
    lock = _graph_lock(tmp_path, line)
    monkeypatch.chdir(tmp_path)
    code, out, err = _tree(capsys, "--lock", str(lock), "--target", "rocm6.4:gfx1100")
    assert code == 0, err
    assert "├── numpy 2.3.2 (946 B)" in out.splitlines()[1:5]

"""Resolution pieces: entry variables (ROCM-FACTS §1), input hashes, entry_for_env."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlstack_env.catalog.sources import catalog
from mlstack_env.catalog.target import Target
from mlstack_env.core.errors import MlstackError
from mlstack_env.lockfile import read_lock
from mlstack_env.manifest.profiles import Profile, ProfileSet
from mlstack_env.manifest.project import find_project
from mlstack_env.resolve.for_env import entry_for_env
from mlstack_env.resolve.locking import pylock_name
from mlstack_env.resolve.request import entry_env, make_request
from tests.wheelindex import DONE_WHEN_PROFILES, WheelIndex, write_project

pytest_plugins = ["tests.wheelindex"]  # the wheel_index / mirrored fixtures

INFERENCE_ENV = {"MIOPEN_FIND_MODE": "2", "TORCH_ROCM_AOTRITON_ENABLE_EXPERIMENTAL": "1"}


def _env(target: str, env: dict[str, str] | None = None) -> tuple[dict[str, str], list[str]]:
    return entry_env(Profile("p", env=env or {}), Target.parse(target))


def test_entry_env_carries_the_gpu_variables_of_its_gfx_list() -> None:
    # The rule itself is tested in test_gpuvars; lock puts its result into the entry.
    env, notes = _env("rocm6.4:gfx1031", {"MIOPEN_FIND_MODE": "2"})
    assert env == {"HSA_OVERRIDE_GFX_VERSION": "10.3.0", "MIOPEN_FIND_MODE": "2",
                   "PYTORCH_ROCM_ARCH": "gfx1030"}
    assert any("HSA_OVERRIDE_GFX_VERSION=10.3.0" in n for n in notes)


def test_rdna_only_and_rocm_only_variables() -> None:
    rdna, _ = _env("rocm6.4:gfx1100", INFERENCE_ENV)
    assert rdna["TORCH_ROCM_AOTRITON_ENABLE_EXPERIMENTAL"] == "1"
    cdna, _ = _env("rocm6.4:gfx942", INFERENCE_ENV)
    assert "TORCH_ROCM_AOTRITON_ENABLE_EXPERIMENTAL" not in cdna
    assert cdna["MIOPEN_FIND_MODE"] == "2"
    cpu, _ = _env("cpu", {**INFERENCE_ENV, "OMP_NUM_THREADS": "8"})
    assert cpu == {"OMP_NUM_THREADS": "8"}


def test_inputs_hash_is_stable_and_tracks_inputs() -> None:
    profiles = ProfileSet.load()
    minimal = profiles.get("minimal")
    target = Target.parse("rocm6.4:gfx1100")
    one = make_request(minimal, target, "3.12", catalog()).inputs_hash()
    assert one == make_request(minimal, target, "3.12", catalog()).inputs_hash()
    assert one != make_request(minimal, target, "3.13", catalog()).inputs_hash()
    assert one != make_request(minimal, Target.parse("rocm6.3:gfx1100"), "3.12",
                               catalog()).inputs_hash()
    changed = Profile("minimal", packages=("torch",), source="elsewhere")
    assert one != make_request(changed, target, "3.12", catalog()).inputs_hash()
    moved = Profile(**{**minimal.__dict__, "source": "/elsewhere/minimal.toml"})
    assert one == make_request(moved, target, "3.12", catalog()).inputs_hash()


def test_inputs_hash_ignores_mirrors(wheel_index: WheelIndex) -> None:
    request = make_request(ProfileSet.load().get("minimal"), Target.cpu(), "3.12", catalog())
    before = request.inputs_hash()
    wheel_index.write_config()
    assert make_request(ProfileSet.load().get("minimal"), Target.cpu(), "3.12",
                        catalog()).inputs_hash() == before


def test_pylock_name_is_a_valid_pep751_name() -> None:
    from packaging.pylock import is_valid_pylock_path

    from mlstack_env.lockfile import LockEntry

    entry = LockEntry("ml", Target.parse("rocm6.4:gfx1100,gfx942"), "3.12", "x", ())
    assert pylock_name(entry) == "pylock.ml-rocm6_4-gfx942-gfx1100-py3_12.toml"
    assert is_valid_pylock_path(Path(pylock_name(entry)))


# --- entry_for_env ---------------------------------------------------------------------


def test_outside_a_project_resolves_the_builtin_profile(
    mirrored: WheelIndex, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    entry = entry_for_env("minimal", Target.parse("rocm6.4:gfx1100"), "3.12", None).entry
    torch = entry.package("torch")
    assert torch is not None
    assert torch.version == "2.8.0+rocm6.4"
    assert torch.wheels[0].url.startswith("https://download.pytorch.org/whl/rocm6.4/")
    assert entry.env["PYTORCH_ROCM_ARCH"] == "gfx1100"
    assert list(work.iterdir()) == []  # nothing written


def test_in_a_project_adds_missing_targets_and_relocks_stale_entries(
    mirrored: WheelIndex, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "proj"
    sub = project / "src" / "deep"
    sub.mkdir(parents=True)
    write_project(project, profiles=DONE_WHEN_PROFILES, targets=["cpu"])
    monkeypatch.chdir(sub)  # found upward
    target = Target.parse("rocm6.3:gfx1101")

    with pytest.raises(MlstackError, match=r"no entry for ml on rocm6\.3:gfx1101"):
        entry_for_env("ml", target, None, find_project(project), locked=True)
    assert not (project / "mlstack.lock").exists()

    entry = entry_for_env("ml", target, None, find_project(project)).entry
    assert entry.python == "3.12"
    assert entry.package("torch").version == "2.7.1+rocm6.3"  # type: ignore[union-attr]
    lock = read_lock(project / "mlstack.lock")
    assert [e.key for e in lock.entries] == ["ml@rocm6.3:gfx1101@py3.12"]

    # Fresh: the same entry, nothing rewritten.
    before = (project / "mlstack.lock").read_bytes()
    assert entry_for_env("ml", target, None, find_project(project), locked=True).entry == entry
    assert (project / "mlstack.lock").read_bytes() == before

    # The profile changes: --locked refuses, otherwise the entry is re-locked.
    write_project(project, profiles={"ml": ["torch"]}, targets=["cpu"])
    with pytest.raises(MlstackError, match="stale"):
        entry_for_env("ml", target, None, find_project(project), locked=True)
    relocked = entry_for_env("ml", target, None, find_project(project)).entry
    assert relocked.package("torchvision") is None
    assert read_lock(project / "mlstack.lock").entries == (relocked,)


def test_entry_for_env_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(MlstackError, match="unknown profile 'nope'"):
        entry_for_env("nope", Target.cpu(), None, None)
    with pytest.raises(MlstackError, match=r"--python '3' is not a Python version"):
        entry_for_env("minimal", Target.cpu(), "3", None)
    with pytest.raises(MlstackError, match=r"does not support Python 3\.7"):
        entry_for_env("minimal", Target.cpu(), "3.7", None)

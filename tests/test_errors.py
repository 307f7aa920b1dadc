"""The error kinds (core/errors.py): what is raised where, what a caller catches, and that
the kind changes neither the text nor the exit code the CLI prints."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from mlstack_env.actions.project_edit import _load_edited
from mlstack_env.activation.data import load_env_json
from mlstack_env.catalog.sources import catalog
from mlstack_env.catalog.target import Target
from mlstack_env.core.envvars import check_variable
from mlstack_env.core.errors import (
    BadValueError,
    EnvNotFound,
    LockError,
    ManifestError,
    MlstackError,
    SourceError,
    StoreError,
    TargetError,
    UsageError,
)
from mlstack_env.doctor.seams import probe_uv
from mlstack_env.fetch.config import UserConfig
from mlstack_env.lockfile import Lock, LockedPackage, LockEntry, Wheel, read_lock
from mlstack_env.lockfile.lockside import load_side
from mlstack_env.manifest.profiles import Profile, ProfileSet
from mlstack_env.manifest.project import load_project
from mlstack_env.resolve.lockwrite import stale_keys
from mlstack_env.resolve.prerelease import check_prereleases
from mlstack_env.resolve.request import make_request
from mlstack_env.store.generations import get_env
from mlstack_env.store.lookup import current_generation_dir, default_env_name
from mlstack_env.uv import UvError, UvFailure, binary, find_python
from tests.activation_envs import fake_venv, make_env
from tests.conftest import run_mlstack

MINIMAL_LOCK = ('version = 1\n[[entry]]\nprofile = "p"\ntarget = "cpu"\npython = "3.12"\n'
                'platform = "x86_64-manylinux_2_28"\ninputs-hash = "sha256:0"\n')


@pytest.mark.parametrize(("data", "problem"), [
    (MINIMAL_LOCK.replace("version = 1", "version = 99").encode(),
     "lock format version 99 is not supported (expected 1)"),
    (b"version = 1\n[[entry]\n", "invalid TOML: "),  # the reader of user files: a lock's kind
    (b"version = 1\n# caf\xe9\n", "not UTF-8 text (byte 0xe9 at offset 17, line 2)"),
    # The catch around Target.parse took every MlstackError, its own lock error too, and
    # named the place twice ("LOCK: entry 1: LOCK: entry 1: missing ..."): now TargetError.
    (MINIMAL_LOCK.replace('target = "cpu"', "target = 3").encode(),
     "entry 1: missing or non-string 'target'"),
    (MINIMAL_LOCK.replace('target = "cpu"', 'target = "rocm6.4"').encode(),
     "entry 1: target 'rocm6.4' names no GPU architecture"),
])
def test_a_bad_lock_is_a_lock_error_with_its_text_and_exit_1(
        tmp_path: Path, data: bytes, problem: str) -> None:
    lock = tmp_path / "mlstack.lock"
    lock.write_bytes(data)
    with pytest.raises(LockError) as info:
        read_lock(lock)
    assert info.value.message.startswith(f"{lock}: {problem}")
    assert info.value.exit_code == 1
    done = run_mlstack("diff", str(lock), str(lock))
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"error: {info.value.message}",
        f"hint: {info.value.hint}",
    ]


def test_one_value_rule_three_kinds_by_where_the_value_came_from(tmp_path: Path) -> None:
    """check_variable's refusal is a BadValueError; each reader re-raises it as the kind of
    file the value was in, naming that file."""
    with pytest.raises(BadValueError) as rule:
        check_variable("LD_PRELOAD", "/tmp/evil.so")
    assert rule.value.message.startswith("environment variable LD_PRELOAD cannot be set")

    manifest = tmp_path / "mlstack.toml"
    manifest.write_text('[profiles.p]\npackages = ["numpy"]\n'
                        '[profiles.p.env]\nLD_PRELOAD = "/tmp/evil.so"\n', encoding="utf-8")
    with pytest.raises(ManifestError) as in_manifest:
        load_project(manifest)
    assert in_manifest.value.message.startswith(f"{manifest}:4: ")
    assert in_manifest.value.message.endswith(rule.value.message)

    lock = tmp_path / "mlstack.lock"
    lock.write_text(MINIMAL_LOCK + 'env = { LD_PRELOAD = "/tmp/evil.so" }\n', encoding="utf-8")
    with pytest.raises(LockError) as in_lock:
        read_lock(lock)
    assert str(lock) in in_lock.value.message
    assert in_lock.value.message.endswith(rule.value.message)

    gen = tmp_path / "gen"
    gen.mkdir()
    (gen / "mlstack-env.json").write_text(json.dumps(
        {"format": 1, "name": "demo", "venv": str(gen / "venv"),
         "variables": {"LD_PRELOAD": "/tmp/evil.so"}}), encoding="utf-8")
    with pytest.raises(StoreError) as in_env:
        load_env_json(gen)
    assert in_env.value.message.startswith(str(gen / "mlstack-env.json"))
    assert rule.value.message in in_env.value.message


def test_an_edit_is_checked_as_the_manifest_itself(tmp_path: Path, isolated: Path) -> None:
    """`mlstack add/remove` check the edited text before writing it: its errors name the
    project's mlstack.toml and line (no temporary copy, no path rewritten in a message)."""
    manifest = tmp_path / "mlstack.toml"
    text = '[profiles.p]\npackages = ["numpy"]\n'
    manifest.write_text(text, encoding="utf-8")
    project = load_project(manifest)
    with pytest.raises(ManifestError) as info:
        _load_edited(project, text + 'prereleases = "maybe"\n')
    assert info.value.message.startswith(
        f"{manifest}:3: profile 'p': prereleases 'maybe' is not one of ")
    # nothing beside it (the home holds the memo of the TOML read: core/tomlmemo.py)
    assert [p.name for p in tmp_path.iterdir() if p != isolated] == ["mlstack.toml"]
    assert manifest.read_text(encoding="utf-8") == text
    edited = _load_edited(project, text.replace('"numpy"', '"numpy", "tqdm"'))
    assert edited.profiles["p"].packages == ("numpy", "tqdm")
    assert edited.manifest_path == manifest


def _tool(version: str, index: str) -> LockedPackage:
    url = f"{index.rstrip('/')}/tool/tool-{version}-py3-none-any.whl"
    return LockedPackage("tool", version, index, (Wheel(url, "0" * 64, 1),))


def test_the_prerelease_courtesy_swallows_only_a_source_error(
        dead_index: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Explaining a refused pre-release reads the index page; an unreachable index
    (SourceError) only drops the explanation. It used to swallow every MlstackError, so a
    bad MLSTACK_DOWNLOAD_DEADLINE was hidden behind the pre-release refusal; now it is
    reported as what it is."""
    request = make_request(Profile("p", packages=("tool",)), Target.parse("cpu"), "3.12",
                           catalog())
    package = _tool("1.0rc1", dead_index)
    with pytest.raises(SourceError) as refused:
        check_prereleases([package], request, UserConfig(), offline=False)
    assert "taken only because no release of tool has a wheel that fits" in \
        refused.value.message

    monkeypatch.setenv("MLSTACK_DOWNLOAD_DEADLINE", "soon")
    with pytest.raises(UsageError) as bad:
        check_prereleases([package], request, UserConfig(), offline=False)
    assert bad.value.message == "MLSTACK_DOWNLOAD_DEADLINE='soon' is not a number of seconds"


def test_stale_keys_still_marks_changed_inputs_and_gone_profiles() -> None:
    """stale_keys catches only ManifestError (the profile is gone or broken) and
    TargetError (it no longer has a build for the target): those still make an entry
    stale, and an up-to-date entry is not."""
    cat = catalog()
    profiles = ProfileSet({"p": Profile("p", packages=("numpy",))})
    entry = LockEntry(profile="p", target=Target.parse("cpu"), python="3.12",
                      platform="x86_64-manylinux_2_28", packages=(), env={},
                      inputs_hash="sha256:0")
    gone = LockEntry(profile="gone", target=Target.parse("cpu"), python="3.12",
                     platform="x86_64-manylinux_2_28", packages=(), env={},
                     inputs_hash="sha256:0")
    lock = Lock((entry, gone), "0", "0")
    assert stale_keys(lock, profiles, cat) == [entry.key, gone.key]  # inputs changed; gone
    fresh = make_request(profiles.get("p"), entry.target, "3.12", cat).inputs_hash()
    current = Lock((LockEntry(**{**entry.__dict__, "inputs_hash": fresh}),), "0", "0")
    assert stale_keys(current, profiles, cat) == []


def test_env_not_found_is_one_text_and_a_store_error() -> None:
    err = EnvNotFound("demo")
    assert isinstance(err, StoreError)
    assert isinstance(err, MlstackError)
    assert (err.message, err.hint, err.exit_code, err.name) == (
        "no env named 'demo'", "see `mlstack env list`", 1, "demo")
    done = run_mlstack("env", "pack", "demo", "-o", "demo.tar.gz")
    assert done.returncode == 1
    assert done.stderr.splitlines()[0] == "error: no env named 'demo'"


def test_uv_missing_keeps_its_own_hint_through_a_resolution(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """uv missing is a UvError of its own kind (UNAVAILABLE): the resolution's catch of
    UvError, which words uv's own failures, leaves its hint alone (it would otherwise say
    "change the profile's requirements"), and doctor's narrowed catch still takes it."""
    missing = tmp_path / "no-uv"
    monkeypatch.setenv("MLSTACK_UV", str(missing))
    with pytest.raises(UvError) as info:
        binary()
    assert info.value.kind is UvFailure.UNAVAILABLE
    assert info.value.exit_code == 1
    (tmp_path / "mlstack.toml").write_text('[profiles.p]\npackages = ["numpy"]\n',
                                           encoding="utf-8")
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    done = run_mlstack("lock", "--target", "cpu", "--python", python, "--offline",
                       cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"error: MLSTACK_UV={missing} does not exist",
        "hint: point MLSTACK_UV at a uv binary, or unset it to use the pinned one",
    ]
    assert probe_uv().error == f"MLSTACK_UV={missing} does not exist"
    monkeypatch.setenv("MLSTACK_UV", "/bin/false")  # there, but no uv
    info_false = probe_uv()
    assert (info_false.path, info_false.version, info_false.error) == (
        "/bin/false", None, "cannot run /bin/false --version")


def test_a_python_that_is_not_installed_is_a_target_error() -> None:
    with pytest.raises(TargetError) as info:
        find_python("3.99")
    assert info.value.message == "Python 3.99 is not installed"
    assert info.value.hint is not None
    assert info.value.hint.startswith("install Python 3.99 (e.g. apt-get install python3.99")


def test_a_bad_python_in_mlstack_toml_is_a_manifest_error(tmp_path: Path) -> None:
    """parse_python's refusal (a TargetError) is re-raised as the file's kind, its text
    as it was: the catches of ManifestError around a project (detect, stale_keys) take it."""
    manifest = tmp_path / "mlstack.toml"
    manifest.write_text('python = "three"\n[profiles.p]\npackages = ["numpy"]\n',
                        encoding="utf-8")
    with pytest.raises(ManifestError) as info:
        load_project(manifest)
    assert (info.value.message, info.value.hint) == (
        f"{manifest}:1: python = 'three' is not a Python version", "write it as X.Y, e.g. 3.12")


@pytest.mark.parametrize(("manifest", "lock"), [
    pytest.param('default-env = "p"\n[profiles.p]\npackages = ["numpy"]\n',
                 "version = 1\n[[entry]\n", id="lock-error"),
    pytest.param('python = "three"\n[profiles.p]\npackages = ["numpy"]\n', None,
                 id="manifest-error"),
    pytest.param('default-env = "p"\n[profiles.p]\npackages = ["numpy"]\n'
                 'python = ">=3.99"\n', None, id="target-error-no-such-python"),
])
def test_detect_still_works_in_a_broken_project(
        tmp_path: Path, manifest: str, lock: str | None) -> None:
    """detect's catch is narrowed to a broken project or lock (ManifestError, LockError,
    TargetError): each still leaves the Python line out, and detect exits 0."""
    (tmp_path / "mlstack.toml").write_text(manifest, encoding="utf-8")
    if lock is not None:
        (tmp_path / "mlstack.lock").write_text(lock, encoding="utf-8")
    done = run_mlstack("detect", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["lock_python"] is None


def test_env_lookups_are_store_kinds_and_picking_one_is_usage(
        isolated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """env run's light lookup and get_env say "no env named" as EnvNotFound, each with
    its own hint; with several envs and no default-env, the missing NAME is a usage
    error. The texts and exit code are the ones the CLI always printed."""
    no_envs = "there are no envs yet; create one with `mlstack env create PROFILE`"
    with pytest.raises(EnvNotFound) as light:
        current_generation_dir("ghost")
    assert (light.value.message, light.value.hint) == ("no env named 'ghost'", no_envs)
    with pytest.raises(EnvNotFound) as full:
        get_env("ghost")
    assert full.value.hint == "there are no envs yet; `mlstack env create PROFILE` makes one"
    with pytest.raises(StoreError) as empty:
        default_env_name()
    assert empty.value.message == "there are no envs yet"

    for name in ("a", "b"):
        make_env(isolated, name, {}, fake_venv(tmp_path / f"venv-{name}"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError) as which:
        default_env_name("mlstack run NAME -- CMD")
    assert which.value.message == "which env? there are 2: a, b"
    done = run_mlstack("run", "--", "true", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "error: which env? there are 2: a, b",
        "hint: name one (`mlstack run NAME -- CMD`), or set default-env in mlstack.toml",
    ]


def test_diff_sides_outside_git_are_lock_and_usage_kinds(tmp_path: Path) -> None:
    """A diff side that is neither a file nor a revision is a lock the user named wrongly
    (LockError); no git repository to read a committed lock from is a usage error."""
    with pytest.raises(LockError) as nothing:
        load_side("nope.lock", tmp_path)
    assert nothing.value.message == "nope.lock: no such lock file, and not a git revision"
    with pytest.raises(UsageError) as no_git:
        load_side(None, tmp_path, default_rev="HEAD")
    assert no_git.value.message == (
        f"{tmp_path} is not in a git repository, so there is no committed mlstack.lock "
        "to compare with")

"""``mlstack doctor`` through the real entry point, on fake machines."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from mlstack_env.catalog.target import Target
from mlstack_env.lockfile import Lock, LockEntry, dumps

Cli = Callable[..., subprocess.CompletedProcess[str]]
FakeMachine = Callable[[str], Path]


def _by_check(findings: list[dict[str, str | None]], check: str) -> list[dict[str, str | None]]:
    return [f for f in findings if f["check"] == check]


def test_doctor_on_7800xt_with_780m(cli: Cli, fake_machine: FakeMachine, tmp_path: Path) -> None:
    fake_machine("7800xt-780m")
    r = cli("doctor", env={"HOME": str(tmp_path)}, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr  # warnings only
    assert r.stderr == ""
    out = " ".join(r.stdout.split())  # the table wraps long findings
    assert "ROCm 6.3.0 does not officially support the Radeon RX 7800 XT / 7700 XT (from " \
        "6.4.1 on)" in out
    assert "ROCR_VISIBLE_DEVICES=1" in out and "Radeon 780M" in out and "firmware" in out


def test_doctor_json_on_7800xt_with_780m(cli: Cli, fake_machine: FakeMachine,
                                         tmp_path: Path) -> None:
    fake_machine("7800xt-780m")
    r = cli("doctor", "--json", env={"HOME": str(tmp_path)}, cwd=tmp_path)
    assert r.returncode == 0
    data = json.loads(r.stdout)
    assert set(data) == {"status", "findings"}  # one object, like every --json
    findings = data["findings"]
    assert isinstance(findings, list)
    assert data["status"] == ("warn" if any(f["status"] == "warn" for f in findings) else "ok")
    assert all(set(f) == {"check", "status", "message", "hint"} for f in findings)
    assert all(f["status"] in ("ok", "warn", "fail") for f in findings)
    support = _by_check(findings, "gpu-support")
    assert [f["status"] for f in support] == ["ok", "warn"]
    assert "(from 6.4.1 on)" in str(support[1]["message"])
    (igpu,) = _by_check(findings, "igpu")
    assert igpu["status"] == "warn" and "export ROCR_VISIBLE_DEVICES=1" in str(igpu["hint"])
    checks = {f["check"] for f in findings}
    assert {"gpu", "driver", "device-access", "rocm", "distro", "kernel", "hsa-override",
            "hsa-tools-lib", "pytorch-rocm-arch", "rocm-path", "old-env-files", "disk",
            "uv"} <= checks


def test_doctor_names_an_unknown_gpu(cli: Cli, fake_machine: FakeMachine,
                                     tmp_path: Path) -> None:
    fake_machine("unknown-gpu")
    r = cli("doctor", "--json", env={"HOME": str(tmp_path)}, cwd=tmp_path)
    assert r.returncode == 1  # nothing is guessed: the user must say which GPU
    gpu = _by_check(json.loads(r.stdout)["findings"], "gpu")
    assert [f["status"] for f in gpu] == ["ok", "fail"]
    assert "gfx1310" in str(gpu[1]["message"]) and "MLSTACK_GPU" in str(gpu[1]["hint"])


def test_doctor_without_a_gpu_fails(cli: Cli, fake_machine: FakeMachine, tmp_path: Path) -> None:
    fake_machine("no-gpu")
    r = cli("doctor", env={"HOME": str(tmp_path)}, cwd=tmp_path)
    assert r.returncode == 1
    assert "no AMD GPU found" in r.stdout
    r = cli("doctor", "--json", env={"HOME": str(tmp_path)}, cwd=tmp_path)
    assert r.returncode == 1
    (gpu,) = _by_check(json.loads(r.stdout)["findings"], "gpu")
    assert gpu["status"] == "fail"


def test_doctor_finds_the_users_mistakes(cli: Cli, fake_machine: FakeMachine,
                                         tmp_path: Path) -> None:
    fake_machine("7900xtx")
    (tmp_path / ".rocmrc").write_text("export HSA_TOOLS_LIB=1\n")
    (tmp_path / ".bashrc").write_text("source ~/.rocmrc\n")
    env = {"HOME": str(tmp_path), "HSA_TOOLS_LIB": "1", "HSA_OVERRIDE_GFX_VERSION": "10.3.0"}
    r = cli("doctor", "--json", env=env, cwd=tmp_path)
    assert r.returncode == 1
    findings = {f["check"]: f for f in json.loads(r.stdout)["findings"]}
    assert findings["hsa-tools-lib"]["status"] == "fail"
    assert findings["hsa-override"]["status"] == "fail"
    assert findings["old-env-files"]["status"] == "warn"
    assert "~/.bashrc line 1 sources ~/.rocmrc" in str(findings["old-env-files"]["message"])


def test_doctor_with_a_lock(cli: Cli, fake_machine: FakeMachine, tmp_path: Path) -> None:
    fake_machine("7900xtx")
    entry = LockEntry(profile="minimal", target=Target.parse("rocm7.1:gfx942"), python="3.12",
                      platform="x86_64-manylinux_2_28", packages=(), system=("coreutils",))
    lock = tmp_path / "team.lock"
    lock.write_text(dumps(Lock((entry,), "0.1.0", "0.13.9")))
    r = cli("doctor", "--lock", str(lock), "--json", env={"HOME": str(tmp_path)}, cwd=tmp_path)
    assert r.returncode == 1
    findings = {f["check"]: f for f in json.loads(r.stdout)["findings"]}
    assert findings["lock"]["status"] == "fail"
    assert "fits this machine" in str(findings["lock"]["message"])
    assert "rocm6.4:gfx1100" in str(findings["lock"]["message"])


def test_doctor_with_a_missing_lock_is_an_error(cli: Cli, tmp_path: Path) -> None:
    r = cli("doctor", "--lock", str(tmp_path / "nope.lock"), cwd=tmp_path)
    assert r.returncode == 1
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert lines[0].startswith("error: lock file ") and lines[1].startswith("hint: ")
    assert len(lines) == 2


class _FakeInstaller:
    def install(self, entry: LockEntry, venv: Path, workdir: Path, progress: object) -> str:
        (venv / "bin").mkdir(parents=True)
        (venv / "bin" / "python").write_text("#!/bin/sh\n")
        return "0.13.9"


def _scripts(gen_dir: Path, name: str, venv: Path, variables: object) -> None:
    (gen_dir / "bin").mkdir()
    (gen_dir / "bin" / "activate").write_text("# test\n")


def make_env(name: str, target: str, system: tuple[str, ...] = ()) -> None:
    """A named env in the test's store, made on the current MLSTACK_ROOT machine."""
    from mlstack_env.catalog.sources import catalog
    from mlstack_env.fetch.urlpolicy import UrlPolicy
    from mlstack_env.hardware import detect
    from mlstack_env.store.create import CreateEnvRequest, create_env

    entry = LockEntry(profile="minimal", target=Target.parse(target), python="3.12",
                      platform="x86_64-manylinux_2_28", packages=(), system=system)
    create_env(CreateEnvRequest(name, entry, detect(), source="/team/mlstack.lock",
                                url_policy=UrlPolicy(catalog())),
               installer=_FakeInstaller(), write_scripts=_scripts)


def test_doctor_env_matches_then_drifts(cli: Cli, fake_machine: FakeMachine,
                                        tmp_path: Path) -> None:
    fake_machine("7900xtx")
    make_env("work", "rocm6.4:gfx1100")
    r = cli("doctor", "--env", "work", "--json", env={"HOME": str(tmp_path)}, cwd=tmp_path)
    findings = {f["check"]: f for f in json.loads(r.stdout)["findings"]}
    assert findings["lock"]["status"] == "ok"
    assert findings["env-drift"]["status"] == "ok"
    assert "env work (generation 1" in str(findings["env-drift"]["message"])
    fake_machine("7800xt-780m")  # the same env, now on another machine
    r = cli("doctor", "--env", "work", "--json", env={"HOME": str(tmp_path)}, cwd=tmp_path)
    assert r.returncode == 1
    findings = {f["check"]: f for f in json.loads(r.stdout)["findings"]}
    assert findings["lock"]["status"] == "fail"
    assert findings["lock"]["message"] == (
        "env work was made for rocm6.4:gfx1100, but this machine is rocm6.3:gfx1101")
    drift = findings["env-drift"]
    assert drift["status"] == "warn"
    assert "GPUs gfx1100 -> gfx1103,gfx1101" in str(drift["message"])
    assert "ROCm 6.4.0 -> 6.3.0" in str(drift["message"])
    # Both hints give a command that works from anywhere: the lock the env came from.
    again = "mlstack env create minimal --name work --lock /team/mlstack.lock"
    assert drift["hint"] == f"re-create it: {again}"
    assert findings["lock"]["hint"] == f"re-create it here: {again}"


def test_doctor_unknown_env_and_both_options(cli: Cli, tmp_path: Path) -> None:
    r = cli("doctor", "--env", "nope", cwd=tmp_path)
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.startswith("error: no env named 'nope'\nhint: ")
    r = cli("doctor", "--env", "a", "--lock", "b.lock", cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr == "error: --env and --lock both name what to check\nhint: pass one of them\n"


def test_system_check_of_an_env(cli: Cli, fake_machine: FakeMachine, tmp_path: Path) -> None:
    if shutil.which("dpkg-query") is None:
        pytest.skip("needs dpkg")
    fake_machine("7900xtx")
    make_env("work", "rocm6.4:gfx1100", ("coreutils", "rocm-hip-runtime"))
    r = cli("system", "check", "--env", "work", "--json", cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    data = json.loads(r.stdout)
    assert data["source"] == "env work (generation 1): minimal@rocm6.4:gfx1100@py3.12"
    assert data["missing"] == ["rocm-hip-runtime"]

"""``mlstack init``: the manifest it writes, the component checks, the picker."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from mlstack_env.actions.manifest_init import pick, plan_init
from mlstack_env.catalog.target import Target
from mlstack_env.cli import main
from tests.conftest import mlstack_exe
from tests.wheelindex import WheelIndex

pytest_plugins = ["tests.wheelindex"]

Cli = Callable[..., subprocess.CompletedProcess[str]]
XTX = Target.parse("rocm6.4:gfx1100")


def _init(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["init", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_init_yes_on_a_7900xtx_writes_a_manifest_that_locks(  # noqa: PLR0917 - fixtures
    mirrored: WheelIndex, fake_machine: Callable[[str], Path], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], cli: Cli,
) -> None:
    fake_machine("7900xtx")
    project = tmp_path / "my project"
    project.mkdir()
    monkeypatch.chdir(project)
    old = os.umask(0o022)
    try:
        code, out, err = _init(capsys, "--yes", "--python", "3.12")
    finally:
        os.umask(old)
    assert code == 0, err
    manifest = project / "mlstack.toml"
    assert manifest.stat().st_mode & 0o777 == 0o644
    text = manifest.read_text()
    assert text.startswith("# mlstack project.")
    data = tomllib.loads(text)
    assert data["default-env"] == "my-project"
    assert data["targets"] == ["rocm6.4:gfx1100"]
    assert data["python"] == "3.12"
    assert data["profiles"]["my-project"]["packages"] == ["torch", "numpy"]
    assert '"torch", # PyTorch' in text
    assert out.splitlines()[0] == f"wrote {manifest}"
    # ... and `mlstack lock` accepts it, resolving against the (loopback) indexes.
    locked = cli("lock", cwd=project)
    assert locked.returncode == 0, locked.stderr
    lock = tomllib.loads((project / "mlstack.lock").read_text())
    (entry,) = lock["entry"]
    assert entry["profile"] == "my-project"
    assert entry["target"] == "rocm6.4:gfx1100"
    versions = {p["name"]: p["version"] for p in entry["package"]}
    assert versions["torch"] == "2.8.0+rocm6.4"
    assert "numpy" in versions


def test_refuses_to_overwrite_without_force(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mlstack.toml").write_text("# mine\n")
    code, out, err = _init(capsys, "--yes")
    assert (code, out) == (1, "")
    assert err.splitlines() == [
        f"error: {tmp_path / 'mlstack.toml'} already exists",
        "hint: edit it, or replace it with `mlstack init --force`",
    ]
    assert (tmp_path / "mlstack.toml").read_text() == "# mine\n"
    code, _, err = _init(capsys, "--yes", "--force", "--json")
    assert code == 0, err
    assert tomllib.loads((tmp_path / "mlstack.toml").read_text())["targets"] == ["cpu"]


def test_json_and_components(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    fake_machine: Callable[[str], Path],
) -> None:
    fake_machine("7900xtx")
    monkeypatch.chdir(tmp_path)
    code, out, err = _init(capsys, "--yes", "--json", "--profile", "train",
                           "--with", "deepspeed,megatron", "--with", "flash-attn",
                           "-t", "rocm6.4:gfx942")
    assert code == 0, err
    doc = json.loads(out)
    assert set(doc) == {"path", "profile", "default_env", "targets", "python", "python_why",
                        "components", "packages", "system", "env", "notes"}
    assert doc["targets"] == ["rocm6.4:gfx1100", "rocm6.4:gfx942"]
    assert doc["components"] == ["pytorch", "flash-attn", "deepspeed", "megatron"]
    # megatron-core's numpy<2 replaces the plain numpy requirement.
    assert doc["packages"] == ["torch", "flash-attn", "deepspeed", "megatron-core", "numpy<2"]
    assert doc["system"] == ["rocm-hip-sdk"]
    # A chosen target has an RDNA GPU: flash-attn's Triton backend is switched on.
    assert doc["env"] == {"FLASH_ATTENTION_TRITON_AMD_ENABLE": "TRUE"}
    data = tomllib.loads((tmp_path / "mlstack.toml").read_text())
    assert data["profiles"]["train"]["env"] == {"FLASH_ATTENTION_TRITON_AMD_ENABLE": "TRUE"}


def test_vllm_is_refused_on_rocm6_and_picks_python_312_on_rocm7(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    fake_machine: Callable[[str], Path],
) -> None:
    fake_machine("7900xtx")  # ROCm 6.4
    monkeypatch.chdir(tmp_path)
    # Without --target, init takes the nearest target with vLLM (tests/test_headline.py);
    # a target named with --target is the user's: refused there.
    code, out, err = _init(capsys, "--yes", "--no-detect", "-t", "rocm6.4:gfx1100",
                           "--with", "vllm")
    assert (code, out) == (1, "")
    error, hint = err.splitlines()
    assert error.startswith("error: vLLM is not available here (rocm6.4:gfx1100: needs "
                            "ROCm 7.0, 7.2.1, 7.2.2, 7.2.3 or 10.0 (target has 6.4))")
    assert hint == "hint: leave vllm out, or choose targets it supports with --target"
    assert not (tmp_path / "mlstack.toml").exists()
    plan = plan_init(tmp_path, [Target.parse("rocm7.0:gfx942")], None, ["vllm"],
                     running=(3, 11))
    assert (plan.python, plan.python_why) == ("3.12", "vLLM has wheels for Python 3.12 only")
    # The profile allows only that Python: on 3.11 PyPI's CUDA abi3 vllm would resolve.
    assert plan.python_range == "==3.12.*"
    code, _, err = _init(capsys, "--yes", "--no-detect", "-t", "rocm7.0:gfx942", "--with",
                         "vllm", "--python", "3.11")
    assert code == 1
    assert err.splitlines()[0] == "error: vLLM needs Python 3.12, not 3.11"


def test_python_is_the_running_one_when_allowed() -> None:
    plan = plan_init(Path("/p"), [Target.cpu()], None, None, running=(3, 13))
    assert (plan.python, plan.python_why) == ("3.13", "the Python mlstack runs on")
    # Not allowed: the lock's rule takes the newest installed Python the profiles allow
    # (never an uninstalled one, which `mlstack lock` would then refuse).
    from mlstack_env import uv

    allowed = [v for v in uv.installed_pythons() if v in ("3.10", "3.11", "3.12", "3.13")]
    plan = plan_init(Path("/p"), [Target.cpu()], None, None, running=(3, 14))
    assert plan.python == max(allowed, key=lambda v: int(v.split(".")[1]))
    assert plan.python_why == ("the newest installed Python allowed by the built-in "
                               "profiles (>=3.10,<3.14); mlstack runs on 3.14")


def test_python_outside_the_profiles_range_is_refused_as_lock_would(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    # One Python rule (resolve/request.choose_python): init no longer writes a Python
    # its own profile's range refuses, which `mlstack lock` would then reject.
    monkeypatch.chdir(tmp_path)
    code, out, err = _init(capsys, "--yes", "--no-detect", "-t", "cpu", "--python", "3.9")
    assert (code, out) == (1, "")
    assert err.splitlines() == [
        "error: the built-in profiles allow Python >=3.10,<3.14, not 3.9 (3.9 is --python)",
        "hint: choose another Python with --python",
    ]
    assert not (tmp_path / "mlstack.toml").exists()


def test_unknown_component(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = _init(capsys, "--yes", "--with", "transfomers")
    assert code == 1
    error, hint = err.splitlines()
    assert error == "error: unknown component 'transfomers'"
    assert hint.startswith("hint: did you mean 'transformers'? components: pytorch, ")


def test_picker_toggles_and_shows_what_each_needs() -> None:
    shown: list[str] = []
    answers = iter(["3 9", "4", "12", "3", ""])
    chosen = pick([XTX], None, lambda _prompt: next(answers), shown.append)
    # 3 Transformers on then off; 9 bitsandbytes on; 4 vLLM refused; 12 Triton always in.
    assert chosen == ["pytorch", "bitsandbytes"]
    text = "\n".join(shown)
    assert "  4  -  vLLM" in text
    assert ("not available: rocm6.4:gfx1100: needs ROCm 7.0, 7.2.1, 7.2.2, 7.2.3 or 10.0 "
            "(target has 6.4)") in text
    assert "          system: rocm-hip-sdk" in text  # DeepSpeed
    assert "          env: FLASH_ATTENTION_TRITON_AMD_ENABLE=TRUE" in text
    assert "  vLLM is not available for these targets" in shown
    assert "  Triton is always in" in shown
    assert " 12 (=) Triton                     (comes with PyTorch)" in shown


def test_picker_on_a_real_terminal(tmp_path: Path) -> None:
    """The picker runs only on a terminal: drive `mlstack init` through a pty."""
    master, slave = pty.openpty()
    env = dict(os.environ, TERM="dumb")
    proc = subprocess.Popen([*mlstack_exe(), "init", "--no-detect", "-t", "rocm6.4:gfx1100"],
                            stdin=slave, stdout=slave, stderr=slave, cwd=tmp_path, env=env)
    os.close(slave)
    seen = b""

    def read_until(marker: bytes) -> None:
        nonlocal seen
        while marker not in seen:
            ready, _, _ = select.select([master], [], [], 60)
            assert ready, seen.decode(errors="replace")
            chunk = os.read(master, 4096)
            assert chunk, seen.decode(errors="replace")
            seen += chunk

    read_until(b"Enter to accept")
    os.write(master, b"3\n")
    seen = b""
    read_until(b"Enter to accept")
    assert b"[x] Transformers" in seen
    os.write(master, b"\n")
    assert proc.wait(timeout=60) == 0
    os.close(master)
    data = tomllib.loads((tmp_path / "mlstack.toml").read_text())
    name = data["default-env"]
    assert data["profiles"][name]["packages"] == ["torch", "numpy", "transformers>=4.50",
                                                  "accelerate"]


def test_components_are_consistent_data() -> None:
    """Every component's requirements parse, its system packages are in the system
    catalog, and the facts ROCM-FACTS §4 gives hold in the data."""
    from packaging.requirements import Requirement

    from mlstack_env.catalog.components import component, components
    from mlstack_env.system.catalog import system_catalog

    known_system = set(system_catalog().packages)
    for c in components():
        for req in c.packages:
            Requirement(req)
        assert set(c.system) <= known_system, c.id
    titles = [c.title for c in components()]
    assert titles[0] == "PyTorch"
    assert len(titles) == 12
    vllm = component("vllm")
    assert vllm is not None
    assert vllm.problems(Target.parse("rocm7.0:gfx1100"), "3.12") == []
    assert vllm.problems(Target.parse("rocm7.0:gfx1030"), "3.12") == ["no build for gfx1030"]
    assert vllm.problems(Target.cpu(), "3.12") == ["no cpu build"]
    # Its ROCm releases are the vllm-rocm source's variants: 7.1 has none, 7.2.1 has one.
    assert vllm.problems(Target.parse("rocm7.1:gfx942"), "3.12") == [
        "needs ROCm 7.0, 7.2.1, 7.2.2, 7.2.3 or 10.0 (target has 7.1)"]
    assert vllm.problems(Target.parse("rocm7.2.1:gfx942"), "3.12") == []
    assert vllm.python == ("3.12",)  # the source's Pythons
    onnx = component("onnxruntime")
    assert onnx is not None
    assert onnx.packages == ("onnxruntime-migraphx",)
    deepspeed = component("deepspeed")
    assert deepspeed is not None
    assert deepspeed.system == ("rocm-hip-sdk",)
    megatron = component("megatron")
    assert megatron is not None
    assert "numpy<2" in megatron.packages
    # bitsandbytes: ROCm binaries from 0.49; 0.50.2 has libraries up to ROCm 7.15, none for 10.
    bnb = component("bitsandbytes")
    assert bnb is not None
    assert bnb.packages == ("bitsandbytes>=0.49",)
    for ok in ("rocm6.0:gfx1100", "rocm6.4:gfx1100", "rocm7.2:gfx1100", "rocm7.14:gfx1100"):
        assert bnb.problems(Target.parse(ok), "3.12") == [], ok
    assert bnb.problems(Target.parse("rocm10.0:gfx1100"), "3.12") == [
        "needs ROCm <10 (target has 10.0)"]


def test_a_folder_named_with_two_dots_gets_an_env_name_the_rule_accepts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    # `mkdir my..proj && cd my..proj && mlstack init --yes` (issue 23): the folder's slug
    # follows the env-name rule, which refuses '..'.
    folder = tmp_path / "my..proj"
    folder.mkdir()
    monkeypatch.chdir(folder)
    code, _, err = _init(capsys, "--yes", "--json")
    assert code == 0, err
    manifest = tomllib.loads((folder / "mlstack.toml").read_text())
    assert manifest["default-env"] == "my.proj"
    assert list(manifest["profiles"]) == ["my.proj"]


def test_a_profile_name_follows_the_env_name_rule_with_its_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, init_err = _init(capsys, "--yes", "--profile", "a..b")
    assert code == 1
    (tmp_path / "mlstack.toml").write_text('[profiles."a..b"]\npackages = []\n')
    code = main(["lock"])
    lock_err = capsys.readouterr().err
    assert code == 1
    assert init_err.splitlines() == [
        "error: invalid env name 'a..b'",
        "hint: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit "
        "(no '/', no '..')",
    ]
    where = tmp_path / "mlstack.toml"
    assert lock_err.splitlines()[0] == f"error: {where}:1: bad profile name 'a..b'"
    assert lock_err.splitlines()[1] == init_err.splitlines()[1]

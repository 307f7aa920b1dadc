"""`mlstack export docker|apptainer`: the recipes by content, and their install step run as a
script in a temp root (the image's /opt/mlstack) against the loopback index. No Docker,
Podman or Apptainer here: nothing pulls the base image or runs the build itself."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from mlstack_env import uv
from mlstack_env.containers import PREFIX, SCRATCH, base_image, make_recipe, rocm_as_wheels
from mlstack_env.errors import MlstackError
from mlstack_env.target import Target
from tests.envfixtures import team_lock, torch_entry, write_lock
from tests.wheelindex import WheelIndex

pytest_plugins = ["tests.wheelindex"]

Cli = Callable[..., subprocess.CompletedProcess[str]]
IMPORT_TORCH = "import torch; print(torch.__version__)"


# --- running a recipe's build steps without a container engine -------------------------


def _tools(tmp_path: Path) -> dict[str, str]:
    """What the image has on PATH for the build: uv (copied from the uv image) and a
    python3.12 (the ROCm image's own; uv cannot download one here)."""
    bin_dir = tmp_path / "image-bin"
    bin_dir.mkdir(exist_ok=True)
    for name, target in (("uv", uv.binary()), ("python3.12", uv.find_python("3.12"))):
        link = bin_dir / name
        if not link.exists():
            link.symlink_to(target)
    return {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path),
            "UV_PYTHON_DOWNLOADS": "never"}


def _in_root(text: str, root: Path) -> str:
    """The recipe's paths under ``root``: the image's install prefix, and the scratch
    folder the install step uses in the image's own /tmp (on this host /tmp is shared
    with the tests running beside it)."""
    return text.replace(PREFIX, f"{root}{PREFIX}").replace(SCRATCH, f"{root}{SCRATCH}")


def _run(script: str, env: dict[str, str], root: Path) -> None:
    r = subprocess.run(["sh", "-c", _in_root(script, root)], env=env, capture_output=True,
                       text=True, check=False, timeout=300)
    assert r.returncode == 0, r.stderr


def build_docker(dockerfile: Path, root: Path, tmp_path: Path,
                 build_args: dict[str, str] | None = None) -> None:
    """ARG, COPY (from the context) and RUN of the final stage, as `docker build` runs them."""
    env = _tools(tmp_path)
    text = dockerfile.read_text(encoding="utf-8").replace("\\\n", "")
    stage = text.split("\nFROM ")[-1]
    for line in stage.splitlines():
        word, _, rest = line.partition(" ")
        if word == "ARG":
            name, _, default = rest.partition("=")
            env[name] = (build_args or {}).get(name, shlex.split(default)[0] if default else "")
        elif word == "COPY" and not rest.startswith("--from"):
            src, dst = rest.split()
            (root / dst.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(dockerfile.parent / src, root / dst.lstrip("/"))
        elif word == "RUN":
            _run(rest, env, root)


def _sections(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("%"):
            current = line[1:].strip()
            out[current] = []
        elif current is not None:
            out[current].append(line)
    return out


def build_apptainer(definition: Path, root: Path, tmp_path: Path,
                    build_args: dict[str, str] | None = None) -> None:
    """%arguments, %files (from the build folder) and %post, as `apptainer build` runs them."""
    sections = _sections(definition.read_text(encoding="utf-8"))
    args = dict(line.strip().split("=", 1) for line in sections["arguments"] if line.strip())
    args.update(build_args or {})
    for line in sections["files"]:
        if line.strip():
            src, dst = line.split()
            (root / dst.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(definition.parent / src, root / dst.lstrip("/"))
    post = "\n".join(sections["post"])
    post = re.sub(r"\{\{ (\w+) \}\}", lambda m: args[m.group(1)], post)
    _run(post, _tools(tmp_path), root)


def _loopback(index: WheelIndex) -> str:
    return " ".join(f"{k}={v}" for k, v in index.mirrors.items())


def _no_mirror(text: str, index: WheelIndex) -> None:
    assert index.url not in text and "127.0.0.1" not in text


# --- the done-when -----------------------------------------------------------------------


def test_done_when_docker_and_apptainer(mirrored: WheelIndex,
                                        fake_machine: Callable[[str], Path], tmp_path: Path,
                                        cli: Cli) -> None:
    fake_machine("7900xtx")
    lock = team_lock(tmp_path / "mlstack.lock")
    assert cli("env", "create", "demo", "--lock", str(lock)).returncode == 0
    work = tmp_path / "ctx"
    r = cli("export", "docker", "demo", "-o", str(work / "Dockerfile"), "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["base_image"] == "rocm/dev-ubuntu-24.04:6.4-complete"
    assert data["lock"] == str(work / "pylock.demo.toml") and data["mirrors"] == {}
    a = cli("export", "apptainer", "demo", "-o", str(work / "demo.def"))
    assert a.returncode == 0, a.stderr
    dockerfile, definition = work / "Dockerfile", work / "demo.def"
    for path in (dockerfile, definition, work / "pylock.demo.toml"):
        _no_mirror(path.read_text(encoding="utf-8"), mirrored)
    assert "https://download.pytorch.org/whl/rocm6.4/torch-2.8.0" in \
        (work / "pylock.demo.toml").read_text(encoding="utf-8")
    for build, recipe in ((build_docker, dockerfile), (build_apptainer, definition)):
        root = tmp_path / f"root-{recipe.name}"
        build(recipe, root, tmp_path, {"MLSTACK_MIRRORS": _loopback(mirrored)})
        python = root / PREFIX.lstrip("/") / "venv" / "bin" / "python"
        out = subprocess.run([str(python), "-c", IMPORT_TORCH], capture_output=True,
                             text=True, check=False)
        assert out.stdout == "2.8.0+rocm6.4\n", out.stderr


def test_the_install_step_checks_hashes(mirrored: WheelIndex, tmp_path: Path) -> None:
    """A lock whose sha256 does not match the served wheel stops the build."""
    entry = torch_entry("demo", "rocm6.4:gfx1100")
    recipe = make_recipe("docker", entry, name="demo")
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "Dockerfile").write_text(recipe.text, encoding="utf-8")
    torch_sha = next(w.sha256 for p in entry.packages if p.name == "torch" for w in p.wheels)
    (tmp_path / "ctx" / recipe.lock_name).write_text(
        recipe.lock_text.replace(torch_sha, "0" * 64), encoding="utf-8")
    with pytest.raises(AssertionError, match=r"[Hh]ash"):
        build_docker(tmp_path / "ctx" / "Dockerfile", tmp_path / "root", tmp_path,
                     {"MLSTACK_MIRRORS": _loopback(mirrored)})
    site = tmp_path / "root" / PREFIX.lstrip("/") / "venv" / "lib" / "python3.12" / \
        "site-packages"
    assert not list(site.glob("torch*"))


def test_with_mirrors_bakes_the_build_argument(mirrored: WheelIndex, tmp_path: Path,
                                               cli: Cli) -> None:
    lock = write_lock(tmp_path / "mlstack.lock", [torch_entry("ml", "rocm6.4:gfx1100")])
    out = tmp_path / "ctx" / "ml.def"
    r = cli("export", "apptainer", "--lock", str(lock), "-o", str(out), "--with-mirrors",
            "--json")
    assert r.returncode == 0, r.stderr
    text = out.read_text(encoding="utf-8")
    assert f"    MLSTACK_MIRRORS={mirrored.url}" not in text  # canonical first: FROM=TO
    assert f"https://download.pytorch.org/={mirrored.url}/pytorch/" in text
    _no_mirror((tmp_path / "ctx" / "pylock.ml.toml").read_text(encoding="utf-8"), mirrored)
    root = tmp_path / "root"
    build_apptainer(out, root, tmp_path)  # no build argument: the baked default
    python = root / PREFIX.lstrip("/") / "venv" / "bin" / "python"
    assert subprocess.run([str(python), "-c", IMPORT_TORCH], capture_output=True, text=True,
                          check=False).stdout == "2.8.0+rocm6.4\n"


# --- content -------------------------------------------------------------------------------


NASTY = {"EVIL": "it's $(touch pwned) `x` \"q\" \\n ${HOME}", "PYTORCH_ROCM_ARCH": "gfx1100",
         "SPACES": "  a  b  "}


def test_recipes_are_deterministic_and_quote_values(tmp_path: Path) -> None:
    entry = torch_entry("demo", "rocm6.4:gfx1100", env=NASTY)
    docker = make_recipe("docker", entry, name="demo")
    assert docker.text == make_recipe("docker", entry, name="demo").text
    assert not re.search(r"20\d\d-\d\d-\d\d", docker.text)  # no timestamp
    env_lines = [line for line in docker.text.splitlines() if line.startswith("ENV ")]
    # BuildKit's lexer reads these words like sh does (single quotes literal, \ escapes).
    parsed = dict(shlex.split(line[4:])[0].split("=", 1) for line in env_lines)
    assert {k: parsed[k] for k in NASTY} == NASTY
    assert parsed["VIRTUAL_ENV"] == "/opt/mlstack/venv"
    assert "--device=/dev/kfd --device=/dev/dri --group-add video" in docker.text
    app = make_recipe("apptainer", entry, name="demo")
    assert "apptainer exec --rocm" in app.text
    env_section = "\n".join(_sections(app.text)["environment"])
    work = tmp_path / "w"
    work.mkdir()
    script = env_section + '\nprintf "%s\\0" "$EVIL" "$SPACES" "$PYTORCH_ROCM_ARCH"'
    out = subprocess.run(["sh", "-c", script], cwd=work, capture_output=True, text=True,
                         check=False)
    assert out.stdout.split("\0")[:3] == [NASTY["EVIL"], NASTY["SPACES"], "gfx1100"]
    assert not (work / "pwned").exists()


def test_a_line_break_cannot_go_into_a_dockerfile() -> None:
    entry = torch_entry("demo", "rocm6.4:gfx1100", env={"BAD": "a\nRUN rm -rf /"})
    with pytest.raises(MlstackError, match="BAD holds a line break"):
        make_recipe("docker", entry, name="demo")
    assert "BAD='a\nRUN rm -rf /'" in make_recipe("apptainer", entry, name="demo").text


@pytest.mark.parametrize(("text", "image"), [
    ("rocm6.4:gfx1100", "rocm/dev-ubuntu-24.04:6.4-complete"),
    ("rocm6.4.1:gfx942", "rocm/dev-ubuntu-24.04:6.4.1"),
    ("rocm6.1:gfx90a", "rocm/dev-ubuntu-22.04:6.1-complete"),
    ("rocm7.2.4:gfx1201", "rocm/dev-ubuntu-24.04:7.2.4"),
    ("rocm7.14:gfx1100", "ubuntu:24.04"),
    ("rocm10.0:gfx942", "ubuntu:24.04"),
    ("cpu", "ubuntu:24.04"),
])
def test_base_image(text: str, image: str) -> None:
    target = Target.parse(text)
    assert base_image(target) == image
    assert rocm_as_wheels(target) == (image == "ubuntu:24.04" and target.is_rocm)


def test_export_errors(mirrored: WheelIndex, tmp_path: Path, cli: Cli) -> None:
    lock = team_lock(tmp_path / "mlstack.lock")
    several = cli("export", "docker", "--lock", str(lock), "-o", str(tmp_path / "Dockerfile"))
    assert several.returncode == 1
    assert "2 entries match" in several.stderr and "--target" in several.stderr
    no_o = cli("export", "docker", "--lock", str(lock), "--target", "rocm6.4:gfx1100")
    assert no_o.returncode == 1 and "needs -o PATH" in no_o.stderr
    kind = cli("export", "podman", "-o", str(tmp_path / "x"))
    assert kind.returncode == 1 and "unknown container kind 'podman'" in kind.stderr
    assert not (tmp_path / "Dockerfile").exists() and not (tmp_path / "x").exists()
    assert not list(tmp_path.glob("pylock.*"))


def test_custom_base(tmp_path: Path) -> None:
    entry = torch_entry("demo", "rocm6.4:gfx942")
    recipe = make_recipe("docker", entry, name="demo", base="docker.io/rocm/pytorch:latest")
    assert "\nFROM docker.io/rocm/pytorch:latest\n" in recipe.text
    assert os.sep not in recipe.lock_name

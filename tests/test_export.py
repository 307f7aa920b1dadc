"""`mlstack export docker|apptainer`: the recipes by content, and their install step run as a
script in a temp root (the image's /opt/mlstack) against the loopback index. No Docker,
Podman or Apptainer here: nothing pulls the base image or runs the build itself."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mlstack_env import uv
from mlstack_env.catalog.target import Target
from mlstack_env.core.errors import MlstackError
from mlstack_env.export.containers import PREFIX, SCRATCH, base_image, rocm_as_wheels
from mlstack_env.lockfile import map_url, pylock_file_name
from tests.envfixtures import catalog_recipe, team_lock, torch_entry, write_lock
from tests.wheelindex import WheelIndex, write_project

pytest_plugins = ["tests.wheelindex"]

Cli = Callable[..., subprocess.CompletedProcess[str]]
IMPORT_TORCH = "import torch; print(torch.__version__)"


# --- running a recipe's build steps without a container engine -------------------------


def _tools(tmp_path: Path, python: str = "3.12") -> dict[str, str]:
    """What the image has on PATH for the build: uv (copied from the uv image) and a
    python3.12 (the ROCm image's own; uv cannot download one here)."""
    bin_dir = tmp_path / f"image-bin-{python}"
    bin_dir.mkdir(exist_ok=True)
    for name, target in (("uv", uv.binary()), (f"python{python}", uv.find_python(python))):
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
                 build_args: dict[str, str] | None = None, python: str = "3.12") -> None:
    """ARG, COPY (from the context) and RUN of the final stage, as `docker build` runs them."""
    env = _tools(tmp_path, python)
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
                    build_args: dict[str, str] | None = None, python: str = "3.12") -> None:
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
    _run(post, _tools(tmp_path, python), root)


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
    recipe = catalog_recipe("docker", entry, name="demo")
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
    docker = catalog_recipe("docker", entry, name="demo")
    assert docker.text == catalog_recipe("docker", entry, name="demo").text
    assert not re.search(r"20\d\d-\d\d-\d\d", docker.text)  # no timestamp
    env_lines = [line for line in docker.text.splitlines() if line.startswith("ENV ")]
    # BuildKit's lexer reads these words like sh does (single quotes literal, \ escapes).
    parsed = dict(shlex.split(line[4:])[0].split("=", 1) for line in env_lines)
    assert {k: parsed[k] for k in NASTY} == NASTY
    assert parsed["VIRTUAL_ENV"] == "/opt/mlstack/venv"
    assert "--device=/dev/kfd --device=/dev/dri --group-add video" in docker.text
    app = catalog_recipe("apptainer", entry, name="demo")
    assert "apptainer exec --rocm" in app.text
    env_section = "\n".join(_sections(app.text)["environment"])
    work = tmp_path / "w"
    work.mkdir()
    script = env_section + '\nprintf "%s\\0" "$EVIL" "$SPACES" "$PYTORCH_ROCM_ARCH"'
    out = subprocess.run(["sh", "-c", script], cwd=work, capture_output=True, text=True,
                         check=False)
    assert out.stdout.split("\0")[:3] == [NASTY["EVIL"], NASTY["SPACES"], "gfx1100"]
    assert not (work / "pwned").exists()


# A value that would start an Apptainer section (%setup runs on the build host) or a new
# Dockerfile instruction, in each place a lock puts text into a recipe.
SECTION = "x\n%setup\n touch /PWN #"


@pytest.mark.parametrize("kind", ["docker", "apptainer"])
@pytest.mark.parametrize("breaks", [
    {"env": {"NOTE": SECTION}},
    {"env": {"NOTE": "x\r%setup"}},
    {"env": {"NOTE": "x\u2028%setup"}},
    {"profile": "ml\n%setup\n touch /PWN"},
    {"base": "debian\n%setup\n touch /PWN"},
])
def test_no_value_starts_a_line_in_a_recipe(kind: str, breaks: dict[str, Any]) -> None:
    entry = torch_entry(breaks.get("profile", "demo"), "rocm6.4:gfx1100", env=breaks.get("env"))
    with pytest.raises(MlstackError, match="holds a line break") as err:
        catalog_recipe(kind, entry, name="demo", base=breaks.get("base"))
    assert ("Apptainer" if kind == "apptainer" else "Dockerfile") in err.value.message


def test_the_apptainer_section_value_is_refused_by_the_cli(mirrored: WheelIndex,
                                                           tmp_path: Path, cli: Cli) -> None:
    lock = write_lock(tmp_path / "mlstack.lock",
                      [torch_entry("ml", "rocm6.4:gfx1100", env={"NOTE": SECTION})])
    out = tmp_path / "ctx" / "ml.def"
    r = cli("export", "apptainer", "--lock", str(lock), "-o", str(out))
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert lines[0].startswith("error: variable NOTE holds a line break, which an Apptainer "
                               "definition cannot carry"), r.stderr
    assert lines[-1].startswith("hint:") and "mlstack env pack" in lines[-1]
    assert not (tmp_path / "ctx").exists()


def test_accepted_values_open_no_section() -> None:
    """Values that are accepted (no line break, no template) never put a line starting
    with % into the definition: its sections are exactly mlstack's."""
    env = {"PCT": "%setup", "SP": " %post", "TAB": "a\t%files", "Q": "'%runscript'"}
    text = catalog_recipe("apptainer", torch_entry("demo", "rocm6.4:gfx1100", env=env),
                       name="demo").text
    opened = [line for line in text.splitlines() if line.startswith("%")]
    assert opened == ["%arguments", "%files from uv", "%files", "%post", "%environment",
                      "%labels"]
    assert not any(line.lstrip().startswith("%") and not line.startswith("%")
                   for line in text.splitlines())


def test_an_apptainer_template_in_a_value_is_refused() -> None:
    """Apptainer fills {{ NAME }} from build arguments anywhere in the file: a value holding
    it would not reach the image as written. A Dockerfile carries it as it is."""
    entry = torch_entry("demo", "rocm6.4:gfx1100", env={"NOTE": "{{ MLSTACK_MIRRORS }}"})
    with pytest.raises(MlstackError, match="reads as a build argument"):
        catalog_recipe("apptainer", entry, name="demo")
    assert "ENV NOTE='{{ MLSTACK_MIRRORS }}'" in catalog_recipe("docker", entry, name="demo").text


def test_the_mirrored_copy_keeps_the_pep751_name() -> None:
    for kind in ("docker", "apptainer"):
        text = catalog_recipe(kind, torch_entry("ml.v2", "rocm6.4:gfx1100"), name="ml.v2").text
        assert f"lock={SCRATCH}/pylock.ml_v2.toml" in text
        assert "pylock.toml" not in text


def test_mirror_prefixes_stay_one_quoted_word() -> None:
    entry = torch_entry("demo", "rocm6.4:gfx1100")
    for mirror in ("https://m/x' ; touch /PWN '", "https://m/a b", "https://m/\n%setup"):
        with pytest.raises(MlstackError, match=r"\[mirrors\] prefix"):
            catalog_recipe("apptainer", entry, name="demo",
                        mirrors={"https://download.pytorch.org/": mirror})


# --- the URL policy (what env create and bundle enforce) ---------------------------------


@pytest.mark.parametrize("url", [
    "https://evil.example/whl/torch-2.8.0.whl",
    "file:///tmp/torch-2.8.0.whl",
    "http://download.pytorch.org/whl/rocm6.4/torch-2.8.0.whl",
    "https://user:secret@download.pytorch.org/whl/rocm6.4/torch-2.8.0.whl",
    "https://download.pytorch.org@evil.example/whl/torch-2.8.0.whl",
])
@pytest.mark.parametrize("kind", ["docker", "apptainer"])
def test_export_enforces_the_url_policy(url: str, kind: str, mirrored: WheelIndex,
                                        tmp_path: Path, cli: Cli) -> None:
    entry = torch_entry("ml", "rocm6.4:gfx1100")
    packages = tuple(
        dataclasses.replace(p, wheels=(dataclasses.replace(p.wheels[0], url=url),))
        if p.name == "torch" else p for p in entry.packages)
    lock = write_lock(tmp_path / "mlstack.lock", [dataclasses.replace(entry, packages=packages)])
    out = tmp_path / "ctx" / ("Dockerfile" if kind == "docker" else "ml.def")
    r = cli("export", kind, "--lock", str(lock), "-o", str(out))
    assert r.returncode == 1
    error, hint = r.stderr.strip().splitlines()
    assert error.startswith(f"error: {lock}: entry ml@rocm6.4:gfx1100@py3.12: wheel URL {url} "
                            "is "), error
    assert "not a configured source" in error or "outside the configured sources" in error
    assert hint.startswith("hint: re-lock from the configured sources") and "allow-urls" in hint
    assert not (tmp_path / "ctx").exists()
    # The same lock, created: the same refusal (one rule for create, bundle and export).
    created = cli("env", "create", "ml", "--lock", str(lock), "--target", "rocm6.4:gfx1100")
    assert created.returncode == 1
    assert [line for line in created.stderr.splitlines() if line.startswith("error:")] == [error]


def test_allow_urls_lets_export_take_it(mirrored: WheelIndex, tmp_path: Path,
                                        cli: Cli) -> None:
    """A project's allow-urls, beside the lock, is the policy export reads too."""
    url = "https://wheels.example.org/torch-2.8.0.whl"
    entry = torch_entry("ml", "rocm6.4:gfx1100")
    packages = tuple(
        dataclasses.replace(p, wheels=(dataclasses.replace(p.wheels[0], url=url),))
        if p.name == "torch" else p for p in entry.packages)
    (tmp_path / "mlstack.toml").write_text(
        'allow-urls = ["https://wheels.example.org/"]\n', encoding="utf-8")
    lock = write_lock(tmp_path / "mlstack.lock", [dataclasses.replace(entry, packages=packages)])
    r = cli("export", "docker", "--lock", str(lock), "-o", str(tmp_path / "ctx" / "Dockerfile"))
    assert r.returncode == 0, r.stderr
    assert url in (tmp_path / "ctx" / "pylock.ml.toml").read_text(encoding="utf-8")


# --- PEP 751 names -------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "file"), [
    ("demo", "pylock.demo.toml"),
    ("ml.v2", "pylock.ml_v2.toml"),
    ("ml-cpu-py3.12", "pylock.ml-cpu-py3_12.toml"),
    ("ml@rocm6.4:gfx942,gfx1100@py3.12", "pylock.ml-rocm6_4-gfx942-gfx1100-py3_12.toml"),
    ("..", "pylock.toml"),
    ("é/x y", "pylock.x-y.toml"),
])
def test_pylock_names_follow_pep751(name: str, file: str) -> None:
    from packaging.pylock import is_valid_pylock_path

    assert pylock_file_name(name) == file
    assert is_valid_pylock_path(Path(file))


def test_a_dotted_name_builds_without_mirrors(wheel_index: WheelIndex, tmp_path: Path,
                                              cli: Cli) -> None:
    """No MLSTACK_MIRRORS at build time: uv reads the file under its own name, which
    must be PEP 751's (a profile named ml.v2 gave pylock.ml.v2.toml, which uv refuses).
    The lock here names the loopback index itself, as a lock from an internal index would."""
    entry = torch_entry("ml.v2", "rocm6.4:gfx1100", python="3.11")
    served = dataclasses.replace(entry, packages=tuple(
        dataclasses.replace(p, wheels=tuple(
            dataclasses.replace(w, url=map_url(w.url, wheel_index.mirrors)) for w in p.wheels))
        for p in entry.packages))
    (tmp_path / "mlstack.toml").write_text(
        f'allow-urls = ["{wheel_index.url}/"]\n', encoding="utf-8")
    lock = write_lock(tmp_path / "mlstack.lock", [served])
    for kind, out in (("docker", "Dockerfile"), ("apptainer", "ml.def")):
        r = cli("export", kind, "--lock", str(lock), "-o", str(tmp_path / "ctx" / out),
                "--json")
        assert r.returncode == 0, r.stderr
        assert Path(json.loads(r.stdout)["lock"]).name == "pylock.ml_v2.toml"
        assert "pylock.ml_v2.toml" in (tmp_path / "ctx" / out).read_text(encoding="utf-8")
    assert sorted(p.name for p in (tmp_path / "ctx").iterdir()) == \
        ["Dockerfile", "ml.def", "pylock.ml_v2.toml"]
    for build, recipe in ((build_docker, tmp_path / "ctx" / "Dockerfile"),
                          (build_apptainer, tmp_path / "ctx" / "ml.def")):
        root = tmp_path / f"root-{recipe.name}"
        build(recipe, root, tmp_path, python="3.11")  # no build argument: no mirrors
        python = root / PREFIX.lstrip("/") / "venv" / "bin" / "python"
        out = subprocess.run([str(python), "-c", IMPORT_TORCH], capture_output=True,
                             text=True, check=False)
        assert out.stdout == "2.8.0+rocm6.4\n", out.stderr


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
    recipe = catalog_recipe("docker", entry, name="demo", base="docker.io/rocm/pytorch:latest")
    assert "\nFROM docker.io/rocm/pytorch:latest\n" in recipe.text
    assert os.sep not in recipe.lock_name


def test_export_pylock_refuses_rocm_as_wheels_and_writes_nothing(
        mirrored: WheelIndex, tmp_path: Path, cli: Cli) -> None:
    """A ROCm-as-wheels entry's selector is an sdist mlstack unpacks; no pylock carries
    that step (uv builds an sdist, or leaves rocm[libraries] unmet): one refusal, naming
    what ships it instead, and neither the lock nor any pylock is written."""
    write_project(tmp_path, profiles={"ml": ["torch"]}, targets=["cpu", "rocm7.14:gfx1100"])
    out = tmp_path / "pylocks"
    r = cli("lock", "--export-pylock", str(out), cwd=tmp_path)
    assert r.returncode == 1
    errors = [line for line in r.stderr.splitlines() if line.startswith(("error:", "hint:"))]
    assert len(errors) == 2, r.stderr
    assert errors[0].startswith("error: entry ml@rocm7.14:gfx1100@py3.12 holds ROCm as "
                                "wheels, and no PEP 751 pylock can install it")
    assert "`mlstack env pack NAME`" in errors[1] and "`mlstack export docker`" in errors[1]
    assert not (tmp_path / "mlstack.lock").exists() and not out.exists()
    # The hint's way out: the other target's pylock, also once the lock holds the
    # ROCm-as-wheels entry (only the entries asked for are exported).
    assert cli("lock", cwd=tmp_path).returncode == 0
    r = cli("lock", "--target", "cpu", "--export-pylock", str(out), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert [p.name for p in out.iterdir()] == ["pylock.ml-cpu-py3_12.toml"]

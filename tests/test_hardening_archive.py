"""Issue 21, items 1 and 2: an archive's manifest and a site name are hostile data.

Item 1: ``env unpack`` never writes outside DIR through ``mlstack-pack.json``'s ``links``
(tar and squashfs). Item 2: a site name is one word of data (refused at load, wherever it
comes from) and is quoted in every script, checked in the real shells that read them.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from mlstack_env.activation.data import ActivationData
from mlstack_env.activation.scripts import render_fish, render_sh, write_scripts
from mlstack_env.activation.shells import shell_command
from mlstack_env.core.errors import MlstackError
from mlstack_env.store.pack import MANIFEST
from mlstack_env.store.unpack import unpack_env
from tests.envfixtures import error_lines

Cli = Callable[..., subprocess.CompletedProcess[str]]
HOSTILE_SITE = "x\ntouch PWN\n#"

SQUASHFS = pytest.mark.skipif(shutil.which("mksquashfs") is None,
                              reason="squashfs-tools is not installed")


def _manifest(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {"format": 1, "name": "evil", "python": "3.12",
                               "interpreter_home": "/usr/bin", "venv": "/old/venv",
                               "links": {}, "store_key": "k", "variables": {}, "site": None}
    return base | fields


def _tar(path: Path, manifest: dict[str, object]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in ((MANIFEST, json.dumps(manifest).encode()),
                           ("venv/pyvenv.cfg", b"home = /usr/bin\nrelocatable = true\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _sqsh(path: Path, manifest: dict[str, object]) -> Path:
    stage = path.parent / "stage"
    (stage / "venv").mkdir(parents=True)
    (stage / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    (stage / "venv" / "pyvenv.cfg").write_text("home = /usr/bin\n", encoding="utf-8")
    subprocess.run(["mksquashfs", str(stage), str(path), "-noappend", "-quiet"],
                   check=True, capture_output=True)
    shutil.rmtree(stage)
    return path


def _escaping_links(victim: Path) -> dict[str, str]:
    """The issue's archive: a link to a directory outside, then a file through it."""
    return {"esc": str(victim), "esc/notes.txt": "/etc/hostname"}


@pytest.mark.parametrize("make", [_tar, pytest.param(_sqsh, marks=SQUASHFS)])
@pytest.mark.parametrize("links", [
    "escape", {"bin/python": "/usr/bin/python3", "bin/../../x": "/etc/hostname"},
    {"bin/python/../../../x": "/etc/hostname"}, {"/abs/python": "/usr/bin/python3"},
    {"bin/python": 5}, ["bin/python"],
])
def test_links_that_leave_dir_are_refused_and_nothing_outside_changes(
        tmp_path: Path, make: Callable[[Path, dict[str, object]], Path],
        links: object) -> None:
    victim = tmp_path / "v"
    victim.mkdir()
    (victim / "notes.txt").write_text("mine\n", encoding="utf-8")
    work = tmp_path / "work"
    work.mkdir()
    links = _escaping_links(victim) if links == "escape" else links
    suffix = ".sqsh" if make is _sqsh else ".tar.gz"
    archive = make(work / f"evil{suffix}", _manifest(links=links))
    with pytest.raises(MlstackError) as err:
        unpack_env(archive, work / "out")
    assert f"{MANIFEST}: links" in err.value.message
    assert "not made by `mlstack env pack`" in (err.value.hint or "")
    notes = victim / "notes.txt"
    assert not notes.is_symlink() and notes.read_text(encoding="utf-8") == "mine\n"
    assert sorted(p.name for p in work.iterdir()) == [archive.name]  # no DIR, no temporary


@pytest.mark.parametrize(("field", "value"), [
    ("python", "3.12\ntouch PWN"), ("python", 3.12), ("venv", "/a\n/b"), ("name", ["x"]),
    ("store_key", "../../etc"), ("variables", {"PROMPT_COMMAND": "touch PWN"}),
    ("variables", {"X": 1}), ("variables", "X=1"), ("site", {"name": HOSTILE_SITE}),
    ("site", {"name": "slurm", "job_cache": "yes"}), ("site", {"name": "ok", "run": "x"}),
    ("site", "slurm"),
])
def test_every_manifest_field_is_checked(tmp_path: Path, field: str, value: object) -> None:
    archive = _tar(tmp_path / "evil.tar.gz", _manifest(**{field: value}))
    with pytest.raises(MlstackError) as err:
        unpack_env(archive, tmp_path / "out")
    assert f"{MANIFEST}: {field}" in err.value.message
    assert [p.name for p in tmp_path.iterdir() if "out" in p.name] == []
    assert not (tmp_path / "PWN").exists()


# --- item 2: site names --------------------------------------------------------------------

def _hostile_project(tmp_path: Path) -> None:
    (tmp_path / "mlstack.toml").write_text(
        'site = "x\\ntouch PWN\\n#"\n[sites."x\\ntouch PWN\\n#"]\njob-cache = true\n'
        '[profiles.ml]\npackages = ["numpy"]\n', encoding="utf-8")


@pytest.mark.parametrize("args", [("env", "create", "ml"), ("profile", "show", "ml"),
                                  ("lock",)])
def test_a_hostile_site_name_is_refused_at_load(tmp_path: Path, cli: Cli,
                                                args: tuple[str, ...]) -> None:
    _hostile_project(tmp_path)
    r = cli(*args, cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    lines = error_lines(r.stderr)
    assert lines[0].startswith("error: ") and "invalid site name" in lines[0], r.stderr
    assert lines[1].startswith("hint: a site name is 1-64 letters"), r.stderr
    assert not (tmp_path / "PWN").exists()
    assert not (tmp_path / "mlstack.lock").exists()


def test_a_hostile_site_table_name_is_refused_even_unused(tmp_path: Path, cli: Cli) -> None:
    (tmp_path / "mlstack.toml").write_text(
        '[sites."a b"]\njob-cache = true\n[profiles.ml]\npackages = ["numpy"]\n',
        encoding="utf-8")
    r = cli("profile", "show", "ml", cwd=tmp_path)
    assert r.returncode == 1 and "invalid site name 'a b'" in r.stderr, r.stderr


def test_activation_scripts_refuse_a_hostile_site(tmp_path: Path) -> None:
    with pytest.raises(MlstackError) as err:
        write_scripts(tmp_path / "gen", name="ml", venv=tmp_path / "venv", variables={},
                      site={"name": HOSTILE_SITE, "job_cache": True, "gpu_per_task": False})
    assert "invalid site name" in err.value.message
    assert not (tmp_path / "gen").exists()


SHELLS = ["bash", "zsh", "dash", "sh", "fish"]


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("how", ["source", "eval"])
def test_a_site_name_that_got_past_the_rule_is_still_data(tmp_path: Path, shell: str,
                                                          how: str) -> None:
    """Quoting is the second wall: scripts rendered without the check (as from an older
    mlstack) are sourced (`. bin/activate`) and eval'd (`env activate`) in each shell."""
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed")
    data = ActivationData(name="ml", venv=tmp_path / "venv", variables={},
                          site={"name": HOSTILE_SITE, "job_cache": True, "gpu_per_task": True})
    script = tmp_path / ("activate.fish" if shell == "fish" else "activate")
    script.write_text(render_fish(data) if shell == "fish" else render_sh(data),
                      encoding="utf-8")
    if shell == "fish":
        line = (f"source {script}" if how == "source"
                else f"cat {script} | source")
    else:
        line = f". {script}" if how == "source" else f'eval "$(cat {script})"'
    r = subprocess.run([shell, "-c", f"{line}; echo ok=$VIRTUAL_ENV"], cwd=tmp_path,
                       capture_output=True, text=True, check=False, timeout=60)
    assert f"ok={tmp_path / 'venv'}" in r.stdout, r.stderr
    assert not (tmp_path / "PWN").exists()


@pytest.mark.parametrize("shell", SHELLS)
def test_env_shell_with_a_hostile_site_runs_nothing(tmp_path: Path, shell: str) -> None:
    """`env shell`'s own start-up (the wrappers that source bin/activate), per shell."""
    program = shutil.which(shell)
    if program is None:
        pytest.skip(f"{shell} is not installed")
    gen = tmp_path / "gen"
    (gen / "bin").mkdir(parents=True)
    data = ActivationData(name="ml", venv=tmp_path / "venv", variables={},
                          site={"name": HOSTILE_SITE, "job_cache": True, "gpu_per_task": True})
    (gen / "bin" / "activate").write_text(render_sh(data), encoding="utf-8")
    (gen / "bin" / "activate.fish").write_text(render_fish(data), encoding="utf-8")
    kind = shell if shell in ("bash", "zsh", "fish") else "sh"
    argv, env = shell_command(program, kind, gen, {"PATH": "/usr/bin:/bin",
                                                    "HOME": str(tmp_path)})
    r = subprocess.run(argv, input="echo ok=$VIRTUAL_ENV\nexit\n", env=env, cwd=tmp_path,
                       capture_output=True, text=True, check=False, timeout=60)
    assert f"ok={tmp_path / 'venv'}" in r.stdout, r.stdout + r.stderr
    assert not (tmp_path / "PWN").exists()

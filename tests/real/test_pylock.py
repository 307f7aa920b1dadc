"""Every pylock mlstack writes, read by the real consumers: ``packaging.pylock`` (PEP 751's
reader) validates it, the pinned uv (``uv pip sync --preview-features pylock``) and the
newest pip (``pip install -r pylock.<name>.toml``) install it into fresh venvs, and the
installed files are the store entry's, file by file.

Each built-in profile x a rocm6.4, a cpu and a rocm7.14 target (inference, which has vLLM
wheels for exact ROCm releases only, on rocm7.2.2: vLLM's rocm722 variant), from the
loopback index. The ROCm-as-wheels entries (rocm7.14) are refused by ``--export-pylock``;
what uv makes of their pylock without the selector is checked here too (it is why they are refused).

The consumers run from `.ci/real/pylock.sh`'s venv (pip and packaging>=26); the wheels'
canonical URLs are unreachable here, so each consumer reads a copy with the loopback
mirror's prefixes swapped in (what the recipes' MLSTACK_MIRRORS step does), under the
same file name.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from mlstack_env import uv
from mlstack_env.lockfile import read_lock, to_pylock
from tests.real import components
from tests.real.installed import installed_files
from tests.wheelindex import WheelIndex

pytest_plugins = ["tests.wheelindex"]

Cli = Callable[..., subprocess.CompletedProcess[str]]
REPO = Path(__file__).resolve().parents[2]
CONSUMERS = REPO / ".real" / "pylock" / "bin"

# (profile, target) that lock on the loopback index; inference x rocm6.4/cpu are refused
# at lock time (tests/test_builtin_profiles.py).
LOCKED = [("minimal", "rocm6.4:gfx1100"), ("minimal", "cpu"),
          ("training", "rocm6.4:gfx1100"), ("training", "cpu"),
          ("inference", "rocm7.2.2:gfx1100")]


def _consumer(name: str) -> Path:
    exe = CONSUMERS / name
    if not exe.exists():
        components.need("pip", f"{exe} is missing")
    return exe


def _run(argv: list[str | Path]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                          check=False, timeout=600)


def _served_copy(pylock: Path, index: WheelIndex, where: Path) -> Path:
    """The pylock with the loopback mirror's prefixes, under the same file name."""
    text = pylock.read_text(encoding="utf-8")
    for canonical, mirror in sorted(index.mirrors.items(), key=lambda kv: -len(kv[0])):
        text = text.replace(f'url = "{canonical}', f'url = "{mirror}')
    where.mkdir(parents=True, exist_ok=True)
    copy = where / pylock.name
    copy.write_text(text, encoding="utf-8")
    return copy


def _files(venv: Path) -> dict[str, str]:
    return installed_files([str(venv / "bin" / "python")])


def _validate(pylock: Path) -> None:
    """packaging.pylock reads and validates the file (and its name)."""
    code = ("import sys, tomllib; from pathlib import Path; "
            "from packaging.pylock import Pylock, is_valid_pylock_path; "
            "p = Path(sys.argv[1]); assert is_valid_pylock_path(p), p.name; "
            "lock = Pylock.from_dict(tomllib.loads(p.read_text())); lock.validate(); "
            "print(len(lock.packages))")
    r = _run([_consumer("python"), "-c", code, pylock])
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("case", LOCKED, ids="@".join)
def test_uv_and_pip_install_every_pylock_as_the_store_has_it(
        case: tuple[str, str], mirrored: WheelIndex, fake_machine: Callable[[str], Path],
        tmp_path: Path, cli: Cli) -> None:
    profile, target = case
    fake_machine("7900xtx")
    out = tmp_path / "pylocks"
    lock = tmp_path / "mlstack.lock"
    r = cli("lock", profile, "--target", target, "-o", str(lock), "--export-pylock", str(out),
            "--json")
    assert r.returncode == 0, r.stderr
    (exported,) = (Path(p) for p in json.loads(r.stdout)["exported"])
    entry = read_lock(lock).entries[0]
    assert exported.name == f"pylock.{profile}-{target.replace(':', '-').replace('.', '_')}" \
        f"-py{entry.python.replace('.', '_')}.toml"
    _validate(exported)
    created = cli("env", "create", profile, "--lock", str(lock), "--target", target)
    assert created.returncode == 0, created.stderr
    from mlstack_env.store.generations import get_env

    gen = get_env(profile).current()
    assert gen is not None
    store = gen.venv.resolve()
    want = _files(store)
    assert any(rel.startswith("torch/") for rel in want)
    python = uv.find_python(entry.python)
    served = _served_copy(exported, mirrored, tmp_path / "served")

    # uv: the pinned one, as `env create` and the recipes run it.
    venv = tmp_path / "uv-venv"
    assert _run([uv.binary(), "venv", "--no-config", "--relocatable", "--quiet", "--python",
                 python, venv]).returncode == 0
    sync = _run([uv.binary(), "pip", "sync", "--no-config", "--python", venv / "bin" / "python",
                 "--preview-features", "pylock", "--no-index", served])
    assert sync.returncode == 0, sync.stderr
    check = _run([uv.binary(), "pip", "check", "--python", venv / "bin" / "python"])
    assert check.returncode == 0, check.stdout + check.stderr
    assert _files(venv) == want

    # pip: the newest, reading the file as a PEP 751 lock (not a requirements file).
    pip_venv = tmp_path / "pip-venv"
    assert _run([python, "-m", "venv", "--without-pip", pip_venv]).returncode == 0
    pip = _run([_consumer("pip"), "--python", pip_venv / "bin" / "python", "install",
                "--no-index", "--quiet", "--disable-pip-version-check", "-r", served])
    assert pip.returncode == 0, pip.stderr
    assert _files(pip_venv) == want
    imported = _run([pip_venv / "bin" / "python", "-c", "import torch; print(torch.__version__)"])
    assert imported.stdout.strip() == next(p.version for p in entry.packages
                                           if p.name == "torch"), imported.stderr


@pytest.mark.parametrize("profile", ["minimal", "training"])
def test_rocm_as_wheels_pylock_is_refused_because_uv_cannot_complete_it(
        profile: str, mirrored: WheelIndex, fake_machine: Callable[[str], Path],
        tmp_path: Path, cli: Cli) -> None:
    """The decision, tried: a pylock of a ROCm-as-wheels entry (selector left out: uv
    would build its sdist) installs with uv, but the env is broken (`uv pip check`:
    torch requires rocm[libraries]); so `--export-pylock` refuses, naming env pack and
    export docker, and writes nothing."""
    fake_machine("7900xtx-no-rocm")
    target = "rocm7.14:gfx1100"
    lock = tmp_path / "mlstack.lock"
    out = tmp_path / "pylocks"
    r = cli("lock", profile, "--target", target, "-o", str(lock), "--export-pylock", str(out))
    assert r.returncode == 1
    assert r.stderr.startswith(f"error: entry {profile}@{target}@py3.1")
    assert "holds ROCm as wheels, and no PEP 751 pylock can install it" in r.stderr
    assert "mlstack env pack" in r.stderr and "mlstack export docker" in r.stderr
    assert not lock.exists() and not out.exists()

    r = cli("lock", profile, "--target", target, "-o", str(lock))
    assert r.returncode == 0, r.stderr
    entry = read_lock(lock).entries[0]
    bare = tmp_path / "bare" / "pylock.toml"
    bare.parent.mkdir()
    bare.write_text(to_pylock(entry), encoding="utf-8")
    _validate(bare)
    served = _served_copy(bare, mirrored, tmp_path / "served")
    venv = tmp_path / "uv-venv"
    python = uv.find_python(entry.python)
    assert _run([uv.binary(), "venv", "--no-config", "--quiet", "--python", python,
                 venv]).returncode == 0
    sync = _run([uv.binary(), "pip", "sync", "--no-config", "--python", venv / "bin" / "python",
                 "--preview-features", "pylock", "--no-index", served])
    assert sync.returncode == 0, sync.stderr
    check = _run([uv.binary(), "pip", "check", "--python", venv / "bin" / "python"])
    assert check.returncode != 0
    assert "rocm" in check.stdout + check.stderr


def test_uv_refuses_the_names_mlstack_used_to_write(mirrored: WheelIndex,
                                                    tmp_path: Path) -> None:
    """Why the names changed: uv exits 2 on pylock.<name>.toml with a dot in <name>."""
    old = tmp_path / "pylock.ml-cpu-py3.12.toml"
    old.write_text('lock-version = "1.0"\ncreated-by = "mlstack"\npackages = []\n',
                   encoding="utf-8")
    venv = tmp_path / "venv"
    assert _run([uv.binary(), "venv", "--no-config", "--quiet", "--python",
                 uv.find_python("3.12"), venv]).returncode == 0
    r = _run([uv.binary(), "pip", "sync", "--no-config", "--python", venv / "bin" / "python",
              "--preview-features", "pylock", "--no-index", old])
    assert r.returncode == 2 and "pylock" in r.stderr, r.stderr
    new = old.rename(tmp_path / "pylock.ml-cpu-py3_12.toml")
    r = _run([uv.binary(), "pip", "sync", "--no-config", "--python", venv / "bin" / "python",
              "--preview-features", "pylock", "--no-index", new])
    assert r.returncode == 0, r.stderr

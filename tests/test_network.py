"""Against the real PyPI (deselected by default: `pytest -m network` runs them).

The PyTorch and AMD indexes are not reachable from CI, so these lock and install a small
pure-PyPI profile for a CPU target: the same code path as any lock, with real index pages,
real sha256 fragments and real wheel downloads.
"""

from __future__ import annotations

import subprocess
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.wheelindex import write_project

pytestmark = pytest.mark.network

Cli = Callable[..., subprocess.CompletedProcess[str]]


def test_lock_and_create_from_real_pypi(tmp_path: Path, cli: Cli) -> None:
    write_project(tmp_path, profiles={"tiny": ["filelock==3.18.0"]}, targets=["cpu"],
                  extra="[sources.pytorch]\nenabled = false\n")
    locked = cli("lock", cwd=tmp_path)
    assert locked.returncode == 0, locked.stderr
    entry = tomllib.loads((tmp_path / "mlstack.lock").read_text())["entry"][0]
    [package] = entry["package"]
    assert (package["name"], package["version"]) == ("filelock", "3.18.0")
    assert package["index"] == "https://pypi.org/simple"
    for wheel in package["wheels"]:
        assert wheel["url"].startswith("https://files.pythonhosted.org/")
        assert len(wheel["sha256"]) == 64 and wheel["size"] > 0
    created = cli("env", "create", "tiny", "--lock", str(tmp_path / "mlstack.lock"))
    assert created.returncode == 0, created.stderr
    run = cli("env", "run", "tiny", "--", "python", "-c",
              "import filelock; print(filelock.__version__)")
    assert run.stdout.strip() == "3.18.0", run.stderr
    assert cli("env", "verify", "tiny").returncode == 0

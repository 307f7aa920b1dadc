"""What an env's distributions installed, as one JSON document printed by the env's own
Python (so the same code reads a store entry, a fresh venv and an image): every file
listed in a dist-info RECORD, by path in site-packages -> sha256. Bytecode, files outside
site-packages (console scripts: their shebang names the venv) and the installer's own
metadata (INSTALLER, RECORD, REQUESTED, direct_url.json, and uv_cache.json, which uv
writes when it installs a local wheel — mlstack installs the files it downloaded — with a
timestamp of its cache) are left out."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence

SCRIPT = """
import hashlib, json, pathlib, sysconfig
site = pathlib.Path(sysconfig.get_paths()["purelib"])
own = {"INSTALLER", "RECORD", "REQUESTED", "direct_url.json", "uv_cache.json"}
out = {}
for dist in sorted(site.glob("*.dist-info")):
    for row in (dist / "RECORD").read_text(encoding="utf-8").splitlines():
        rel = row.rsplit(",", 2)[0]
        path = site / rel
        if "__pycache__" in rel or rel.startswith("..") or (
                path.parent.name.endswith(".dist-info") and path.name in own):
            continue
        out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
print(json.dumps(out, sort_keys=True))
"""


def installed_files(python: Sequence[str]) -> dict[str, str]:
    """Run :data:`SCRIPT` with ``python`` (an argv: a venv's python, or ``docker run …
    python``)."""
    r = subprocess.run([*python, "-I", "-c", SCRIPT], capture_output=True, text=True,
                       check=False, timeout=600)
    assert r.returncode == 0, r.stderr
    files: dict[str, str] = json.loads(r.stdout)
    return files

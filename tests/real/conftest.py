"""The real-component tier: tests that run the software mlstack's users run (Slurm, index
servers, uv and pip reading a pylock, a container engine) instead of a stand-in.

Every test under tests/real/ is marked ``real`` (``pytest -m real`` runs the tier alone).
A component that is missing or cannot start fails the test with the component's own
error when ``CI`` is set (`.ci/run` installs every component first, `.ci/real/`); on a
developer's machine without it, the test is skipped with the command that installs it
(tests/real/components.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.real)

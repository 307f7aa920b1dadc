"""The uv runner: uv's error text turned into one line, interpreters found."""

from __future__ import annotations

import pytest

from mlstack_env import uv
from mlstack_env.errors import MlstackError

WRAPPED = """\
warning: The requested Python version 3.10 is not available; 3.11.7 will be used.
error: No solution found when resolving dependencies
  cause: Because torch==2.8.0+rocm6.4 has no wheels with a matching Python
         implementation tag (e.g., `cp310`), we can conclude that your requirements
         are unsatisfiable.

hint: Packages were unavailable because the network was disabled.
"""

FANCY = """\
  \u00d7 No solution found when resolving dependencies:
  \u2570\u2500\u25b6 Because torch==9.9 was not found in the package registry and you
      require torch==9.9, we can conclude that your requirements are unsatisfiable.
"""


def test_wrapped_lines_are_joined_and_warnings_and_hints_dropped() -> None:
    assert uv.uv_reason(WRAPPED) == (
        "No solution found when resolving dependencies; Because torch==2.8.0+rocm6.4 has "
        "no wheels with a matching Python implementation tag (e.g., `cp310`), we can "
        "conclude that your requirements are unsatisfiable."
    )


def test_fancy_report_keeps_headline_and_cause() -> None:
    assert uv.uv_reason(FANCY) == (
        "No solution found when resolving dependencies: Because torch==9.9 was not found in "
        "the package registry and you require torch==9.9, we can conclude that your "
        "requirements are unsatisfiable."
    )


def test_caused_by_chain_and_noise() -> None:
    text = "Resolved 3 packages in 2ms\nerror: Failed to fetch: http://127.0.0.1:9/x\n" \
           "  Caused by: connection refused\n  Caused by: os error 111\n"
    assert uv.uv_reason(text) == "Failed to fetch: http://127.0.0.1:9/x; connection refused"
    assert uv.uv_reason("") == "no error message"


def test_a_python_that_is_not_installed_is_a_clean_error() -> None:
    with pytest.raises(MlstackError) as info:
        uv.find_python("3.99")
    assert info.value.message == "Python 3.99 is not installed"
    assert info.value.hint is not None and "--python" in info.value.hint


def test_installed_pythons_run_as_their_version() -> None:
    import subprocess

    found = uv.installed_pythons()
    assert found, "at least the interpreter running the tests"
    for version, path in found.items():
        out = subprocess.run([str(path), "-c", "import sys; print(sys.version_info[:2])"],
                             capture_output=True, text=True, check=True).stdout
        assert out.strip() == str(tuple(int(p) for p in version.split(".")))

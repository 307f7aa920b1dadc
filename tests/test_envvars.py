"""The name rules written as character sets (for the `env run` hot path, which imports no
`re`) give exactly the answers of the patterns the SPEC states."""

from __future__ import annotations

import re

from hypothesis import example, given
from hypothesis import strategies as st

from mlstack_env.core import envname, envvars

# Near misses: non-ASCII letters and digits, separators, control characters, path parts.
_TRICKY = st.sampled_from(list("aZ09_.-/ \n\t\0é٣ßİ$..")) | st.characters()
_NAMES = st.text(_TRICKY, max_size=70)


@given(_NAMES)
@example("")
@example("_")
@example("9LIVES")
@example("HSA_OVERRIDE_GFX_VERSION")
@example("PATH\n")
@example("ÉCOLE")
def test_variable_names_match_the_pattern(name: str) -> None:
    expected = re.fullmatch(envvars.NAME_PATTERN, name, re.ASCII) is not None
    assert envvars.is_variable_name(name) == expected


@given(_NAMES)
@example("")
@example("a" * 64)
@example("a" * 65)
@example("..")
@example("a..b")
@example(".hidden")
@example("-x")
@example("demo\n")
@example("x/y")
@example("٣")
def test_env_names_match_the_pattern(name: str) -> None:
    expected = re.fullmatch(envname.NAME_PATTERN, name) is not None and ".." not in name
    # The pattern's classes are ASCII by construction ([A-Za-z0-9]), not by flag.
    assert envname.is_env_name(name) == expected

"""``core/requiresdist.py`` answers as packaging does wherever it answers at all: a line it
reads is one packaging reads, with the same name and extras, and a marker that evaluates
the same in the tree's environment for every Python and extra."""

from __future__ import annotations

import importlib.metadata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from mlstack_env.actions.tree import _marker_env
from mlstack_env.core.metadata import canonical_name
from mlstack_env.core.requiresdist import MARKER_VARIABLES, parse

PYTHONS = ("3.8", "3.9", "3.10", "3.11", "3.12", "3.13", "3.14")
EXTRAS = ("", "test", "Test_X", "test-x", "dev", "opt.einsum", "cuda")


def _agrees(line: str) -> bool:
    """Whether ``parse`` read ``line``; asserts it read it as packaging does."""
    lean = parse(line)
    if lean is None:
        return False
    try:
        real = Requirement(line)
    except InvalidRequirement as exc:
        raise AssertionError(f"read {line!r}, which packaging refuses: {exc}") from None
    assert lean.name == real.name, line
    assert lean.extras == real.extras, line
    assert (lean.marker is None) == (real.marker is None), line
    if lean.marker is not None and real.marker is not None:
        for python in PYTHONS:
            for extra in EXTRAS:
                env = {**_marker_env(python), "extra": extra}
                assert lean.marker.evaluate(env) == real.marker.evaluate(env), (line, env)
    return True


REAL_LINES = [
    "filelock",
    "typing-extensions>=4.10.0",
    'setuptools; python_version >= "3.12"',
    "sympy>=1.13.3",
    'pytorch-triton-rocm==3.4.0+gitf7888497; platform_system == "Linux"',
    'nvidia-cuda-nvrtc-cu12==12.8.93; platform_system == "Linux" and platform_machine == '
    '"x86_64"',
    'opt-einsum>=3.3; extra == "opt-einsum"',
    'importlib-metadata>=4.6; python_version < "3.10"',
    'colorama; platform_system == "Windows"',
    'pywin32>=226; sys_platform == "win32"',
    'exceptiongroup>=1.0.0; python_version < "3.11" and extra == "test"',
    'pytest>=7; (extra == "test") and python_version >= "3.9"',
    'cffi>=1.12; platform_python_implementation != "PyPy"',
    'uvloop>=0.15; sys_platform != "win32" and (implementation_name == "cpython")',
    "numpy<2,>=1.26",
    "foo[a, b]~=1.4",
    "bar==1.0.*",
    "baz!=2.0rc1",
    'qux; "linux" in sys_platform',
    "jaraco.path (>=3.2.0) ; extra == 'testing'",
    'mando (<0.8,>=0.6)',
    'tomli; python_full_version < "3.11.0a7"',  # a pre-release: packaging's
    "x @ https://example.com/x-1.0-py3-none-any.whl",  # a URL: packaging's
    'a;python_version<"3"',  # no spaces: packaging's
]


@pytest.mark.parametrize("line", REAL_LINES)
def test_real_forms(line: str) -> None:
    _agrees(line)


def test_the_common_forms_are_read_here() -> None:
    read = [line for line in REAL_LINES if parse(line) is not None]
    assert len(read) == len(REAL_LINES) - 3


def test_every_installed_distribution() -> None:
    """Every ``Requires-Dist`` of the packages installed here (pytest, mypy, rich, …)."""
    lines = {line for dist in importlib.metadata.distributions()
             for line in dist.requires or ()}
    assert lines
    read = sum(_agrees(line) for line in lines)
    assert read >= len(lines) // 2  # most are in the form read here


@given(st.text(alphabet="aZ09-_.!", max_size=12))
def test_canonical_name(name: str) -> None:
    assert canonical_name(name) == canonicalize_name(name)


def _quoted(text: str) -> str:
    return f'"{text}"'


_ws = st.sampled_from(["", " ", "  ", "\t"])
_names = st.sampled_from(["torch", "Foo_Bar", "a.b-c", "x1", "-bad", "bad-", "9lives"])
_values = st.sampled_from(["3", "3.8", "3.11", "3.12.0", "3.13", "3.11.0a7", "Linux", "linux",
                           "Windows", "x86_64", "win32", "posix", "cpython", "CPython", "PyPy",
                           "test", "Test_X", "dev", "v3", "1!3", "3.*", "", " 3.9"])
_variables = st.sampled_from([*sorted(MARKER_VARIABLES), "platform_release", "os.name",
                              "python_implementation"])
_ops = st.sampled_from(["==", "!=", "<", "<=", ">", ">=", "~=", "===", "in", "not in"])
_specs = st.sampled_from(["", ">=1.0", "==2.8.0+rocm6.4", "<2,>=1.26", "~=1.4", "~=1",
                          "==1.0.*", "!=1.0.*", ">=1.0.*", ">=1.0+local", "==1.0rc1",
                          ">1.0.post1", "<=2.0.dev3", "(>=1.0)", "( <2,>=1.26 )", "()",
                          "(>=1", "@ https://x/y.whl", ">=",
                          ">=1,", "==1.0a1.post2.dev3"])


@st.composite
def _comparisons(draw: st.DrawFn) -> str:
    variable, op, value = draw(_variables), draw(_ops), _quoted(draw(_values))
    sides = (variable, value) if draw(st.booleans()) else (value, variable)
    return f"{sides[0]}{draw(_ws)}{op}{draw(_ws)}{sides[1]}"


@st.composite
def _markers(draw: st.DrawFn, depth: int = 2) -> str:
    if depth == 0 or draw(st.booleans()):
        return draw(_comparisons())
    left, right = draw(_markers(depth=depth - 1)), draw(_markers(depth=depth - 1))
    joined = f"{left} {draw(st.sampled_from(['and', 'or']))} {right}"
    return f"({draw(_ws)}{joined}{draw(_ws)})" if draw(st.booleans()) else joined


@st.composite
def _lines(draw: st.DrawFn) -> str:
    line = draw(_names)
    if draw(st.booleans()):
        extras = draw(st.lists(st.sampled_from(["a", "Test_X", "b.c", "-x"]), max_size=3))
        line += f"{draw(_ws)}[{(draw(_ws) + ',' + draw(_ws)).join(extras)}]"
    line += draw(_ws) + draw(_specs)
    if draw(st.booleans()):
        line += f"{draw(_ws)};{draw(_ws)}{draw(_markers())}"
    return line + draw(_ws)


@settings(max_examples=1500, deadline=None)
@given(_lines())
def test_lines_agree_with_packaging(line: str) -> None:
    _agrees(line)

"""``Requires-Dist`` lines read without packaging, where packaging would read them the
same: ``tree``'s fast path.

packaging's requirement parser costs ``tree`` about a third of its time to import (its
tokenizer's regexes and dataclasses, its specifiers, and ``packaging.utils``, which loads
``packaging.tags`` with ``logging``, ``subprocess`` and ``platform``). Build backends
write ``Requires-Dist`` in a narrow form — ``name[extra]>=1.2; python_version < "3.11"
and extra == "test"`` — and that form is read here. :func:`parse` answers None for
anything outside it (a URL, a parenthesised or pre-release specifier, a marker on a
variable the tree does not set, an operator whose meaning changed between packaging
releases, a value that could read as a version), and the caller hands that line to
packaging. What it answers is what packaging answers (``tests/test_requiresdist.py``
checks it against packaging): the name, the extras, whether the line is valid, and the
marker's value in the tree's environment (:data:`MARKER_VARIABLES`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping

from mlstack_env.core.metadata import canonical_name

TYPE_CHECKING = False  # typing costs an import on this path; mypy reads it
if TYPE_CHECKING:
    from typing import TypeAlias

# The variables a marker may name here: those the tree sets (actions/tree.py), each
# compared as packaging compares it — as versions, or as strings.
VERSION_VARIABLES = frozenset({"python_version", "python_full_version"})
STRING_VARIABLES = frozenset({
    "implementation_name", "platform_python_implementation", "platform_system",
    "platform_machine", "sys_platform", "os_name",
})
MARKER_VARIABLES = VERSION_VARIABLES | STRING_VARIABLES | {"extra"}

_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"
_LINE = re.compile(
    rf"(?P<name>{_NAME})[ \t]*"
    rf"(?:\[[ \t]*(?P<extras>{_NAME}(?:[ \t]*,[ \t]*{_NAME})*)[ \t]*\])?[ \t]*"
    r"(?P<specs>[^;]*?)[ \t]*"
    r"(?:;[ \t]*(?P<marker>\S.*?))?[ \t]*")
_RELEASE = r"[0-9]+(?:\.[0-9]+)*"
_SUFFIXES = r"(?:(?:a|b|rc)[0-9]+)?(?:\.post[0-9]+)?(?:\.dev[0-9]+)?"
# One clause of a specifier set, in forms every packaging release takes alike: a local
# label or a wildcard only with == and !=, ~= on two release numbers or more.
_SPEC = re.compile(
    rf"[ \t]*(?:(?:==|!=)[ \t]*{_RELEASE}(?:\.\*|{_SUFFIXES}(?:\+[a-z0-9]+(?:\.[a-z0-9]+)*)?)"
    rf"|(?:<=|>=|<|>)[ \t]*{_RELEASE}{_SUFFIXES}"
    r"|~=[ \t]*[0-9]+(?:\.[0-9]+)+)[ \t]*")
_TOKEN = re.compile(
    r"[ \t]*(?:(?P<paren>[()])|(?P<string>'[^']*'|\"[^\"]*\")|(?P<op>==|!=|<=|>=|<|>)"
    r"|(?P<word>[a-z_]+))")
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)*")
_VERSIONISH = re.compile(r"[ \t]*[vV]?[0-9]")  # a value packaging might read as a version

if TYPE_CHECKING:
    Marker: TypeAlias = Callable[[Mapping[str, str]], bool]


class LeanMarker:
    """A marker read here, with packaging's ``Marker.evaluate`` for the tree's
    environment (every variable of :data:`MARKER_VARIABLES` given)."""

    def __init__(self, test: Marker) -> None:
        self._test = test

    def evaluate(self, environment: Mapping[str, str]) -> bool:
        return self._test(environment)


class LeanRequirement:
    """What the tree needs of a ``Requires-Dist`` line: packaging's ``Requirement``'s
    ``name``, ``extras`` and ``marker``."""

    def __init__(self, name: str, extras: set[str], marker: LeanMarker | None) -> None:
        self.name, self.extras, self.marker = name, extras, marker


def parse(line: str) -> LeanRequirement | None:
    """``line`` read as packaging's ``Requirement`` reads it, or None when it is not in
    the form read here (packaging must read it)."""
    m = _LINE.fullmatch(line)
    if m is None:
        return None
    specs = m["specs"]
    if specs[:1] == "(" and specs[-1:] == ")":  # `name (>=1.0)`, the older form
        specs = specs[1:-1]
        if not specs.strip(" \t"):
            return None
    if specs and not all(_SPEC.fullmatch(s) for s in specs.split(",")):
        return None
    marker = None
    if m["marker"] is not None:
        test = _marker(m["marker"])
        if test is None:
            return None
        marker = LeanMarker(test)
    extras = {e.strip() for e in m["extras"].split(",")} if m["extras"] else set()
    return LeanRequirement(m["name"], extras, marker)


def _tokens(text: str) -> list[tuple[str, str]] | None:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            return None if text[pos:].strip(" \t") else out
        kind = m.lastgroup or ""
        value = m[kind]
        start = m.start(kind)
        if kind == "word" and (text[start - 1:start] not in ("", " ", "\t", "(")
                               or text[m.end():m.end() + 1] not in ("", " ", "\t")):
            return None  # `"3"and`, `andpython_version`, `os.name`: packaging's to read
        out.append((kind, value))
        pos = m.end()
    return out


def _marker(text: str) -> Marker | None:
    """A marker's test, or None when it is not in the form read here."""
    tokens = _tokens(text)
    if not tokens:
        return None
    at = 0

    def peek() -> tuple[str, str]:
        return tokens[at] if at < len(tokens) else ("", "")

    def chain(word: str, part: Callable[[], Marker | None],
              combine: Callable[[Iterable[bool]], bool]) -> Marker | None:
        """part (word part)*: the parts' tests combined (any for 'or', all for 'and')."""
        nonlocal at
        tests = [part()]
        while peek() == ("word", word):
            at += 1
            tests.append(part())
        if any(t is None for t in tests):
            return None
        if len(tests) == 1:
            return tests[0]
        ok = [t for t in tests if t is not None]
        return lambda env: combine(t(env) for t in ok)

    def either() -> Marker | None:  # marker_or: marker_and ('or' marker_and)*
        return chain("or", both, any)

    def both() -> Marker | None:  # marker_and: atom ('and' atom)*
        return chain("and", atom, all)

    def atom() -> Marker | None:
        nonlocal at
        if peek() == ("paren", "("):
            at += 1
            inner = either()
            if peek() != ("paren", ")"):
                return None
            at += 1
            return inner
        if at + 3 > len(tokens):
            return None
        left, op, right = tokens[at:at + 3]
        if op == ("word", "not") and at + 4 <= len(tokens) and tokens[at + 2] == ("word", "in"):
            op, right = ("op", "not in"), tokens[at + 3]
            at += 1
        elif op == ("word", "in"):
            op = ("op", "in")
        at += 3
        if op[0] != "op":
            return None
        return _comparison(left, op[1], right)

    test = either()
    return test if at == len(tokens) else None


def _comparison(left: tuple[str, str], op: str, right: tuple[str, str]) -> Marker | None:
    """One ``variable op "value"`` (or ``"value" op variable``) compared as packaging
    compares it, or None where packaging's answer is not sure to be this one."""
    if left[0] == "word" and right[0] == "string":
        key, value, variable_first = left[1], right[1][1:-1], True
    elif left[0] == "string" and right[0] == "word":
        key, value, variable_first = right[1], left[1][1:-1], False
    else:
        return None
    if key not in MARKER_VARIABLES:
        return None
    if key in VERSION_VARIABLES:
        return _version_test(key, op, value, variable_first)
    if op in ("in", "not in"):
        if key == "extra":
            return None
        inside = op == "in"
        if variable_first:
            return lambda env: (env[key] in value) is inside
        return lambda env: (value in env[key]) is inside
    if op not in ("==", "!=") or _VERSIONISH.match(value):
        return None  # packaging has compared these as versions (or not at all)
    equal = op == "=="
    if key == "extra":  # extra names compare normalized (PEP 685)
        wanted = canonical_name(value)
        return lambda env: (canonical_name(env["extra"]) == wanted) is equal
    return lambda env: (env[key] == value) is equal


_COMPARE: dict[str, Callable[[tuple[int, ...], tuple[int, ...]], bool]] = {
    "==": lambda a, b: a == b, "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
}


def _release(text: str) -> tuple[int, ...]:
    """A release's numbers without trailing zeros: ``3.12.0`` equals ``3.12``."""
    numbers = [int(n) for n in text.split(".")]
    while len(numbers) > 1 and numbers[-1] == 0:
        numbers.pop()
    return tuple(numbers)


def _version_test(key: str, op: str, value: str, variable_first: bool) -> Marker | None:
    """A Python version against a plain release (``3.11``): packaging's specifier with
    pre-releases allowed, which for two final releases is the numbers' order."""
    compare = _COMPARE.get(op)
    if compare is None or not _NUMBER.fullmatch(value):
        return None
    fixed = _release(value)

    def test(env: Mapping[str, str]) -> bool:
        own = _release(env[key])
        return compare(own, fixed) if variable_first else compare(fixed, own)

    return test

"""Env names: ``[A-Za-z0-9][A-Za-z0-9._-]{0,63}`` (SPEC), so a name is always a safe path part."""

from __future__ import annotations

from mlstack_env.core.errors import BadValueError

NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"
# NAME_PATTERN as character sets: `env run` validates the name on its hot path, which
# imports no `re` (tests/test_envvars.py holds the two to the same answers).
_ALNUM = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_NAME_CHARS = _ALNUM | frozenset("._-")


def is_env_name(name: str) -> bool:
    """Whether ``name`` matches :data:`NAME_PATTERN` and has no ``..``."""
    return (0 < len(name) <= 64 and name[0] in _ALNUM and all(c in _NAME_CHARS for c in name)
            and ".." not in name)


# The one hint of the name rule: env names, and profile names (a profile names its env).
NAME_HINT = ("use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit "
             "(no '/', no '..')")


def validate_env_name(name: str) -> str:
    if not is_env_name(name):
        raise BadValueError(f"invalid env name {name!r}", hint=NAME_HINT)
    return name

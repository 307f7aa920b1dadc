"""Env names: ``[A-Za-z0-9][A-Za-z0-9._-]{0,63}`` (SPEC), so a name is always a safe path part."""

from __future__ import annotations

import re

from mlstack_env.errors import MlstackError

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def validate_env_name(name: str) -> str:
    if not _NAME_RE.fullmatch(name) or ".." in name:
        raise MlstackError(
            f"invalid env name {name!r}",
            hint="use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit "
            "(no '/', no '..')",
        )
    return name

"""``mlstack env run`` fast path (filled in by the environments work)."""

from __future__ import annotations

from mlstack_env.errors import MlstackError


def run_fast(args: list[str]) -> int:
    raise MlstackError("`mlstack env run` is not available yet", hint="see `mlstack --help`")

"""``mlstack cache clean|prune``: uv's cache under MLSTACK_HOME (``mlstack gc`` frees only
the store).

Both run uv's own ``cache clean`` / ``cache prune`` (uv waits for other uv processes using
the cache) while holding the store lock exclusively, as gc does: an ``env create`` holds it
shared from its venv to its last installed file, so none is broken half-way.

What is freed is measured, not guessed: env files are hardlinks into this cache, so only
the bytes no env links to come back (:mod:`mlstack_env.diskusage`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlstack_env import paths, uv
from mlstack_env.diskusage import Usage, usage


@dataclass(frozen=True)
class CacheReport:
    action: str  # "clean" or "prune"
    path: Path
    before: Usage
    after: Usage

    @property
    def freed(self) -> int:
        """Bytes the disk got back: the cache's own bytes that are gone."""
        return max(0, self.before.exclusive - self.after.exclusive)

    @property
    def shared(self) -> int:
        """Bytes of the cache that envs keep (hardlinked), so removing them frees nothing."""
        return self.before.total - self.before.exclusive

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "path": str(self.path),
            "before_bytes": self.before.total,
            "after_bytes": self.after.total,
            "shared_with_envs_bytes": self.shared,
            "freed_bytes": self.freed,
        }


def run(action: str, on_wait: Callable[[], None] | None = None) -> CacheReport:
    """``uv cache clean`` (everything) or ``uv cache prune`` (what uv no longer needs)."""
    from mlstack_env.store.entries import Store

    path = paths.uv_cache_dir()
    before = usage(path)
    if not path.is_dir():
        return CacheReport(action, path, before, before)
    with Store().gc_lock(shared=False, on_wait=on_wait):
        uv.run(["cache", action], what=f"running `uv cache {action}` on {path}",
               hint="another uv may hold the cache; rerun with -v to see uv's output")
    return CacheReport(action, path, before, usage(path))

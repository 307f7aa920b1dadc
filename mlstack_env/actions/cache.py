"""``mlstack cache clean|prune``: uv's cache, mlstack's download cache and its memo of
parsed TOML under MLSTACK_HOME (``mlstack gc`` frees only the store).

uv's part runs uv's own ``cache clean`` / ``cache prune`` (uv waits for other uv processes
using the cache); the download cache (``cache/files``, keyed by sha256:
mlstack_env/fetch/download.py) is emptied by ``clean``, and ``prune`` drops its partial downloads
and the files no create or bundle used in 30 days. Both hold the store lock exclusively,
as gc does: an ``env create`` holds it shared from its downloads to its last installed
file, so none is broken half-way (a file being downloaded is skipped: its slot is locked).
The TOML memo (:mod:`mlstack_env.core.tomlmemo`: ``clean`` empties it, ``prune`` drops
what no command used in 30 days) needs no lock: a reader whose file went parses the
document again. It is small, and not in the report.

What is freed is measured, not guessed: env files are hardlinks into uv's cache, so only
the bytes no env links to come back (:mod:`mlstack_env.core.diskusage`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlstack_env import uv
from mlstack_env.core import paths, tomlmemo
from mlstack_env.core.diskusage import Usage, usage


@dataclass(frozen=True)
class CacheReport:
    action: str  # "clean" or "prune"
    path: Path
    before: Usage
    after: Usage
    files_path: Path | None = None  # mlstack's download cache
    files_before: int = 0
    files_after: int = 0

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
            "downloads": {
                "path": str(self.files_path or paths.files_cache_dir()),
                "before_bytes": self.files_before,
                "after_bytes": self.files_after,
                "freed_bytes": max(0, self.files_before - self.files_after),
            },
        }


def run(action: str, on_wait: Callable[[], None] | None = None) -> CacheReport:
    """``uv cache clean`` (everything) or ``uv cache prune`` (what uv no longer needs), and
    the same for mlstack's download cache."""
    from mlstack_env.fetch import download
    from mlstack_env.store.entries import Store

    tomlmemo.prune(everything=action == "clean")
    path = paths.uv_cache_dir()
    files = paths.files_cache_dir()
    before = usage(path)
    files_before = usage(files).total
    if not path.is_dir() and not files.is_dir():
        return CacheReport(action, path, before, before, files, 0, 0)
    with Store().gc_lock(shared=False, on_wait=on_wait):
        if path.is_dir():
            uv.run(["cache", action], what=f"running `uv cache {action}` on {path}",
                   hint="another uv may hold the cache; rerun with -v to see uv's output")
        download.prune(everything=action == "clean")
        if action == "clean":  # the URL records of before the download cache
            import shutil

            shutil.rmtree(paths.wheel_urls_dir(), ignore_errors=True)
            shutil.rmtree(paths.venv_templates_dir(), ignore_errors=True)  # made again
    return CacheReport(action, path, before, usage(path), files, files_before,
                       usage(files).total)

"""How much disk a tree uses, like ``du``: allocated blocks, each inode counted once.

Envs are hardlinks into uv's cache (same filesystem, ROCM-FACTS §8), so a file's size
says little about what removing a tree frees: :attr:`Usage.exclusive` counts only the
inodes whose every link is inside the tree.
"""

from __future__ import annotations

import os
from pathlib import Path

from mlstack_env.core.record import record


@record
class Usage:
    total: int  # bytes allocated to the tree's files, hardlinks counted once
    exclusive: int  # of those, the bytes no link outside the tree keeps alive
    files: int


def usage(path: Path) -> Usage:
    """Disk usage of ``path`` (0 when it does not exist). Symlinks are not followed."""
    links_inside: dict[tuple[int, int], int] = {}
    info: dict[tuple[int, int], tuple[int, int]] = {}  # inode -> (bytes, nlink)
    stack = [str(path)]
    while stack:
        current = stack.pop()
        try:
            with os.scandir(current) as it:
                for entry in it:
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                        continue
                    key = (st.st_dev, st.st_ino)
                    links_inside[key] = links_inside.get(key, 0) + 1
                    info[key] = (st.st_blocks * 512, st.st_nlink)
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            continue
    total = sum(size for size, _ in info.values())
    exclusive = sum(size for key, (size, nlink) in info.items() if links_inside[key] >= nlink)
    return Usage(total, exclusive, len(info))

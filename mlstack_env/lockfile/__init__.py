"""The lock file: read, write, hash, select. Resolution lives in ``resolve``.

Format (documented in docs/lockfile.md): TOML, one ``[[entry]]`` per profile x target x
Python, every package with its exact version, canonical index and wheels (URL, sha256,
size). Writing is deterministic: entries, packages, wheels and variables are sorted and
the text is built here, so the same inputs give the same bytes.
"""

from mlstack_env.lockfile.model import (
    FORMAT_VERSION,
    HEADER,
    KEY_PACKAGES,
    LOCK_NAME,
    SELECTOR,
    Lock,
    LockedPackage,
    LockEntry,
    Wheel,
    key_versions,
)
from mlstack_env.lockfile.pylock import (
    entry_pylock_name,
    map_url,
    pylock_file_name,
    standalone_pylock,
    to_pylock,
)
from mlstack_env.lockfile.select import fits, select_entry
from mlstack_env.lockfile.text import dumps, loads, read_lock

__all__ = [
    "FORMAT_VERSION",
    "HEADER",
    "KEY_PACKAGES",
    "LOCK_NAME",
    "SELECTOR",
    "Lock",
    "LockEntry",
    "LockedPackage",
    "Wheel",
    "dumps",
    "entry_pylock_name",
    "fits",
    "key_versions",
    "loads",
    "map_url",
    "pylock_file_name",
    "read_lock",
    "select_entry",
    "standalone_pylock",
    "to_pylock",
]

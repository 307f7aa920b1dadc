"""What a system package name may look like, wherever a profile or lock names one.

A name reaches ``apt-get install`` / ``dnf install`` as root (``mlstack system apply``), so
it must never read as an option (``-oDPkg::Pre-Invoke::=…``) or carry anything but a
name. The grammar is the union of the distros' own: Debian policy §5.6.1
(``[a-z0-9][a-z0-9+.-]+``), rpm and pacman names (which add upper case and ``_``), so a
name always starts with a letter or digit and holds no space, ``=``, ``:``, ``/`` or glob.

Not inside ``mlstack_env.system``: profiles and the lock reader check names on load, and
importing that package (catalog, hardware probes) would slow every command that reads a
lock.
"""

from __future__ import annotations

import re

from mlstack_env.errors import MlstackError

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9+._-]{0,127}", re.ASCII)


def check_system_package(name: object) -> None:
    """Refuse a system package name no package manager would read as just a name."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise MlstackError(
            f"bad system package name {name!r}",
            hint="system packages are distro package names: a letter or digit, then "
            "letters, digits, '+', '.', '_' or '-' (e.g. rocm-hip-runtime)",
        )

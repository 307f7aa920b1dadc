"""What a system package name may look like, wherever a profile or lock names one.

A name reaches ``apt-get install`` / ``dnf install`` as root (``mlstack system apply``), so
it must never read as an option (``-oDPkg::Pre-Invoke::=…``) or carry anything but a
name. The grammar is the union of the distros' own: Debian policy §5.6.1
(``[a-z0-9][a-z0-9+.-]+``), rpm and pacman names (which add upper case and ``_``), so a
name always starts with a letter or digit and holds no space, ``=``, ``:``, ``/`` or glob.

apt also reads a name's last character as an action when no package has the full name
(apt-get(8): "If a hyphen is appended to the package name …, the identified package will
be removed if it is currently installed. Similarly a plus sign can be designated to
install a package"): ``apt-get install -- zsh-`` removes zsh, and ``--`` does not stop it.
So a name never ends in ``-``, nor in a single ``+``. ``++`` stays allowed: ``g++`` is a
package, apt takes the full name first, and an unknown ``x++`` can only ask to install.
(``=version``, ``/release``, ``:arch`` and ``^task`` are apt's other modifiers: ``=``, ``/``,
``:`` and a leading ``^`` are refused by the grammar above.)

Not inside ``mlstack_env.system``: profiles and the lock reader check names on load, and
importing that package (catalog, hardware probes) would slow every command that reads a
lock.
"""

from __future__ import annotations

import re

from mlstack_env.core.errors import BadValueError

_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9+._-]{0,126}(?:[A-Za-z0-9._]|\+\+))?",
                   re.ASCII)


def check_system_package(name: object) -> None:
    """Refuse a system package name no package manager would read as just a name."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise BadValueError(
            f"bad system package name {name!r}",
            hint="system packages are distro package names (e.g. rocm-hip-runtime): a "
            "letter or digit, then letters, digits, '+', '.', '_' or '-', not ending in "
            "'-' or a single '+', which apt reads as remove/install",
        )

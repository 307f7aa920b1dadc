"""The fast path's table, generated from the typer declaration by
``python -m mlstack_env.cli.fastgen``: do not edit (a test checks it is current).

Command words -> (body, options, arguments, required parameters); the body is
``module.function`` under mlstack_env.cli.
Options: spelling -> (parameter, kind); arguments: (parameter, nargs, kind) in order.
Kinds: "flag" (no value), "str", "path", and "str*"/"path*" (repeatable).
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs an import on the fast path; mypy reads it
if TYPE_CHECKING:
    from typing import Any

FAST: dict[tuple[str, ...], tuple[Any, ...]] = {('env', 'create'): ('lean.env_create',
                     {'--name': ('name', 'str'),
                      '-n': ('name', 'str'),
                      '--lock': ('lock_file', 'path'),
                      '--target': ('target', 'str'),
                      '--python': ('python', 'str'),
                      '--offline': ('offline', 'flag'),
                      '--locked': ('locked', 'flag'),
                      '--project': ('project', 'path'),
                      '--reinstall': ('reinstall', 'flag'),
                      '--wheels': ('wheels', 'path'),
                      '--json': ('as_json', 'flag')},
                     (('profile', 1, 'str'),),
                     ()),
 ('env', 'list'): ('lean.env_list', {'--json': ('as_json', 'flag')}, (), ()),
 ('env', 'info'): ('lean.env_info',
                   {'--json': ('as_json', 'flag')},
                   (('name', 1, 'str'),),
                   ('name',)),
 ('profile', 'list'): ('lean.profile_list', {'--json': ('as_json', 'flag')}, (), ()),
 ('lock',): ('lean.lock',
             {'--target': ('target', 'str*'),
              '-t': ('target', 'str*'),
              '--python': ('python', 'str'),
              '--check': ('check', 'flag'),
              '--offline': ('offline', 'flag'),
              '--upgrade': ('upgrade', 'flag'),
              '-U': ('upgrade', 'flag'),
              '--upgrade-package': ('upgrade_package', 'str*'),
              '-P': ('upgrade_package', 'str*'),
              '--locked': ('locked', 'flag'),
              '--json': ('as_json', 'flag')},
             (('profiles', -1, 'str*'),),
             ()),
 ('diff',): ('diff_results.diff',
             {'--exit-code': ('exit_code', 'flag'), '--json': ('as_json', 'flag')},
             (('old', 1, 'str'), ('new', 1, 'str')),
             ()),
 ('tree',): ('tree_results.tree',
             {'--lock': ('lock_file', 'path'),
              '--profile': ('profile', 'str'),
              '--target': ('target', 'str'),
              '--python': ('python', 'str'),
              '--json': ('as_json', 'flag')},
             (('name', 1, 'str'),),
             ())}

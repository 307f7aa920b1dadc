"""The fast path's table, generated from the typer declaration by
``python -m mlstack_env.cli.fastgen``: do not edit (a test checks it is current).

Command words -> (body, options class, options, arguments, required parameters); the
body is ``module.function`` under mlstack_env.cli; with an options class (``module.Class``,
else None) it takes one object of it, else the parameters as keywords.
Options: spelling -> (parameter, kind); arguments: (parameter, nargs, kind) in order.
Kinds: "flag" (no value), "str", "path", and "str*"/"path*" (repeatable).
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs an import on the fast path; mypy reads it
if TYPE_CHECKING:
    from typing import Any

FAST: dict[tuple[str, ...], tuple[Any, ...]] = {('env', 'create'): ('lean.env_create',
                     'options.CreateOptions',
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
 ('env', 'list'): ('lean.env_list', None, {'--json': ('as_json', 'flag')}, (), ()),
 ('env', 'info'): ('lean.env_info',
                   None,
                   {'--json': ('as_json', 'flag')},
                   (('name', 1, 'str'),),
                   ('name',)),
 ('profile', 'list'): ('lean.profile_list',
                       None,
                       {'--json': ('as_json', 'flag')},
                       (),
                       ()),
 ('lock',): ('lean.lock',
             'options.LockOptions',
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
             None,
             {'--exit-code': ('exit_code', 'flag'), '--json': ('as_json', 'flag')},
             (('old', 1, 'str'), ('new', 1, 'str')),
             ()),
 ('tree',): ('tree_results.tree',
             None,
             {'--lock': ('lock_file', 'path'),
              '--profile': ('profile', 'str'),
              '--target': ('target', 'str'),
              '--python': ('python', 'str'),
              '--json': ('as_json', 'flag')},
             (('name', 1, 'str'),),
             ())}

# `mlstack --help` at 80 columns or more.
ROOT_HELP = (
    'Usage: mlstack [OPTIONS] COMMAND [ARGS]...\n'
    '\n'
    '  Reproducible ML environments for AMD GPUs (ROCm).\n'
    '\n'
    'Options:\n'
    "  -v, --verbose  Show tracebacks and uv's command lines.\n"
    '  -q, --quiet    No progress or notes; errors only.\n'
    '  --version      Print the version.\n'
    '  --help         Show this message and exit.\n'
    '\n'
    'Commands:\n'
    '  init        Write mlstack.toml for this folder.\n'
    '  detect      GPUs, gfx, ROCm, distro and the target they imply.\n'
    '  lock        Resolve profiles x targets into mlstack.lock.\n'
    '  add         Add packages to a profile; re-lock, update the env.\n'
    '  remove      Remove packages from a profile; re-lock.\n'
    '  diff        What changed between two locks.\n'
    "  sync        Create or update the project's default env from the lock.\n"
    '  run         Run one command in an env (short for env run).\n'
    '  shell       A shell with an env active (short for env shell).\n'
    "  tree        An env's packages, sizes and why each is there.\n"
    "  bundle      A lock's wheels in a folder, for offline use.\n"
    '  gc          Free store entries no env uses.\n'
    '  export      A Dockerfile or Apptainer recipe for an env.\n'
    '  doctor      What is wrong with this machine or env.\n'
    '  completion  Print a shell completion script.\n'
    '  profile     List and show profiles.\n'
    '  env         Create, inspect, verify and use envs.\n'
    "  cache       The download caches under MLSTACK_HOME (mlstack's and uv's).\n"
    '  system      System packages a lock expects.\n'
    '\n'
    '  Examples:\n'
    '\n'
    '    mlstack detect\n'
    '    mlstack env create minimal\n'
    '    mlstack env shell minimal\n'
)

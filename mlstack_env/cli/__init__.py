"""The ``mlstack`` entry point.

``main`` keeps the paths that do no resolving lean: ``--version`` and ``env run`` (and
its short form ``run``) never import typer, rich or the resolver, and ``env list``,
``env info``, ``env create``, ``profile list`` and ``lock`` run without typer when their
arguments are spellings typer declares (:mod:`mlstack_env.cli.fast`, whose table is
generated from the typer declaration). Everything else goes through the typer app in
:mod:`mlstack_env.cli.app`, whose commands load lazily.
"""

from __future__ import annotations

import errno
import sys

from mlstack_env.core.errors import INTERNAL_ERROR, USER_ERROR, MlstackError

# Options of mlstack itself, accepted anywhere before `--` (users put -v last).
GLOBAL_FLAGS = ("-v", "--verbose", "-q", "--quiet")
# Words users bring from other tools (uv, pip, conda), and the mlstack command that does
# that job: an unknown command suggests it, else the nearest command name.
FAMILIAR = {
    "install": "sync",  # uv/pip: make the env from the lock (`add` adds a package)
    "uninstall": "remove",
    "activate": "env activate",
    "create": "env create",
    "list": "env list",
    "info": "env info",
    "verify": "env verify",
    "upgrade": "lock --upgrade",
    "update": "lock --upgrade",
}


def suggest(word: str, known: list[str]) -> str | None:
    """The command to suggest for an unknown ``word``: the familiar one, else the nearest
    name (difflib), else None."""
    import difflib

    familiar = [w for w, cmd in FAMILIAR.items() if cmd.split()[0] in known]
    close = difflib.get_close_matches(word, [*known, *familiar], n=1, cutoff=0.6)
    if not close:
        return None
    return FAMILIAR[close[0]] if close[0] in familiar else close[0]

def _verbose(args: list[str]) -> bool:
    head = args[: args.index("--")] if "--" in args else args
    return any(a in ("-v", "--verbose") for a in head)


def _wants_json(args: list[str]) -> bool:
    return "--json" in args[: _dashdash(args)]


def report(err: MlstackError, verbose: bool = False, as_json: bool = False) -> int:
    """The error on stderr (one line and a hint); with ``--json`` also as one JSON
    document on stdout, ``{"error": …, "hint": …}``, for the script that parses it."""
    if verbose:
        import traceback

        traceback.print_exc(file=sys.stderr)
    if as_json:
        import json

        from mlstack_env.core.progname import commands as _commands

        hint = _commands(err.hint) if err.hint else err.hint
        sys.stdout.write(json.dumps({"error": err.message, "hint": hint}) + "\n")
        sys.stdout.flush()
    from mlstack_env.cli.output import printable
    from mlstack_env.core.progname import commands

    sys.stderr.write(f"error: {printable(err.message)}\n")
    if err.hint:
        sys.stderr.write(f"hint: {printable(commands(err.hint), newlines=True)}\n")
    sys.stderr.flush()
    return err.exit_code


# A command runs for milliseconds and makes few reference cycles; at the collector's
# default (a collection each 700 new objects) a store hit, `diff` or `tree` spent 4-7 ms,
# a tenth of its time, collecting nothing while modules loaded (docs/performance.md).
GC_THRESHOLD = (50_000, 20, 20)


def main(argv: list[str] | None = None) -> int:
    import gc  # built in: no import cost

    gc.set_threshold(*GC_THRESHOLD)
    args = list(sys.argv[1:] if argv is None else argv)
    verbose = _verbose(args)
    try:
        if args == ["--version"]:
            from mlstack_env import __version__

            sys.stdout.write(f"mlstack {__version__}\n")
            return 0
        if args[:1] == ["__complete"]:  # the completion scripts' helper, before typer
            from mlstack_env.cli.completion import run_helper

            return run_helper(args[1:])
        lead = _leading_globals(args)
        cmd = args[lead : lead + 2]
        if cmd == ["env", "run"] and "--help" not in args[: _dashdash(args)]:
            from mlstack_env.cli.run import run_fast

            return run_fast(args[lead + 2 :])
        if cmd[:1] == ["run"]:  # the short form; run_fast prints its own --help
            from mlstack_env.cli.run import run_fast

            return run_fast(args[lead + 1 :])
        from mlstack_env.cli.fast import run_fast as run_lean

        code = run_lean(args)
        return _run_app(args) if code is None else code
    except MlstackError as e:
        return report(e, verbose, _wants_json(args))
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        return 130
    except OSError as e:
        if e.filename is None and e.errno not in (*_FULL, *_DENIED):
            return report(_internal(e), verbose)
        return report(filesystem_error(e), verbose)
    except Exception as e:  # the last line of defence: one line, not a traceback
        return report(_internal(e), verbose)


def _internal(e: Exception) -> MlstackError:
    return MlstackError(f"internal error: {e!r}", exit_code=INTERNAL_ERROR,
                        hint="this is a bug in mlstack; rerun with -v and report the traceback")


_FULL = (errno.ENOSPC, errno.EDQUOT)
_DENIED = (errno.EACCES, errno.EPERM, errno.EROFS)


def filesystem_error(e: OSError) -> MlstackError:
    """A failed file operation, as the user's problem it is: which path, and why (a full
    disk, a read-only or unwritable MLSTACK_HOME). The changes mlstack makes are atomic
    (built aside, renamed into place), so what failed left nothing half written."""
    import os

    home = os.environ.get("MLSTACK_HOME")
    path = str(e.filename) if e.filename is not None else f"writing under {home or 'MLSTACK_HOME'}"
    inside = home and (path == home or path.startswith(home.rstrip("/") + "/"))
    where = " (MLSTACK_HOME)" if inside and path == home else \
        " (under MLSTACK_HOME)" if inside else ""
    reason = e.strerror or type(e).__name__
    if e.errno in _FULL:
        hint = ("free some space on that disk (`mlstack gc` removes unused envs), or set "
                "MLSTACK_HOME to a directory on another disk")
    elif e.errno in _DENIED:
        hint = ("make that directory writable for you, or set MLSTACK_HOME to a directory "
                "you can write")
    else:
        hint = "check that path"
    return MlstackError(f"{path}{where}: {reason}", hint)


def _dashdash(args: list[str]) -> int:
    return args.index("--") if "--" in args else len(args)


def _leading_globals(args: list[str]) -> int:
    n = 0
    while n < len(args) and args[n] in GLOBAL_FLAGS:
        n += 1
    return n


def _globals_first(args: list[str]) -> list[str]:
    """``mlstack detect -v`` means ``mlstack -v detect``: -v and -q are global options, and
    users put them last. Only before ``--``, where the arguments are mlstack's own."""
    cut = _dashdash(args)
    head = [a for a in args[:cut] if a not in GLOBAL_FLAGS]
    if len(head) == cut:
        return args
    flags = [a for a in args[:cut] if a in GLOBAL_FLAGS]
    return [*dict.fromkeys(flags), *head, *args[cut:]]


def _unknown_command(e: Exception) -> str | None:
    """The word of click's "No such command 'X'." error, or None for another usage error."""
    import re

    m = re.match(r"No such command '(.+)'\.", str(getattr(e, "message", "")))
    return m.group(1) if m else None


def _run_app(args: list[str]) -> int:
    import typer
    from typer._click import exceptions as click_exc

    from mlstack_env.cli.app import command_for

    args = _globals_first(args)
    if len(args) == _leading_globals(args):  # bare `mlstack`: help, on stdout
        args = [*args, "--help"]
    as_json = _wants_json(args)
    command = command_for()
    try:
        rv = command.main(args=args, prog_name="mlstack", standalone_mode=False)
    except click_exc.NoArgsIsHelpError as e:  # `mlstack env`: the group's help, on stdout
        typer.echo(e.format_message())
        return 0
    except click_exc.UsageError as e:
        # One line and a hint, like every other user error, not click's usage block.
        path = e.ctx.command_path if e.ctx else "mlstack"
        hint = f"see `{path} --help`"
        word = _unknown_command(e)
        if word is not None and e.ctx is not None:
            known = list(getattr(e.ctx.command, "commands", {}) or {})
            if path == "mlstack":
                from mlstack_env.cli.app import COMMANDS

                known = list(COMMANDS)
            near = suggest(word, known)
            if near is not None:
                hint = f"did you mean `{path} {near}`? ({hint[0].lower()}{hint[1:]})"
        return report(MlstackError(e.format_message(), hint=hint), as_json=as_json)
    except typer.Abort:
        sys.stderr.write("error: aborted\n")
        return USER_ERROR
    except click_exc.ClickException as e:
        return report(MlstackError(e.format_message()), as_json=as_json)
    except typer.Exit as e:
        return int(e.exit_code or 0)
    return rv if isinstance(rv, int) else 0

"""The ``mlstack`` entry point.

``main`` keeps the paths that do no resolving lean: ``--version`` and ``env run`` (and
its short form ``run``) never import typer, rich or the resolver, and ``env list``,
``env info``, ``env create``, ``profile list`` and ``lock`` run without typer when their
arguments are spellings typer declares (:mod:`mlstack_env.cli.fast`, whose table is
generated from the typer declaration). Everything else goes through the typer app in
:mod:`mlstack_env.cli.app`, whose commands load lazily.
"""

from __future__ import annotations

import sys

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


# A command runs for milliseconds and makes few reference cycles; at the collector's
# default (a collection each 700 new objects) a store hit, `diff` or `tree` spent 4-7 ms,
# a tenth of its time, collecting nothing while modules loaded (docs/performance.md).
GC_THRESHOLD = (50_000, 20, 20)


def main(argv: list[str] | None = None) -> int:
    """Run ``mlstack ARGV`` (the command line's own when None) and return its exit status;
    the command line's own run (the console script, ``python -m mlstack_env``) ends the
    process here instead (:func:`_end`)."""
    import gc  # built in: no import cost

    gc.set_threshold(*GC_THRESHOLD)
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        code = _dispatch(args)
    except KeyboardInterrupt:
        from mlstack_env.core.errors import ExitCode

        sys.stderr.write("error: interrupted\n")
        code = ExitCode.INTERRUPTED
    except Exception as e:  # the last line of defence: one line, not a traceback
        from mlstack_env.cli.report import failure

        code = failure(e, verbose=_verbose(args), as_json=_wants_json(args))
    if argv is None:
        _end(code)
    return code


def _end(code: int) -> None:
    """End the process with ``code`` once its output is out, without Python's shutdown:
    clearing every module and collecting every object left (the raised GC threshold
    leaves them all) was 7-9 ms of every command here, a store hit's and miss's last
    step (docs/performance.md); mypy ends the same way. What the shutdown would still do
    is done first: the exit handlers run (``atexit``: logging's flush under -v, temporary
    folders' cleanup), stdout and stderr are flushed. Python's own exit is kept where it
    does more: a thread still running that it would wait for, or output it cannot flush
    (a closed pipe), which it reports as it always did."""
    import atexit
    import os

    threading = sys.modules.get("threading")
    if threading is not None and any(
            t is not threading.main_thread() and not t.daemon for t in threading.enumerate()):
        return
    atexit._run_exitfuncs()
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:  # None: Python started with that descriptor closed
                stream.flush()
    except (OSError, ValueError):  # a closed pipe or stream
        return
    os._exit(code)


def _dispatch(args: list[str]) -> int:
    """Run ``args`` on the leanest path that takes them. The paths that need no error
    class import none (core.errors's enum is 3 ms of ``--version``'s 16): 0 here is
    ``ExitCode.OK``."""
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
    from mlstack_env.cli.report import report
    from mlstack_env.core.errors import ExitCode, UsageError

    args = _globals_first(args)
    if len(args) == _leading_globals(args):  # bare `mlstack`: help, on stdout
        args = [*args, "--help"]
    as_json = _wants_json(args)
    command = command_for()
    try:
        rv = command.main(args=args, prog_name="mlstack", standalone_mode=False)
    except click_exc.NoArgsIsHelpError as e:  # `mlstack env`: the group's help, on stdout
        typer.echo(e.format_message())
        return ExitCode.OK
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
        return report(UsageError(e.format_message(), hint=hint), as_json=as_json)
    except typer.Abort:
        sys.stderr.write("error: aborted\n")
        return ExitCode.USER_ERROR
    except click_exc.ClickException as e:
        return report(UsageError(e.format_message()), as_json=as_json)
    except typer.Exit as e:
        return int(e.exit_code or ExitCode.OK)
    return rv if isinstance(rv, int) else ExitCode.OK

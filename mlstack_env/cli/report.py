"""How a failed command reports itself: one line saying what is wrong and a hint, on
stderr (and as JSON on stdout under ``--json``); a failed file operation as the user's
problem it is (:func:`filesystem_error`)."""

from __future__ import annotations

import errno
import sys

from mlstack_env.core.errors import InternalError, MlstackError


def report(err: MlstackError, verbose: bool = False, as_json: bool = False) -> int:
    """The error on stderr (one line and a hint); with ``--json`` also as one JSON
    document on stdout, ``{"error": …, "hint": …}``, for the script that parses it."""
    if verbose:
        import traceback

        traceback.print_exc(file=sys.stderr)
    if as_json:
        import json

        from mlstack_env.core.progname import commands

        hint = commands(err.hint) if err.hint else err.hint
        sys.stdout.write(json.dumps({"error": err.message, "hint": hint}) + "\n")
        sys.stdout.flush()
    from mlstack_env.cli.plain import printable

    sys.stderr.write(f"error: {printable(err.message)}\n")
    if err.hint:  # printable(newlines=True) names mlstack as the user ran it
        sys.stderr.write(f"hint: {printable(err.hint, newlines=True)}\n")
    sys.stderr.flush()
    return err.exit_code


def internal_error(e: Exception) -> InternalError:
    """An exception mlstack did not expect, as one line (a bug: exit 2, InternalError's
    hint)."""
    return InternalError(f"internal error: {e!r}")


def failure(e: Exception, *, verbose: bool = False, as_json: bool = False) -> int:
    """Report ``e``, which a command raised, and return the exit status it means: an
    MlstackError as it is; a failed file operation as the user's (a path, a full disk, a
    permission); anything else as a bug in mlstack."""
    if isinstance(e, MlstackError):
        return report(e, verbose, as_json)
    if isinstance(e, OSError) and (e.filename is not None or e.errno in (*FULL, *DENIED)):
        return report(filesystem_error(e), verbose)
    return report(internal_error(e), verbose)


FULL = (errno.ENOSPC, errno.EDQUOT)
DENIED = (errno.EACCES, errno.EPERM, errno.EROFS)


def filesystem_error(e: OSError) -> MlstackError:
    """A failed file operation, as the user's problem it is: which path, and why (a full
    disk, a read-only or unwritable MLSTACK_HOME). The changes mlstack makes are atomic
    (built aside, renamed into place), so what failed left nothing half written. The root
    class: any path, so no one kind (it is only reported, never caught)."""
    import os

    home = os.environ.get("MLSTACK_HOME")
    path = str(e.filename) if e.filename is not None else f"writing under {home or 'MLSTACK_HOME'}"
    inside = home and (path == home or path.startswith(home.rstrip("/") + "/"))
    where = " (MLSTACK_HOME)" if inside and path == home else \
        " (under MLSTACK_HOME)" if inside else ""
    reason = e.strerror or type(e).__name__
    if e.errno in FULL:
        hint = ("free some space on that disk (`mlstack gc` removes unused envs), or set "
                "MLSTACK_HOME to a directory on another disk")
    elif e.errno in DENIED:
        hint = ("make that directory writable for you, or set MLSTACK_HOME to a directory "
                "you can write")
    else:
        hint = "check that path"
    return MlstackError(f"{path}{where}: {reason}", hint)

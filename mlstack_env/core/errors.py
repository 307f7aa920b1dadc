"""One root error type: a message, a hint, an exit code; below it, one class per kind of
problem a caller may want to catch.

The CLI turns any of them into one line on stderr plus a hint; a traceback only with ``-v``.
Exit codes: 1 for a user or input error, 2 for an internal error. The class never changes
the text or the exit code: it says what kind of thing went wrong, so a caller that means
one kind (a lock it cannot read, a value a rule refuses) catches that kind and lets the
rest (a bug, a network failure) through. The hierarchy, by what a caller catches::

    MlstackError              the root: message, hint, exit_code (1 unless told)
    ├── UsageError            bad input on the command line or in the environment: an
    │                         option or argument, a path the user named, SHELL
    ├── BadValueError         a value one of the one-home rules refuses (variable names
    │                         and values, system package names, env names); callers
    │                         re-raise it naming the file or option the value came from
    ├── ManifestError         a file the user writes: mlstack.toml, profiles, sites, the
    │                         user config; no project; an unknown profile
    ├── LockError             a lock file: missing, unreadable, malformed, no entry that
    │                         fits, would change under --locked, cannot be written
    ├── TargetError           the target: target/ROCm/Python text, an unknown GPU, glibc,
    │                         a profile with no build for the target
    ├── SourceError           where packages come from: indexes, mirrors, downloads, URL
    │                         policy, a resolution that took a package from the wrong source
    │                         (fetch.indexpages.MirrorError, fetch.download.DownloadError)
    ├── StoreError            the store and what lives in it: entries, envs, generations,
    │                         packed archives, activation data
    │   └── EnvNotFound       no env by that name (the one text for it)
    ├── SystemPackagesError   the distribution's packages: no package database, an unknown
    │                         distribution, a failed install step
    ├── uv.UvError            uv failed (``kind`` says how)
    └── InternalError         a bug in mlstack: exit 2

A raise site picks the class by what the problem is about, not by the module raising it.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """mlstack's exit statuses: the one table every exit code comes from (a command that
    runs a program in an env, ``env run``/``run``/``shell``, exits with that program's
    status instead once it ran)."""

    OK = 0  # the command did what was asked
    USER_ERROR = 1  # an error the user can act on (MlstackError), a usage error, a failed
    # check (`lock --check`, `env verify`, `doctor`), `diff --exit-code` with changes
    INTERNAL_ERROR = 2  # a bug in mlstack (InternalError, an exception nobody expected)
    NOT_EXECUTABLE = 126  # run/shell: the command is in the env but cannot be executed
    NOT_FOUND = 127  # run/shell: no such command in the env (the shell's 127)
    INTERRUPTED = 130  # Ctrl-C: 128 + SIGINT, as shells report it


USER_ERROR = ExitCode.USER_ERROR
INTERNAL_ERROR = ExitCode.INTERNAL_ERROR


class MlstackError(Exception):
    """An error the user can act on."""

    def __init__(self, message: str, hint: str | None = None, exit_code: int = USER_ERROR) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.exit_code = exit_code


class InternalError(MlstackError):
    """Something mlstack did not expect; not the user's fault."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(
            message,
            hint or "this is a bug in mlstack; rerun with -v and report the traceback",
            exit_code=INTERNAL_ERROR,
        )


def toml_problem(exc: Exception, text: str) -> str:
    """tomllib's complaint, with a line number even where it says "at end of document"
    (Python 3.11's TOMLDecodeError carries no position of its own)."""
    message = str(exc)
    if "(at end of document)" in message:
        last = max(1, len(text.rstrip("\n").splitlines()))
        message = message.replace(
            "(at end of document)",
            f"(at the end of the file, line {last}: something opened earlier is not closed)",
        )
    return message


# --- the kinds (see the module docstring) ----------------------------------------------


class UsageError(MlstackError):
    """Bad input on the command line or in the environment: an option, an argument, a path
    the user named, a variable such as ``SHELL``."""


class BadValueError(MlstackError):
    """A value one of the one-home rules refuses (``core.envvars.check_variable``,
    ``core.system_names``, ``core.envname``): callers re-raise it naming where the value
    came from, and catch only this, so nothing else passes for a bad value."""


class ManifestError(MlstackError):
    """A file the user writes (mlstack.toml, a profile file, sites, the user config) is
    missing or wrong; or there is no project, or no such profile."""


class LockError(MlstackError):
    """A lock file: missing, unreadable, malformed, an unsupported format, no entry that
    fits, a change refused by ``--locked``, or a lock that cannot be written."""


class TargetError(MlstackError):
    """The target: target, ROCm or Python version text, an unknown GPU architecture, a
    glibc too old, a profile that has no build for the target."""


class SourceError(MlstackError):
    """Where packages come from: an index, a mirror or a download failed or refused, or a
    resolution took a package from a source it must not come from."""


class StoreError(MlstackError):
    """The store and what lives in it: entries, envs, generations, packed archives and an
    env's activation data (damaged, refused, or not what mlstack made)."""


class EnvNotFound(StoreError):
    """No env by that name: the one wording for it."""

    def __init__(self, name: str, hint: str = "see `mlstack env list`") -> None:
        super().__init__(f"no env named {name!r}", hint)
        self.name = name


class SystemPackagesError(MlstackError):
    """The distribution's packages: the package database cannot be read, an unknown
    distribution, no AMD repository for it, or an install step failed."""

"""Every environment variable name mlstack reads or writes, in one place."""

from __future__ import annotations

# Read by mlstack itself.
MLSTACK_HOME = "MLSTACK_HOME"
MLSTACK_CONFIG = "MLSTACK_CONFIG"
MLSTACK_ROOT = "MLSTACK_ROOT"
MLSTACK_GPU = "MLSTACK_GPU"
MLSTACK_ROCM_VERSION = "MLSTACK_ROCM_VERSION"
MLSTACK_UV = "MLSTACK_UV"
MLSTACK_GLIBC = "MLSTACK_GLIBC"
# Read by a site preset's rules in a Slurm task: `none` keeps every GPU Slurm gave it.
MLSTACK_GPU_BIND = "MLSTACK_GPU_BIND"
#: Seconds one download may take in all (a bundle's file; a whole uv run, since uv has
#: only a per-read timeout, UV_HTTP_TIMEOUT: astral-sh/uv#3144, #17697). A mirror that
#: trickles a byte every few seconds never trips a per-read timeout.
MLSTACK_DOWNLOAD_DEADLINE = "MLSTACK_DOWNLOAD_DEADLINE"
DEFAULT_DOWNLOAD_DEADLINE = 3600.0
# Where the home and config are without MLSTACK_HOME / MLSTACK_CONFIG (core/paths.py).
XDG_DATA_HOME = "XDG_DATA_HOME"
XDG_CONFIG_HOME = "XDG_CONFIG_HOME"
HOME = "HOME"

# ROCm / HIP variables that environments carry (ROCM-FACTS §6).
ROCM_PATH = "ROCM_PATH"
ROCM_HOME = "ROCM_HOME"
HIP_PATH = "HIP_PATH"
HIP_VISIBLE_DEVICES = "HIP_VISIBLE_DEVICES"
ROCR_VISIBLE_DEVICES = "ROCR_VISIBLE_DEVICES"
HSA_OVERRIDE_GFX_VERSION = "HSA_OVERRIDE_GFX_VERSION"
PYTORCH_ROCM_ARCH = "PYTORCH_ROCM_ARCH"
HSA_TOOLS_LIB = "HSA_TOOLS_LIB"
MIOPEN_USER_DB_PATH = "MIOPEN_USER_DB_PATH"
MIOPEN_CUSTOM_CACHE_DIR = "MIOPEN_CUSTOM_CACHE_DIR"
PYTORCH_TUNABLEOP_ENABLED = "PYTORCH_TUNABLEOP_ENABLED"
PYTORCH_TUNABLEOP_FILENAME = "PYTORCH_TUNABLEOP_FILENAME"

# Set by activation.
VIRTUAL_ENV = "VIRTUAL_ENV"
MLSTACK_ENV = "MLSTACK_ENV"

# --- what an env may not set -------------------------------------------------------------
#
# Values from a profile or lock are data: activation quotes them, so no shell runs them as
# a command. But some variables are code by meaning: a shell or the dynamic loader runs or
# loads what they name (BASH_ENV, PROMPT_COMMAND, LD_PRELOAD), a shell will not let a
# script set them (UID, zsh's `status`), or activation manages them itself (PATH, the
# prompt). A profile or lock that sets one is refused where it is read, before anything is
# written. docs/profiles.md lists these with the reasons; keep the two in step.
#
# Reviewed against (issue 21), for what each program runs, sources or expands:
# * bash: bash(1) / the Bash Reference Manual, "Bash Variables" and "Bourne Shell
#   Variables" (https://www.gnu.org/software/bash/manual/html_node/Shell-Variables.html):
#   BASH_ENV, ENV, PROMPT_COMMAND, PS0-PS4 (expanded with command substitution), MAILPATH
#   (its messages are expanded, `$(…)` included) and MAILCHECK/MAIL (turn that on),
#   HISTFILE (where the history is written on exit: ~/.bashrc is one), FCEDIT (run by
#   `fc`), HOME (`~/.bashrc`, `~/.profile` and `~` everywhere).
# * zsh: zshparam(1) "Parameters Used By The Shell" and zshall(1) "Startup/Shutdown
#   Files" (https://zsh.sourceforge.io/Doc/Release/Parameters.html): ZDOTDIR and HOME
#   (where .zshenv/.zshrc are read), STTY (zsh runs `stty $STTY` before a command),
#   PROMPT_EOL_MARK (prompt-expanded), HISTFILE, FPATH/module_path (autoloaded code),
#   MAILPATH/mailpath/MAILCHECK.
# * fish: fish-doc "Configuration files" and "Special variables"
#   (https://fishshell.com/docs/current/language.html#configuration-files): fish_* ,
#   and XDG_CONFIG_HOME / XDG_CONFIG_DIRS / XDG_DATA_HOME / XDG_DATA_DIRS, where fish
#   (and git, and most desktop programs) read config.fish, functions and completions.
# * git: git(1) "ENVIRONMENT VARIABLES" and git-config(1) "ENVIRONMENT"
#   (https://git-scm.com/docs/git#_environment_variables): GIT_DIR/GIT_WORK_TREE/
#   GIT_COMMON_DIR pick a repository whose config runs programs (core.fsmonitor,
#   core.pager, core.sshCommand on `git status`), GIT_CONFIG* add config, GIT_EXEC_PATH
#   and GIT_TEMPLATE_DIR (hooks) name programs, GIT_TRACE* write files, GIT_ALLOW_PROTOCOL
#   allows `ext::` (runs a command): the whole GIT_ prefix is refused.
# * the loader and libraries: ld.so(8) (LD_*, GCONV_PATH, GLIBC_TUNABLES), openssl(1)
#   "ENVIRONMENT" (OPENSSL_CONF loads engines and providers: shared libraries).

_MANAGED = "activation manages it (PATH, VIRTUAL_ENV, MLSTACK_ENV, PYTHONHOME and the prompt)"
_SHELL_RUNS = "a shell runs or sources what it holds"
_SHELL_OWNS = "a shell owns it: read-only, special, or it changes how the shell works"
_LOADER = "the dynamic loader loads code from what it names, in every program"
_PROGRAM_RUNS = "programs run or load code from what it names"
_PYTHON = "it changes what every Python run in the env imports or executes"

#: name -> why it is refused.
FORBIDDEN: dict[str, str] = {
    **dict.fromkeys(("PATH", VIRTUAL_ENV, MLSTACK_ENV, "PYTHONHOME", "PS1", "PROMPT"),
                    _MANAGED),
    **dict.fromkeys((
        "PROMPT_COMMAND", "BASH_ENV", "ENV", "ZDOTDIR", "PS0", "PS2", "PS3", "PS4",
        "PROMPT2", "PROMPT3", "PROMPT4", "RPROMPT", "RPROMPT2", "RPS1", "RPS2", "SPROMPT",
        "INPUTRC", "FPATH", "fpath", "NULLCMD", "READNULLCMD", "MODULE_PATH", "module_path",
        "precmd_functions", "preexec_functions", "chpwd_functions", "periodic_functions",
        "zshexit_functions", "zshaddhistory_functions", "SHELL",
        "HOME", "MAILPATH", "MAILCHECK", "MAIL", "HISTFILE", "FCEDIT", "STTY",
        "PROMPT_EOL_MARK", "XDG_CONFIG_HOME", "XDG_CONFIG_DIRS", "XDG_DATA_HOME",
        "XDG_DATA_DIRS",
    ), _SHELL_RUNS),
    **dict.fromkeys((
        # bash
        "IFS", "PWD", "OLDPWD", "SHLVL", "UID", "EUID", "PPID", "GROUPS", "SHELLOPTS",
        "BASHOPTS", "BASHPID", "HISTCMD", "LINENO", "RANDOM", "SRANDOM", "SECONDS",
        "EPOCHSECONDS", "EPOCHREALTIME", "OPTIND", "OPTARG", "PIPESTATUS", "DIRSTACK",
        "FUNCNAME", "COMP_WORDBREAKS", "POSIXLY_CORRECT", "CDPATH",
        # zsh (lowercase ones are arrays tied to the uppercase variables)
        "path", "cdpath", "manpath", "mailpath", "psvar", "status", "pipestatus", "argv",
        "ARGC", "GID", "EGID", "USERNAME", "ERRNO", "TTYIDLE", "ZSH_SUBSHELL", "options",
        "parameters", "commands", "functions", "aliases", "builtins", "history",
        "historywords", "jobdirs", "jobstates", "jobtexts", "modules", "nameddirs",
        "reswords", "saliases", "userdirs", "widgets", "dirstack", "mapfile", "signals",
        "termcap", "terminfo", "keymaps", "funcstack", "zsh_eval_context", "histchars",
        "HISTCHARS", "KEYBOARD_HACK",
        # fish (besides the fish_ prefix)
        "version", "hostname", "umask", "last_pid", "CMD_DURATION", "FISH_VERSION",
    ), _SHELL_OWNS),
    **dict.fromkeys(("GCONV_PATH", "GLIBC_TUNABLES", "OPENSSL_CONF", "OPENSSL_ENGINES",
                     "OPENSSL_MODULES"), _LOADER),
    **dict.fromkeys((
        "EDITOR", "VISUAL", "PAGER", "MANPAGER", "BROWSER", "LESSOPEN", "LESSCLOSE",
        "SSH_ASKPASS", "SUDO_ASKPASS", "SUDO_EDITOR", "SYSTEMD_EDITOR", "SYSTEMD_PAGER",
        "PERL5OPT", "PERL5LIB", "PERLLIB", "RUBYOPT", "RUBYLIB",
        "NODE_OPTIONS", "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS",
    ), _PROGRAM_RUNS),
    **dict.fromkeys(("PYTHONPATH", "PYTHONSTARTUP", "PYTHONBREAKPOINT", "PYTHONUSERBASE",
                     "PYTHONPLATLIBDIR", "PYTHONEXECUTABLE"), _PYTHON),
}

#: name prefix -> why every name starting with it is refused.
FORBIDDEN_PREFIXES: dict[str, str] = {
    "_MLSTACK_": "activation keeps its own state in these",
    "LD_": _LOADER,
    "DYLD_": _LOADER,
    "BASH_": _SHELL_RUNS + " (BASH_ENV, BASH_LOADABLES_PATH, exported functions)",
    "GIT_": _PROGRAM_RUNS + " (git: the repository and config it reads, whose settings "
    "such as core.fsmonitor, core.pager and core.sshCommand run programs)",
    "fish_": _SHELL_RUNS + " (fish_function_path, fish_user_paths)",
    "__fish": _SHELL_OWNS,
}

#: What a variable name must look like: a POSIX name, which every shell can export.
NAME_PATTERN = r"[A-Za-z_][A-Za-z0-9_]*"
# NAME_PATTERN as character sets: `env run` checks every variable of an env on its hot
# path, which imports no `re` (tests/test_envvars.py holds the two to the same answers).
_ASCII_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_NAME_FIRST = frozenset(_ASCII_LETTERS + "_")
_NAME_REST = frozenset(_ASCII_LETTERS + "_0123456789")


def is_variable_name(name: object) -> bool:
    """Whether ``name`` matches :data:`NAME_PATTERN` (ASCII only)."""
    return (isinstance(name, str) and name != "" and name[0] in _NAME_FIRST
            and all(c in _NAME_REST for c in name))


def forbidden_reason(name: str) -> str | None:
    """Why an env may not set ``name``; None when it may."""
    if name in FORBIDDEN:
        return FORBIDDEN[name]
    return next((why for p, why in FORBIDDEN_PREFIXES.items() if name.startswith(p)), None)


def check_variable(name: object, value: object) -> None:
    """Refuse a variable an env may not set, or one no shell could set literally.

    The one rule for profiles, locks and activation data (raises BadValueError).
    """
    from mlstack_env.core.errors import BadValueError

    if not isinstance(name, str) or not is_variable_name(name):
        raise BadValueError(
            f"invalid environment variable name {name!r}",
            hint="names are ASCII letters, digits and '_', not starting with a digit",
        )
    why = forbidden_reason(name)
    if why is not None:
        raise BadValueError(
            f"environment variable {name} cannot be set by an env: {why}",
            hint="remove it from the profile's [env] (docs/profiles.md lists the variables "
            "an env may not set, and why)",
        )
    if not isinstance(value, str) or "\0" in value:
        raise BadValueError(
            f"invalid value for environment variable {name}: {value!r}",
            hint="values are strings without NUL characters",
        )


def download_deadline() -> float:
    """``$MLSTACK_DOWNLOAD_DEADLINE`` in seconds (default one hour)."""
    import os

    from mlstack_env.core.errors import UsageError

    text = os.environ.get(MLSTACK_DOWNLOAD_DEADLINE, "").strip()
    if not text:
        return DEFAULT_DOWNLOAD_DEADLINE
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < 10**7:
        raise UsageError(f"{MLSTACK_DOWNLOAD_DEADLINE}={text[:40]!r} is not a number of "
                         "seconds", f"set it to seconds, e.g. {MLSTACK_DOWNLOAD_DEADLINE}"
                         "=7200, or unset it (one hour)")
    return value

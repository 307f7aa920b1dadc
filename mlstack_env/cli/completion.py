"""``mlstack completion bash|zsh|fish``: a completion script, and the helper it calls.

The script carries a table made from the command tree when it is printed (commands,
their options, what each argument and option value is: an env, a profile, a target, a
file…), so it matches the mlstack that printed it. On each TAB it runs the hidden
``mlstack __complete WORD…`` with that table in ``MLSTACK_COMPLETE_TABLE``; ``cli.main``
answers it before typer or rich load (about as fast as ``mlstack --version``), reading
env names from the store, profile names from the built-in ones and the project's
``mlstack.toml``, and targets from this machine and the project's ``targets``.

The helper prints one candidate a line; ``:files`` / ``:dirs`` ask the shell to complete
paths itself.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

SHELLS = ("bash", "zsh", "fish")
TABLE_VAR = "MLSTACK_COMPLETE_TABLE"
FILES = ":files"
DIRS = ":dirs"

# Options that mean the same on every command (cli.main moves them first).
GLOBAL_FLAGS = ("-v", "--verbose", "-q", "--quiet", "--help")

# What a value is, by option name; positional arguments by metavar (see _argument_kind).
_OPTION_KINDS = {
    "--target": "target", "-t": "target", "--env": "env", "--shell": "shell",
    "--python": "python",
}
# `env run` parses its own arguments (cli/run.py): an env name, then the command.
_SPECIAL_ARGS: dict[tuple[str, ...], list[str]] = {("env", "run"): ["env", "command"]}


# --- the table, from the click command tree ------------------------------------------------


def table_of(command: Any, path: tuple[str, ...] = ()) -> dict[str, Any]:
    """``{"commands": {name: node}, "options": {opt: kind|None}, "args": [kind…]}`` for a
    click command or group (``kind`` None: a flag, no value)."""
    options: dict[str, str | None] = {}
    args: list[str] = []
    for param in command.params:
        if param.param_type_name == "option":
            kind = None if param.is_flag else _option_kind(param)
            for opt in param.opts:
                options[opt] = kind
        elif param.param_type_name == "argument":
            args.append(_argument_kind(path, param))
            if param.nargs == -1:
                args.append("*")  # the last kind repeats
    node: dict[str, Any] = {"options": options, "args": _SPECIAL_ARGS.get(path, args)}
    subs = getattr(command, "commands", None)
    if subs:
        node["commands"] = {
            name: table_of(sub, (*path, name))
            for name, sub in sorted(subs.items()) if not getattr(sub, "hidden", False)
        }
    return node


def _option_kind(param: Any) -> str:
    for opt in param.opts:
        if opt in _OPTION_KINDS:
            return _OPTION_KINDS[opt]
    choices = getattr(param.type, "choices", None)
    if choices:
        return "choice:" + " ".join(choices)
    return _metavar_kind(param.metavar or "")


def _argument_kind(path: tuple[str, ...], param: Any) -> str:
    meta = (param.metavar or param.name or "").strip("[].").upper()
    choices = getattr(param.type, "choices", None)
    if choices:
        return "choice:" + " ".join(choices)
    if meta == "PROFILE" or (meta == "NAME" and path[:1] == ("profile",)):
        return "profile"
    if meta == "NAME":
        return "env"
    return _metavar_kind(meta)


def _metavar_kind(meta: str) -> str:
    meta = meta.upper()
    if meta == "FILE":
        return "file"
    if meta == "DIR":
        return "dir"
    return "value"


# --- answering a TAB ------------------------------------------------------------------------


def complete(table: dict[str, Any], words: list[str]) -> list[str]:
    """Candidates for the last of ``words`` (the words after ``mlstack``, the last one
    being typed, possibly empty)."""
    *before, current = words or [""]
    node = table
    position = 0
    expecting: str | None = None
    for word in before:
        if expecting is not None:
            expecting = None
            continue
        if word == "--":
            return [FILES]  # a command's own arguments (`env run NAME -- CMD …`)
        if word.startswith("-") and word != "-":
            expecting = _value_kind(node, word)
            continue
        subs = node.get("commands") or {}
        if word in subs and position == 0:
            node = subs[word]
            continue
        position += 1
    if expecting is not None:
        return values(expecting, current)
    if current.startswith("-"):
        return sorted(o for o in _options(node) if o.startswith(current))
    subs = node.get("commands") or {}
    if subs:
        return sorted(name for name in subs if name.startswith(current))
    kind = _positional_kind(node, position)
    return values(kind, current) if kind is not None else []


def _value_kind(node: dict[str, Any], word: str) -> str | None:
    """What the word after option ``word`` is: None for a flag, an unknown option, or a
    value given with ``=``."""
    name, eq, _ = word.partition("=")
    kind = _options(node).get(name)
    return kind if kind is not None and not eq else None


def _positional_kind(node: dict[str, Any], position: int) -> str | None:
    """What the command's argument at ``position`` is (``*``: the one before repeats);
    None past its last one."""
    args: list[str] = node.get("args") or []
    if not args:
        return None
    if position < len(args) and args[position] != "*":
        return args[position]
    if args[-1] == "*":
        return args[-2]
    return None


def _options(node: dict[str, Any]) -> dict[str, str | None]:
    return {**dict.fromkeys(GLOBAL_FLAGS), **(node.get("options") or {})}


def values(kind: str, current: str) -> list[str]:
    """The names ``kind`` stands for that start with ``current``."""
    if kind in ("file", "command"):
        return [FILES]
    if kind == "dir":
        return [DIRS]
    if kind.startswith("choice:"):
        found = kind.split(":", 1)[1].split()
    elif kind == "shell":
        found = ["bash", "zsh", "sh", "fish"]
    elif kind == "env":
        found = env_names()
    elif kind == "profile":
        found = profile_names()
    elif kind == "target":
        found = target_names()
    else:
        return []
    return sorted(v for v in set(found) if v.startswith(current))


def env_names() -> list[str]:
    from mlstack_env.store.lookup import known_envs

    return known_envs()


def profile_names() -> list[str]:
    """Built-in profile names and the project's (a broken mlstack.toml completes none)."""
    from mlstack_env.core import paths

    names = paths.builtin_profile_names()
    manifest = _manifest()
    if manifest is not None:
        names += list(_read(manifest).get("profiles", {}))
    return names


def target_names() -> list[str]:
    """This machine's detected target, ``cpu``, and the project's ``targets``."""
    names = ["cpu"]
    try:
        from mlstack_env.hardware import detect

        names.append(str(detect().target))
    except Exception:  # noqa: S110 - a TAB must never print a traceback
        pass
    manifest = _manifest()
    if manifest is not None:
        targets = _read(manifest).get("targets", [])
        names += [t for t in targets if isinstance(t, str)] if isinstance(targets, list) else []
    return names


def _manifest() -> Path | None:
    from mlstack_env.core.projectdir import find_manifest

    found = find_manifest(Path.cwd())
    return Path(found) if found is not None else None


def _read(manifest: Path) -> dict[str, Any]:
    from mlstack_env.core.errors import ManifestError
    from mlstack_env.core.projectdir import read_manifest

    try:
        data, _ = read_manifest(manifest)
    except (OSError, ValueError, RecursionError, ManifestError):
        return {}
    return data


def run_helper(words: list[str]) -> int:
    """``mlstack __complete WORD…``: candidates on stdout, one a line; never an error."""
    try:
        table = json.loads(os.environ.get(TABLE_VAR, ""))
    except ValueError:
        return 0
    try:
        found = complete(table, words)
    except Exception:
        return 0
    sys.stdout.writelines(f"{c}\n" for c in found)
    return 0


# --- the scripts ----------------------------------------------------------------------------


def script(shell: str, table: dict[str, Any]) -> str:
    from mlstack_env.activation.scripts import fish_quote, sh_quote

    data = json.dumps(table, separators=(",", ":"), sort_keys=True)
    quoted = fish_quote(data) if shell == "fish" else sh_quote(data)
    return _TEMPLATES[shell].replace("@TABLE@", quoted).replace("@VAR@", TABLE_VAR)


_BASH = """\
# mlstack completion for bash: eval "$(mlstack completion bash)" in ~/.bashrc
_mlstack_table=@TABLE@
_mlstack() {
    # Words from the line itself: COMP_WORDS splits rocm6.4:gfx1100 at the colon.
    local line="${COMP_LINE:0:COMP_POINT}" item
    local -a words=() found=()
    read -ra words <<< "$line"
    [[ $line =~ [[:space:]]$ ]] && words+=("")
    local cur="${words[${#words[@]}-1]}"
    while IFS= read -r item; do
        found+=("$item")
    done < <(@VAR@="$_mlstack_table" "${words[0]}" __complete "${words[@]:1}" 2>/dev/null)
    if [[ ${found[0]-} == :files ]]; then
        COMPREPLY=($(compgen -f -- "$cur"))
        compopt -o filenames 2>/dev/null
    elif [[ ${found[0]-} == :dirs ]]; then
        COMPREPLY=($(compgen -d -- "$cur"))
        compopt -o filenames 2>/dev/null
    else
        # bash replaces only what follows the last ':' of the word (COMP_WORDBREAKS), and
        # inserts each reply as it is: quoted (%q), a name like x$(cmd) stays a name.
        local done_part="${cur%"${cur##*:}"}" quoted
        COMPREPLY=()
        for item in "${found[@]#"$done_part"}"; do
            printf -v quoted '%q' "$item"
            COMPREPLY+=("$quoted")
        done
    fi
}
complete -F _mlstack mlstack
"""

_ZSH = """\
#compdef mlstack
# mlstack completion for zsh: eval "$(mlstack completion zsh)" in ~/.zshrc
# (after compinit), or save it as _mlstack in a directory on $fpath.
_mlstack_table=@TABLE@
_mlstack() {
    local -a found
    found=("${(@f)$(@VAR@="$_mlstack_table" ${words[1]} __complete \\
                    "${(@)words[2,CURRENT]}" 2>/dev/null)}")
    if [[ ${found[1]-} == :files ]]; then
        _files
    elif [[ ${found[1]-} == :dirs ]]; then
        _files -/
    elif (( ${#found} )) && [[ -n ${found[1]} ]]; then
        # No -Q: zsh quotes what it inserts, so a name like x$(cmd) stays a name.
        compadd -- "${found[@]}"
    fi
}
if (( $+functions[compdef] )); then
    compdef _mlstack mlstack
fi
"""

_FISH = """\
# mlstack completion for fish: mlstack completion fish | source
# (or save it as ~/.config/fish/completions/mlstack.fish)
set -g __mlstack_table @TABLE@
function __mlstack_complete
    set -l words (commandline -opc)
    set -l cur (commandline -ct)
    set -l cmd $words[1]
    set -e words[1]
    set -l found (env @VAR@=$__mlstack_table $cmd __complete $words "$cur" 2>/dev/null)
    if test "$found[1]" = :files
        __fish_complete_path (commandline -ct)
    else if test "$found[1]" = :dirs
        __fish_complete_directories (commandline -ct)
    else
        printf '%s\\n' $found
    end
end
complete -c mlstack -f -a '(__mlstack_complete)'
"""

_TEMPLATES = {"bash": _BASH, "zsh": _ZSH, "fish": _FISH}

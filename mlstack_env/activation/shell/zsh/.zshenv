# `mlstack env shell` for zsh, started as `zsh -i` with ZDOTDIR pointing here (the
# user's own ZDOTDIR, if any, in _MLSTACK_USER_ZDOTDIR): read the user's .zshenv from
# their ZDOTDIR (or $HOME), remember the ZDOTDIR it leaves, and point ZDOTDIR back
# here so that zsh reads the .zshrc beside this file next.
_mlstack_zdotdir="$ZDOTDIR"
if [ -n "${_MLSTACK_USER_ZDOTDIR+x}" ]; then ZDOTDIR="$_MLSTACK_USER_ZDOTDIR"; else unset ZDOTDIR; fi
if [ -f "${ZDOTDIR:-$HOME}/.zshenv" ]; then
    . "${ZDOTDIR:-$HOME}/.zshenv"
fi
if [ -n "${ZDOTDIR+x}" ]; then _MLSTACK_USER_ZDOTDIR="$ZDOTDIR"; else unset _MLSTACK_USER_ZDOTDIR; fi
ZDOTDIR="$_mlstack_zdotdir"
unset _mlstack_zdotdir

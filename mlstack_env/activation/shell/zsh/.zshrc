# `mlstack env shell` for zsh: the user's ZDOTDIR back, their .zshrc, then the env
# (_MLSTACK_ACTIVATE names its bin/activate).
_mlstack_activate="$_MLSTACK_ACTIVATE"
unset _MLSTACK_ACTIVATE
if [ -n "${_MLSTACK_USER_ZDOTDIR+x}" ]; then ZDOTDIR="$_MLSTACK_USER_ZDOTDIR"; else unset ZDOTDIR; fi
unset _MLSTACK_USER_ZDOTDIR
if [ -f "${ZDOTDIR:-$HOME}/.zshrc" ]; then
    . "${ZDOTDIR:-$HOME}/.zshrc"
fi
. "$_mlstack_activate"
unset _mlstack_activate

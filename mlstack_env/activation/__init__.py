"""Activation: what entering an env means, as shell scripts and as data.

- :func:`write_scripts` writes a generation's ``bin/activate`` (bash, zsh, sh),
  ``bin/activate.fish`` and ``mlstack-env.json``; the store calls it for every new
  generation.
- :func:`load_env_json` reads ``mlstack-env.json`` back; :func:`apply` turns it into
  the environment of a child process (``mlstack env run``, no shell involved).
- :mod:`~mlstack_env.activation.lookup` finds an env's current generation by name.

Importing this package stays cheap: ``env run`` imports it on its hot path, so the
script writer's names (which need ``re`` and ``shlex``) load on first use (PEP 562).
"""

from __future__ import annotations

from mlstack_env.activation.data import (
    ENV_JSON,
    ActivationData,
    apply,
    load_env_json,
    validate_variable,
)
from mlstack_env.lazy import loader

TYPE_CHECKING = False  # typing itself costs an import (and re) on the hot path
if TYPE_CHECKING:
    from mlstack_env.activation.scripts import (
        ACTIVATE_FISH,
        ACTIVATE_SH,
        fish_quote,
        sh_quote,
        write_scripts,
    )


__all__ = [
    "ACTIVATE_FISH",
    "ACTIVATE_SH",
    "ENV_JSON",
    "ActivationData",
    "apply",
    "fish_quote",
    "load_env_json",
    "sh_quote",
    "validate_variable",
    "write_scripts",
]


__getattr__ = loader(__name__, dict.fromkeys(
    ("ACTIVATE_FISH", "ACTIVATE_SH", "fish_quote", "sh_quote", "write_scripts"),
    "mlstack_env.activation.scripts"), globals())

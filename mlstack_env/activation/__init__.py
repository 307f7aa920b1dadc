"""Activation: what entering an env means, as shell scripts and as data.

- :mod:`~mlstack_env.activation.scripts` (``write_scripts``) writes a generation's
  ``bin/activate`` (bash, zsh, sh), ``bin/activate.fish`` and ``mlstack-env.json``; the
  store calls it for every new generation.
- :mod:`~mlstack_env.activation.data` (``load_env_json``) reads ``mlstack-env.json``
  back; ``apply`` turns it into the environment of a child process (``mlstack env run``,
  no shell involved).
- :mod:`mlstack_env.store.lookup` (the store's layer: it reads the store's layout) finds
  an env's current generation by name.

Import from the module itself: the package loads nothing, and ``env run`` imports
``data`` on its hot path without the script writer (``re``, ``shlex``).
"""

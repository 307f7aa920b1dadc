"""The store half of the chain: content-addressed store entries, named envs and their
generations, file locks, fingerprints, the variables an env carries, verify and gc.

Import what you use from its module (``mlstack_env.store.generations``, ``.entries``,
``.create``, ``.install``, ``.variables``): the package itself loads nothing, so a
command that only reads envs (``env list``, ``env info``) does not import the create
path, the machine detection and the installer along with it."""

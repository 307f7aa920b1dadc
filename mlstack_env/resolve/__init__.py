"""Profile x target -> lock entry, through uv; locking a project; the entry for an env.

Resolution is cross-target (ROCM-FACTS §8): ``uv pip compile --format pylock.toml
--python-version X.Y --python-platform x86_64-manylinux_2_28``, the target's sources as
``--index`` (the PyTorch index of its ROCm version first) ahead of the default index,
uv's default ``first-index`` strategy (never ``unsafe-best-match``), wheels only. URLs go
to uv through the user's ``[mirrors]`` and come back canonical (or, from a mirror with
a layout of its own, as the file's name and sha256), so a lock never holds a mirror
URL. A ROCm entry holding a torch without a ``+rocm`` label or any ``nvidia-*`` package
is refused, naming the package that pulled it in (ROCM-FACTS §4).

One module per concern:

* :mod:`.request` — what to resolve (:class:`Request`, its inputs hash, the Python, the
  entry's variables)
* :mod:`.uvcompile` — the ``uv pip compile`` run and the hint for its failure
* :mod:`.cudacheck` — refusing CUDA builds in a ROCm entry
* :mod:`.entry` — one request into a :class:`~mlstack_env.lockfile.LockEntry`
* :mod:`.locking` — what ``mlstack lock`` does
* :mod:`.lockwrite` — one writer of a lock at a time, changes announced, CI refusal
* :mod:`.for_env` — the lock entry an environment installs

Import from the module itself: the package loads nothing, so a no-op ``mlstack lock``
reads the lock and the inputs' hashes and never imports the resolver proper (entry,
cudacheck, uvcompile).
"""

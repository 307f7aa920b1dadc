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
"""

from typing import TYPE_CHECKING

from mlstack_env.lazy import loader

if TYPE_CHECKING:
    from mlstack_env.project import find_project
    from mlstack_env.resolve.entry import resolve
    from mlstack_env.resolve.for_env import EnvEntry, entry_for_env
    from mlstack_env.resolve.locking import (
        EntryOutcome,
        EntryStatus,
        LockOutcome,
        lock,
        plan,
        pylock_name,
    )
    from mlstack_env.resolve.lockwrite import LockChange
    from mlstack_env.resolve.request import (
        PLATFORM,
        PythonChoice,
        Request,
        choose_python,
        entry_env,
        make_request,
    )
    from mlstack_env.resolve.uvcompile import Upgrade

# The names load on first use (PEP 562): a no-op ``mlstack lock`` reads the lock and the
# inputs' hashes and never imports the resolver itself (entry, cudacheck, uvcompile).
_HOMES = {
    "find_project": "mlstack_env.project",
    "resolve": "mlstack_env.resolve.entry",
    "EnvEntry": "mlstack_env.resolve.for_env", "entry_for_env": "mlstack_env.resolve.for_env",
    **dict.fromkeys(("EntryOutcome", "EntryStatus", "LockOutcome", "lock", "plan",
                     "pylock_name"), "mlstack_env.resolve.locking"),
    "LockChange": "mlstack_env.resolve.lockwrite",
    **dict.fromkeys(("PLATFORM", "PythonChoice", "Request", "choose_python", "entry_env",
                     "make_request"), "mlstack_env.resolve.request"),
    "Upgrade": "mlstack_env.resolve.uvcompile",
}

__all__ = [
    "PLATFORM",
    "EntryOutcome",
    "EntryStatus",
    "EnvEntry",
    "LockChange",
    "LockOutcome",
    "PythonChoice",
    "Request",
    "Upgrade",
    "choose_python",
    "entry_env",
    "entry_for_env",
    "find_project",
    "lock",
    "make_request",
    "plan",
    "pylock_name",
    "resolve",
]


__getattr__ = loader(__name__, _HOMES, globals())

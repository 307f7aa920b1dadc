"""Names a package loads on first use (PEP 562), so importing the package stays cheap:
``mlstack_env.store``, ``mlstack_env.resolve`` and ``mlstack_env.activation`` use it.

Modules load with ``__import__``, not ``importlib.import_module``: only the former shows
in ``-X importtime``, which the tests read to check what a command loads (with the
latter, a test that a module stays unloaded could pass falsely). Standard library only,
and no ``typing``: ``env run`` imports ``mlstack_env.activation``.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing itself costs an import on env run's path; mypy reads it
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping


def loader(package: str, homes: Mapping[str, str],
           namespace: dict[str, object]) -> Callable[[str], object]:
    """The ``__getattr__`` of ``package``: ``homes`` maps a name to the module that
    defines it; the value, once loaded, is kept in ``namespace`` (the package's globals)."""

    def load(name: str) -> object:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value: object = getattr(__import__(home, fromlist=[name]), name)
        namespace[name] = value
        return value

    return load

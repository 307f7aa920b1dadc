"""The typer side of :mod:`mlstack_env.cli.options`: an options class as the signature
typer reads, and each declared option as typer's parameter.

    @app.command("lock")
    @takes(LockOptions)
    def lock_cmd(options: LockOptions) -> int:
        \"\"\"Resolve profiles x targets into a hash-pinned lock (mlstack.lock).\"\"\"
        return lean.lock(options)

typer reads a command's parameters with ``inspect.signature``, which honours a
function's ``__signature__``: :func:`takes` gives the command one keyword parameter per
field of the class, ``Annotated[type, typer.Option(…)]`` with the field's default, and
calls the body with the instance built of what typer parsed.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import MISSING, fields
from typing import Annotated, Any, TypeVar, get_args, get_type_hints

import typer

from mlstack_env.cli.options import JSON, Arg, Opt

Options = TypeVar("Options")


def param(spec: Opt | Arg) -> Any:
    """typer's parameter for ``spec``: ``typer.Option`` or ``typer.Argument``."""
    if isinstance(spec, Arg):
        return typer.Argument(**spec.info)
    return typer.Option(*spec.decls, **spec.info)


JsonOpt = Annotated[bool, param(JSON)]


def signature(cls: type[Any]) -> inspect.Signature:
    """The parameters typer reads for the options class ``cls``, in field order."""
    hints = get_type_hints(cls, localns={"Annotated": Annotated}, include_extras=True)
    params = []
    for field in fields(cls):
        base, spec = get_args(hints[field.name])
        default = inspect.Parameter.empty if field.default is MISSING else field.default
        params.append(inspect.Parameter(field.name, inspect.Parameter.KEYWORD_ONLY,
                                        default=default,
                                        annotation=Annotated[base, param(spec)]))
    return inspect.Signature(params)


def takes(cls: type[Options]) -> Callable[[Callable[[Options], int]], Callable[..., int]]:
    """The typer command of ``body``, which takes one ``cls``: typer sees the fields
    of ``cls`` as its parameters; the body gets ``cls(**what typer parsed)``. The
    command's ``options`` names ``cls`` (``cli/fastgen.py`` writes it in the table)."""

    def decorate(body: Callable[[Options], int]) -> Callable[..., int]:
        def command(**values: Any) -> int:
            return body(cls(**values))

        vars(command).update(__signature__=signature(cls), options=cls)
        command.__doc__ = body.__doc__
        command.__name__ = body.__name__
        command.__qualname__ = body.__qualname__
        command.__module__ = body.__module__
        return command

    return decorate

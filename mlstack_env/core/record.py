"""``@record``: a frozen data class that costs nothing to define.

``@dataclass`` writes each class's ``__init__``, ``__repr__``, ``__eq__``, ``__hash__``
and ``__setattr__`` as source text and compiles it: about half a millisecond a class
here, and importing ``dataclasses`` loads ``inspect`` (with ``ast``, ``dis`` and
``tokenize``). A store hit defined about forty such classes before it did any work, a
third of its time (docs/performance.md). ``@record`` gives the same frozen value class —
the same constructor (positional or by keyword, defaults, ``field(default_factory=…)``),
equality and hash over the fields compared, ``repr``, ``order=True`` — from shared
functions, without compiling anything. Type checkers read it as a dataclass
(``dataclass_transform``), and ``dataclasses.replace``, ``fields`` and ``asdict`` work
on it: the ``__dataclass_fields__`` they read are made (by ``dataclasses`` itself) the
first time something asks. :func:`replace` here does what ``dataclasses.replace`` does,
without importing it.

A record is frozen: assigning an attribute raises :class:`FrozenInstanceError`, an
``AttributeError`` like the one ``dataclasses`` raises. Not supported (no class here
uses them): inheritance between records, ``InitVar``, ``kw_only``, ``slots``,
``__post_init__``.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not loaded on the fast paths; mypy reads the names
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar, dataclass_transform

    T = TypeVar("T")
else:
    def dataclass_transform(**_kwargs: object) -> object:
        return lambda f: f


class FrozenInstanceError(AttributeError):
    """Assigning to a field of a record."""


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class _Field:
    __slots__ = ("compare", "default", "default_factory", "repr")

    def __init__(self, default: Any, default_factory: Any, compare: bool, repr_: bool) -> None:
        self.default, self.default_factory = default, default_factory
        self.compare, self.repr = compare, repr_


def field(*, default: Any = MISSING, default_factory: Callable[[], Any] | None = None,
          compare: bool = True, repr: bool = True) -> Any:
    """A field's default (or a factory called for each instance), and whether it takes
    part in equality, hashing and order (``compare``) and in ``repr``."""
    return _Field(default, default_factory, compare, repr)


def _frozen_setattr(self: object, name: str, value: object) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _frozen_delattr(self: object, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")


class _LazyFields:
    """``__dataclass_fields__``, made by ``dataclasses`` from a twin of the record the
    first time it is read (``replace``, ``fields``, ``asdict``)."""

    def __get__(self, _obj: object, cls: type) -> dict[str, Any]:
        import dataclasses

        spec = cls.__record__  # type: ignore[attr-defined]
        namespace: dict[str, Any] = {"__annotations__": dict.fromkeys(spec.names, "Any")}
        for name, f in zip(spec.names, spec.fields, strict=True):
            options: dict[str, Any] = {"compare": f.compare, "repr": f.repr}
            if f.default is not MISSING:
                options["default"] = f.default
            elif f.default_factory is not None:
                options["default_factory"] = f.default_factory
            namespace[name] = dataclasses.field(**options)
        twin: Any = dataclasses.dataclass(frozen=True)(type(cls.__name__, (), namespace))
        found: dict[str, Any] = twin.__dataclass_fields__
        type.__setattr__(cls, "__dataclass_fields__", found)
        return found


class _Spec:
    """What a record's shared methods need: its field names, defaults, compared fields."""

    __slots__ = ("compared", "fields", "names", "repr_names")

    def __init__(self, names: tuple[str, ...], fields: tuple[_Field, ...]) -> None:
        self.names, self.fields = names, fields
        self.compared = tuple(n for n, f in zip(names, fields, strict=True) if f.compare)
        self.repr_names = tuple(n for n, f in zip(names, fields, strict=True) if f.repr)


def _init(self: Any, *args: Any, **kwargs: Any) -> None:
    spec: _Spec = self.__record__
    values = self.__dict__
    names = spec.names
    if len(args) > len(names):
        raise TypeError(f"{type(self).__name__}() takes {len(names)} arguments, "
                        f"{len(args)} were given")
    values.update(zip(names, args, strict=False))
    for name, f in zip(names[len(args):], spec.fields[len(args):], strict=True):
        if name in kwargs:
            values[name] = kwargs.pop(name)
        elif f.default is not MISSING:
            values[name] = f.default
        elif f.default_factory is not None:
            values[name] = f.default_factory()
        else:
            raise TypeError(f"{type(self).__name__}() missing argument {name!r}")
    if kwargs:
        name = next(iter(kwargs))
        why = "got multiple values for" if name in names else "got an unexpected"
        raise TypeError(f"{type(self).__name__}() {why} argument {name!r}")


def _key(self: Any) -> tuple[Any, ...]:
    values = self.__dict__
    return tuple(values[n] for n in self.__record__.compared)


def _eq(self: Any, other: object) -> object:  # NotImplemented for another class
    if other.__class__ is not self.__class__:
        return NotImplemented
    return bool(_key(self) == _key(other))


def _hash(self: Any) -> int:
    return hash(_key(self))


def _repr(self: Any) -> str:
    values = self.__dict__
    inner = ", ".join(f"{n}={values[n]!r}" for n in self.__record__.repr_names)
    return f"{type(self).__qualname__}({inner})"


def _order(op: str) -> Callable[[Any, object], object]:
    compare: Callable[[tuple[Any, ...], tuple[Any, ...]], bool] = getattr(tuple, op)

    def method(self: Any, other: object) -> object:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return bool(compare(_key(self), _key(other)))

    method.__name__ = op
    return method


_ORDER = {op: _order(op) for op in ("__lt__", "__le__", "__gt__", "__ge__")}


def _is_classvar(annotation: object) -> bool:
    return isinstance(annotation, str) and annotation.startswith(("ClassVar", "typing.ClassVar"))


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def record(cls: type[T] | None = None, *, order: bool = False) -> Any:
    """Make ``cls`` a frozen record (module docstring); ``order`` adds ``<`` and friends,
    comparing the fields in order, as ``@dataclass(order=True)`` does."""

    def make(cls: type[T]) -> type[T]:
        names, fields = [], []
        own = cls.__dict__.get("__annotations__", {})  # noqa: RUF063 - inspect costs an import
        for name, annotation in own.items():
            if _is_classvar(annotation):
                continue
            f = cls.__dict__.get(name, MISSING)
            if not isinstance(f, _Field):  # a plain default (or none)
                f = _Field(f, None, True, True)
            elif f.default is MISSING:  # as dataclass: the class keeps a field's default
                delattr(cls, name)  # (or none), not the field() object
            else:
                setattr(cls, name, f.default)
            names.append(name)
            fields.append(f)
        methods: dict[str, Any] = {
            "__record__": _Spec(tuple(names), tuple(fields)),
            "__dataclass_fields__": _LazyFields(),
            "__match_args__": tuple(names),
            "__init__": _init, "__repr__": _repr, "__eq__": _eq, "__hash__": _hash,
            "__setattr__": _frozen_setattr, "__delattr__": _frozen_delattr,
        }
        if order:
            methods |= _ORDER
        for name, method in methods.items():
            setattr(cls, name, method)
        return cls

    return make if cls is None else make(cls)


def replace(obj: T, /, **changes: Any) -> T:
    """A copy of the record ``obj`` with ``changes``, as ``dataclasses.replace`` makes it
    (without importing ``dataclasses``)."""
    spec: _Spec = obj.__record__  # type: ignore[attr-defined]
    unknown = set(changes) - set(spec.names)
    if unknown:
        raise TypeError(f"{type(obj).__name__} has no field {sorted(unknown)[0]!r}")
    values = obj.__dict__
    return type(obj)(**{n: changes[n] if n in changes else values[n] for n in spec.names})

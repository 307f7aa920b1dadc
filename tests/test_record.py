"""``core/record.py``: a frozen record behaves as the ``@dataclass(frozen=True)`` it
replaces, field for field."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from collections.abc import Mapping

import pytest

from mlstack_env.core.record import FrozenInstanceError, field, record, replace


@record(order=True)
class Wheel:
    url: str
    sha256: str
    size: int | None = None


@record
class Entry:
    name: str
    wheels: tuple[Wheel, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    why: str = field(default="", compare=False)


@dataclasses.dataclass(frozen=True)
class DataclassEntry:
    name: str
    wheels: tuple[Wheel, ...]
    env: Mapping[str, str] = dataclasses.field(default_factory=dict)
    why: str = dataclasses.field(default="", compare=False)


W = Wheel("https://x/a.whl", "a" * 64)


def test_constructed_like_a_dataclass() -> None:
    e = Entry("n", (W,), why="because")
    twin = DataclassEntry("n", (W,), why="because")
    assert (e.name, e.wheels, e.env, e.why) == (twin.name, twin.wheels, twin.env, twin.why)
    assert Entry(name="n", wheels=()) == Entry("n", ())
    assert Entry("n", ()).env is not Entry("n", ()).env  # a factory call per instance
    assert repr(e) == repr(twin).replace("DataclassEntry", "Entry")
    assert Entry.__match_args__ == DataclassEntry.__match_args__


def test_equality_hash_and_order_over_the_compared_fields() -> None:
    assert Entry("n", (W,), why="a") == Entry("n", (W,), why="b")  # compare=False
    assert Entry("n", (W,)) != Entry("m", (W,))
    assert Entry("n", (W,)) != DataclassEntry("n", (W,))  # type: ignore[comparison-overlap]
    assert hash(W) == hash(Wheel("https://x/a.whl", "a" * 64))
    assert {W, Wheel("https://x/a.whl", "a" * 64)} == {W}
    assert sorted([Wheel("b", "1"), Wheel("a", "2"), Wheel("a", "1")]) == \
        [Wheel("a", "1"), Wheel("a", "2"), Wheel("b", "1")]
    with pytest.raises(TypeError):
        _ = Entry("n", ()) < Entry("m", ())  # type: ignore[operator]  # no order=True


def test_frozen() -> None:
    with pytest.raises(FrozenInstanceError):
        W.url = "other"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del W.sha256


@pytest.mark.parametrize(("args", "kwargs", "message"), [
    (("n",), {}, "missing argument 'wheels'"),
    (("n", (), {}, "", 1), {}, "takes 4 arguments, 5 were given"),
    (("n", ()), {"name": "m"}, "multiple values for argument 'name'"),
    (("n", ()), {"colour": "red"}, "unexpected argument 'colour'"),
])
def test_wrong_arguments(args: tuple[object, ...], kwargs: dict[str, object],
                         message: str) -> None:
    with pytest.raises(TypeError, match=message):
        Entry(*args, **kwargs)  # type: ignore[arg-type]


def test_dataclasses_functions_work_on_it() -> None:
    e = Entry("n", (W,), {"A": "1"})
    changed = dataclasses.replace(e, name="m")
    assert changed == Entry("m", (W,), {"A": "1"}) and type(changed) is Entry
    assert [f.name for f in dataclasses.fields(Entry)] == ["name", "wheels", "env", "why"]
    assert dataclasses.asdict(e) == dataclasses.asdict(DataclassEntry("n", (W,), {"A": "1"}))
    assert dataclasses.is_dataclass(e)
    assert copy.deepcopy(e) == e and pickle.loads(pickle.dumps(e)) == e  # noqa: S301


def test_its_own_replace_is_dataclasses_replace() -> None:
    e = Entry("n", (W,), {"A": "1"}, why="x")
    assert replace(e, name="m", why="y") == dataclasses.replace(e, name="m", why="y")
    assert replace(e, why="y").why == "y" and replace(e) == e
    with pytest.raises(TypeError, match="no field 'colour'"):
        replace(e, colour="red")


"""The batch passes (rt_widgets/_batch.py) against a plain element-by-element statement of their
contracts: same results on the same inputs, including every input that must be refused (None), and
the input's own objects in the results (nothing copied)."""

from __future__ import annotations

import math
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from rt_widgets import _batch

# --- the contracts, one element at a time ------------------------------------------------------


def reference_group_by_type(data: list[Any]) -> _batch.Grouped | None:
    first: dict[Any, Any] = {}  # each type as it first appeared (equal values are one type)
    for obj in data:
        # A decoded frame's elements: only a dict (or a caller's dict subclass) takes a str index.
        if not isinstance(obj, dict) or "type" not in obj:
            return None
        try:
            first.setdefault(obj["type"], obj["type"])
        except TypeError:  # an unhashable type
            return None
    if not all(type(kind) is str for kind in first.values()):
        return None
    distinct: list[str] = []
    groups: dict[str, list[dict[str, Any]]] = {}
    for obj in data:
        if obj["type"] not in groups:
            distinct.append(obj["type"])
            groups[obj["type"]] = []
        groups[obj["type"]].append(obj)
    return (distinct, [groups[kind] for kind in distinct],
            [[obj.get("payload") for obj in groups[kind]] for kind in distinct])


def reference_coalesce_rows(rows: list[Any], key: str | tuple[str, ...], fields: set[str]
                            ) -> tuple[dict[Any, Any], bool] | None:
    last: dict[Any, Any] = {}
    names = (key,) if isinstance(key, str) else key
    for row in rows:
        if type(row) is not dict or not all(name in row for name in names):
            return None
        if not all(name in fields for name in row):
            return None
        # No bool key (it would equal 1 in Python); a tuple key of plain JSON scalars only.
        if isinstance(key, str) and type(row[key]) is bool:
            return None
        if not isinstance(key, str) and not all(
                type(row[name]) in (str, int, float, type(None)) for name in names):
            return None
        value = row[key] if isinstance(key, str) else tuple(row[name] for name in names)
        try:
            last[value] = row
        except TypeError:  # an unhashable key
            return None
    return last, all(len(row) == len(fields) for row in last.values())


def reference_metric_columns(payloads: list[Any], names: tuple[str, ...]) -> list[list[Any]] | None:
    if not names or not all(type(name) is str for name in names):
        return None
    for payload in payloads:
        if type(payload) is not dict or len(payload) != len(names):
            return None
        for name in names:
            if name not in payload:
                return None
            value = payload[name]
            if type(value) not in (int, float) or (type(value) is float and not math.isfinite(value)):
                return None
    return [[payload[name] for payload in payloads] for name in names]


# --- inputs ------------------------------------------------------------------------------------

# Values a decoded frame (or a caller's own objects) can hold where a type, key or number is expected.
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["a", "b", "pong", "mission_update", "é", "ü" * 3, "\U0001f600"]),
)
VALUES = st.one_of(SCALARS, st.lists(st.integers(), max_size=2))


class StrSubclass(str):
    pass


class DictSubclass(dict[str, Any]):
    pass


class IntSubclass(int):
    pass


class FloatSubclass(float):
    pass


def fresh(value: Any) -> Any:
    """The same value as new objects, as a JSON decoder gives them (no shared str objects)."""
    try:
        return orjson.loads(orjson.dumps(value))
    except (TypeError, orjson.JSONEncodeError):
        return value


def same_objects(a: Any, b: Any) -> bool:
    """Equal structure whose leaves (the input's own objects) are the same objects."""
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(same_objects, a, b))
    return a is b


envelopes = st.lists(
    st.one_of(
        st.fixed_dictionaries(
            {"type": st.one_of(st.sampled_from(["a", "b", "c", "pong"]), VALUES)},
            optional={"payload": VALUES, "seq": st.integers(0, 9)},
        ),
        st.dictionaries(st.sampled_from(["payload", "seq"]), VALUES, max_size=2),
        VALUES,
    ),
    max_size=30,
)


@settings(max_examples=400, deadline=None)
@given(envelopes, st.booleans())
def test_group_by_type_matches_its_contract(data: list[Any], decode: bool) -> None:
    if decode:
        data = fresh(data)
    expected = reference_group_by_type(data)
    got = _batch.group_by_type(data)
    if expected is None:
        assert got is None
        return
    assert got is not None
    assert got[0] == expected[0]
    assert same_objects(got[1], expected[1])
    assert same_objects(got[2], expected[2])
    # payload=True: the same, or None when an element has no payload key (it is no envelope).
    strict = _batch.group_by_type(data, payload=True)
    if all("payload" in obj for obj in data):
        assert strict == got
    else:
        assert strict is None


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([f"t{i}" for i in range(12)]), max_size=60))
def test_group_by_type_keeps_first_appearance_order_with_many_types(kinds: list[str]) -> None:
    data = fresh([{"type": kind, "payload": i} for i, kind in enumerate(kinds)])
    assert _batch.group_by_type(data) == reference_group_by_type(data)


def test_group_by_type_examples() -> None:
    data = orjson.loads(b'[{"type":"b","payload":1},{"type":"a"},{"type":"b","payload":{"x":2}}]')
    assert _batch.group_by_type(data) == (
        ["b", "a"], [[data[0], data[2]], [data[1]]], [[1, {"x": 2}], [None]])
    assert _batch.group_by_type([]) == ([], [], [])
    one = [{"type": "a", "payload": 1}, {"type": "a"}]
    grouped = _batch.group_by_type(one)
    assert grouped == (["a"], [one], [[1, None]]) and grouped[1][0] is not one  # a list of its own
    assert _batch.group_by_type(one, payload=True) is None
    assert _batch.group_by_type(data, payload=True) is None  # {"type": "a"} has none
    for bad in ([{"type": 1}], [{"payload": 1}], [["type"]], [{"type": "a"}, "x"], [{"type": ["a"]}],
                [{"type": StrSubclass("a")}, {"type": "a"}], ["type"]):
        assert _batch.group_by_type(bad) is None, bad
        assert reference_group_by_type(bad) is None, bad
    # Three types whose first, middle and last elements show one: the first split off by its
    # mask, the rest through the dict of lists, in order of first appearance.
    three = orjson.loads(b'[{"type":"a","payload":0},{"type":"c","payload":1},{"type":"b","payload":2},'
                         b'{"type":"a","payload":3},{"type":"c","payload":4},{"type":"a","payload":5}]')
    assert _batch.group_by_type(three) == reference_group_by_type(three) == (
        ["a", "c", "b"], [[three[0], three[3], three[5]], [three[1], three[4]], [three[2]]],
        [[0, 3, 5], [1, 4], [2]])
    assert _batch.group_by_type([*three[:5], {"type": ["x"], "payload": 6}]) is None
    # A value equal to a type seen first is that type (the handlers are looked up by equality).
    same = [{"type": "a", "payload": 1}, {"type": StrSubclass("a"), "payload": 2}]
    assert _batch.group_by_type(same) == reference_group_by_type(same) == (["a"], [same], [[1, 2]])


FIELDS = ["id", "status", "progress", "x", "é"]
rows_strategy = st.lists(
    st.one_of(
        st.dictionaries(st.sampled_from(FIELDS), VALUES, max_size=5),
        st.dictionaries(st.sampled_from(FIELDS), st.integers(0, 3), max_size=5),
        st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.integers(0, 2)), st.integers(), max_size=3),
        VALUES,
    ),
    max_size=25,
)


@settings(max_examples=400, deadline=None)
@given(rows_strategy, st.sets(st.one_of(st.sampled_from(FIELDS), st.integers(0, 2))), st.booleans())
def test_coalesce_rows_matches_its_contract(rows: list[Any], fields: set[Any], decode: bool) -> None:
    if decode:
        rows = fresh(rows)
    fields.update(("id", "x"))
    for key in ("id", ("id", "x")):
        expected = reference_coalesce_rows(rows, key, fields)
        got = _batch.coalesce_rows(rows, key, fields)
        if expected is None:
            assert got is None
            continue
        assert got is not None
        assert got[1] is expected[1]
        assert list(got[0]) == list(expected[0])  # keys in order of first appearance
        assert all(a is b for a, b in zip(got[0].values(), expected[0].values(), strict=True))


def test_coalesce_rows_examples() -> None:
    full = {"id", "x"}
    rows = [{"id": 2, "x": 1}, {"id": 1, "x": 1}, {"id": 2, "x": 3}]
    last, whole = _batch.coalesce_rows(rows, "id", full) or ({}, False)
    assert list(last.items()) == [(2, {"id": 2, "x": 3}), (1, {"id": 1, "x": 1})] and whole
    assert last[2] is rows[2]
    assert _batch.coalesce_rows([{"id": 1}], "id", full) == ({1: {"id": 1}}, False)
    assert _batch.coalesce_rows([], "id", full) == ({}, True)
    # A field is known when the table's fields hold an equal one, whatever its type (as row by row).
    fields: set[Any] = {"id", 5, StrSubclass("x")}
    row = {"id": 1, 5: 1, "x": 2}
    assert _batch.coalesce_rows([row], "id", fields) == ({1: row}, True)
    assert _batch.coalesce_rows([{"id": 1}], "id", fields) == ({1: {"id": 1}}, False)
    # Keys are JSON values: true is not 1, so a batch with a bool key goes row by row.
    assert _batch.coalesce_rows([{"id": 1, "x": 1}, {"id": 1.0, "x": 2}], "id", full) == (
        {1: {"id": 1.0, "x": 2}}, True)
    pair = [{"id": "a", "x": 1}, {"id": "a", "x": 2}, {"id": "b", "x": 1}]
    assert _batch.coalesce_rows(pair, ("id", "x"), full) == (
        {("a", 1): pair[0], ("a", 2): pair[1], ("b", 1): pair[2]}, True)
    for bad in ([{"x": 1}], [{"id": [1]}], [{"id": 1, "y": 1}], [{"id": 1, 5: 1}], [[("id", 1)]],
                [DictSubclass(id=1)], ["id"], [{"id": 1}, None], [{"id": True}],
                [{"id": 1}, {"id": True}, {"id": 1}], [{"id": False}, {"id": 0.0}]):
        assert _batch.coalesce_rows(bad, "id", full) is None, bad
        assert reference_coalesce_rows(bad, "id", full) is None, bad


NAMES = ["cpu", "mem", "io"]
NUMBERS = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.sampled_from([1e308, -1e308, float("nan"), float("inf"), True, None, "1"]),
)
payloads_strategy = st.lists(
    st.one_of(
        st.fixed_dictionaries({n: NUMBERS for n in NAMES[:2]}),
        st.dictionaries(st.sampled_from(NAMES), NUMBERS, max_size=3),
        st.just([1.0]),
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=400, deadline=None)
@given(payloads_strategy, st.booleans(), st.randoms(use_true_random=False))
def test_metric_columns_matches_its_contract(payloads: list[Any], decode: bool, rng: Any) -> None:
    if decode:
        payloads = fresh(payloads)
    first = payloads[0]
    names = tuple(first) if isinstance(first, dict) else ("cpu",)
    # Some payloads with the same series in another order (built anew, as a decoder would).
    payloads = [
        dict(rng.sample(list(p.items()), len(p))) if isinstance(p, dict) and rng.random() < 0.3 else p
        for p in payloads
    ]
    expected = reference_metric_columns(payloads, names)
    got = _batch.metric_columns(payloads, names)
    if expected is None:
        assert got is None
        return
    assert got is not None
    assert same_objects(got, expected)


def test_metric_columns_examples() -> None:
    payloads = [{"cpu": 1, "mem": 2.5}, {"mem": 4.0, "cpu": 3}, {"cpu": 10**40, "mem": 1e308}]
    assert _batch.metric_columns(payloads, ("cpu", "mem")) == [[1, 3, 10**40], [2.5, 4.0, 1e308]]
    # Large finite values whose sum overflows are still finite values; so are huge integers.
    assert _batch.metric_columns([{"v": 1e308}, {"v": 1e308}], ("v",)) == [[1e308, 1e308]]
    assert _batch.metric_columns([{"v": 10**400}, {"v": 1.5}], ("v",)) == [[10**400, 1.5]]
    assert _batch.metric_columns([], ("cpu", "mem")) == [[], []]
    for bad in ([{"cpu": 1, "mem": float("nan")}], [{"cpu": 1, "mem": True}], [{"cpu": 1}],
                [{"cpu": 1, "mem": 2, "io": 3}], [{"cpu": 1, "io": 3}], [[1, 2]],
                [{"cpu": 1, "mem": None}], [{"cpu": "1", "mem": 2}], [{"cpu": 10**400, "mem": -math.inf}],
                [DictSubclass(cpu=1, mem=2)], [{"cpu": 1, "mem": 2}, (1, 2)],
                [{"cpu": FloatSubclass(1.0), "mem": 2}], [{"cpu": 1, "mem": IntSubclass(2)}]):
        assert _batch.metric_columns(bad, ("cpu", "mem")) is None, bad
        assert reference_metric_columns(bad, ("cpu", "mem")) is None, bad
    assert _batch.metric_columns([{"cpu": 1}], ()) is None
    assert _batch.metric_columns([{1: 1}], (1,)) is None  # type: ignore[arg-type]

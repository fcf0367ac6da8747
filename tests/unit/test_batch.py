"""The C speedups against their pure-Python twins (rt_widgets/_batch.py): same results on the same
inputs, including every input that must be refused (None), and no references leaked."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rt_widgets import _batch
from tests.conftest import speedups

C: Any = speedups()

# Values a decoded frame (or a caller's own objects) can hold where a type, key or number is expected.
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["a", "b", "pong", "mission_update", "é", "ü" * 3, "\U0001f600"]),
)
VALUES = st.one_of(SCALARS, st.lists(st.integers(), max_size=2))


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
    if isinstance(a, tuple) and isinstance(b, tuple):
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
def test_group_by_type_matches_python(data: list[Any], decode: bool) -> None:
    if decode:
        data = fresh(data)
    expected = _batch.py_group_by_type(data)
    got = C.group_by_type(data)
    if expected is None:
        assert got is None
        return
    assert got is not None
    assert got[0] == expected[0]
    assert same_objects(got[1], expected[1])
    assert same_objects(got[2], expected[2])


def test_group_by_type_examples() -> None:
    data = orjson.loads(b'[{"type":"b","payload":1},{"type":"a"},{"type":"b","payload":{"x":2}}]')
    assert C.group_by_type(data) == (["b", "a"], [[data[0], data[2]], [data[1]]], [[1, {"x": 2}], [None]])
    assert C.group_by_type([]) == ([], [], [])
    for bad in ([{"type": 1}], [{"payload": 1}], [["type"]], [{"type": "a"}, "x"]):
        assert C.group_by_type(bad) is None
        assert _batch.py_group_by_type(bad) is None
    with pytest.raises(TypeError, match="expects a list"):
        C.group_by_type(({"type": "a"},))


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
@given(rows_strategy, st.sets(st.sampled_from(FIELDS)), st.booleans())
def test_coalesce_rows_matches_python(rows: list[Any], fields: set[str], decode: bool) -> None:
    if decode:
        rows = fresh(rows)
    fields.add("id")
    expected = _batch.py_coalesce_rows(rows, "id", fields)
    got = C.coalesce_rows(rows, "id", fields)
    if expected is None:
        assert got is None
        return
    assert got is not None
    assert got[1] is expected[1]
    assert list(got[0]) == list(expected[0])  # keys in order of first appearance
    assert all(a is b for a, b in zip(got[0].values(), expected[0].values(), strict=True))


def test_coalesce_rows_examples() -> None:
    full = {"id", "x"}
    rows = [{"id": 2, "x": 1}, {"id": 1, "x": 1}, {"id": 2, "x": 3}]
    last, whole = C.coalesce_rows(rows, "id", full)
    assert list(last.items()) == [(2, {"id": 2, "x": 3}), (1, {"id": 1, "x": 1})] and whole
    assert last[2] is rows[2]
    assert C.coalesce_rows([{"id": 1}], "id", full) == ({1: {"id": 1}}, False)
    for bad in ([{"x": 1}], [{"id": [1]}], [{"id": 1, "y": 1}], [{"id": 1, 5: 1}], [[("id", 1)]]):
        assert C.coalesce_rows(bad, "id", full) is None
        assert _batch.py_coalesce_rows(bad, "id", full) is None
    with pytest.raises(TypeError, match="expects"):
        C.coalesce_rows(rows, "id", list(full))


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
def test_metric_columns_matches_python(payloads: list[Any], decode: bool, rng: Any) -> None:
    if decode:
        payloads = fresh(payloads)
    first = payloads[0]
    names = tuple(first) if isinstance(first, dict) else ("cpu",)
    # Some payloads with the same series in another order (built anew, as a decoder would).
    payloads = [
        dict(rng.sample(list(p.items()), len(p))) if isinstance(p, dict) and rng.random() < 0.3 else p
        for p in payloads
    ]
    expected = _batch.py_metric_columns(payloads, names)
    got = C.metric_columns(payloads, names)
    if expected is None:
        assert got is None
        return
    assert got is not None
    assert same_objects(got, expected)


def test_metric_columns_examples() -> None:
    payloads = [{"cpu": 1, "mem": 2.5}, {"mem": 4.0, "cpu": 3}, {"cpu": 10**40, "mem": 1e308}]
    assert C.metric_columns(payloads, ("cpu", "mem")) == [[1, 3, 10**40], [2.5, 4.0, 1e308]]
    # Large finite values whose sum overflows are still finite values.
    assert _batch.py_metric_columns([{"v": 1e308}, {"v": 1e308}], ("v",)) == [[1e308, 1e308]]
    for bad in ([{"cpu": 1, "mem": float("nan")}], [{"cpu": 1, "mem": True}], [{"cpu": 1}],
                [{"cpu": 1, "mem": 2, "io": 3}], [{"cpu": 1, "io": 3}], [[1, 2]]):
        assert C.metric_columns(bad, ("cpu", "mem")) is None
        assert _batch.py_metric_columns(bad, ("cpu", "mem")) is None
    assert C.metric_columns([{"cpu": 1}], ()) is None
    assert C.metric_columns([{1: 1}], (1,)) is None


def test_no_reference_is_leaked() -> None:
    """Every path (grouped, coalesced, columns, and each refusal) leaves the inputs' reference
    counts as they were once the results are dropped."""
    envelope_list = orjson.loads(b'[{"type":"a","payload":{"v":1}},{"type":"b"},{"type":"a","payload":2}]')
    refused_frame = [*envelope_list, {"type": 5}]
    rows = orjson.loads(b'[{"id":1,"x":1.5},{"id":2,"x":2},{"id":1,"x":3}]')
    refused_rows = [*rows, {"id": 3, "y": 1}]
    metrics = orjson.loads(b'[{"cpu":1.5,"mem":2},{"mem":3,"cpu":4.5}]')
    refused_metrics = [*metrics, {"cpu": 1.0, "mem": "x"}]
    watched = [*envelope_list, *(e.get("payload") for e in envelope_list), *rows, *metrics,
               *(v for m in metrics for v in m.values()), *(r["id"] for r in rows)]
    before = [sys.getrefcount(obj) for obj in watched]
    fields = {"id", "x"}
    for _ in range(2000):
        C.group_by_type(envelope_list)
        C.group_by_type(refused_frame)
        C.coalesce_rows(rows, "id", fields)
        C.coalesce_rows(refused_rows, "id", fields)
        C.metric_columns(metrics, ("cpu", "mem"))
        C.metric_columns(refused_metrics, ("cpu", "mem"))
    assert [sys.getrefcount(obj) for obj in watched] == before


@pytest.mark.parametrize(("env", "expected"), [("", "c"), ("1", "python")])
def test_the_implementation_in_use_and_the_switch_to_pure_python(env: str, expected: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", "from rt_widgets import _batch; print(_batch.IMPLEMENTATION)"],
        env={**os.environ, "RT_WIDGETS_PURE_PYTHON": env},
        capture_output=True, text=True, check=True, timeout=60,
    )
    assert result.stdout.strip() == expected

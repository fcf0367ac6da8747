"""GroupSummary: live group-by aggregates on plain values, checked against a pandas groupby of the
rows held after many random upserts, deletes, evictions and clears."""

from __future__ import annotations

import math
import random
from typing import Any

import pandas
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal

from rt_widgets.stores import TableStore, number_of
from rt_widgets.summary import AGGREGATES, MAX_COLUMNS, GroupSummary, summary_frame


def as_number(value: Any) -> Any:
    """The reference for what counts as a number: ints, finite floats, numeric strings."""
    if isinstance(value, bool):
        return math.nan
    if isinstance(value, int | float):
        return value if math.isfinite(value) else math.nan
    if isinstance(value, str):
        number = number_of(value)
        return math.nan if number is None else number
    return math.nan


def expected(rows: list[dict[str, Any]], by: str, columns: list[str],
             aggregates: tuple[str, ...] = AGGREGATES) -> pandas.DataFrame:
    """What the summary must equal: pandas' groupby of the rows, numbers as ``as_number`` has them."""
    frame = pandas.DataFrame(rows, columns=list(dict.fromkeys([by, *columns, *(
        c for r in rows for c in r)])))
    for column in columns:
        frame[column] = pandas.to_numeric(frame[column].map(as_number), errors="coerce")
    spec: dict[str, tuple[str, str]] = {}
    if "count" in aggregates:
        spec["count"] = (by, "size")
    for column in columns:
        for aggregate in aggregates:
            if aggregate != "count":
                spec[f"{column}_{aggregate}"] = (column, aggregate)
    return frame.groupby(by).agg(**spec)  # type: ignore[arg-type]


def check(summary: GroupSummary, rows: list[dict[str, Any]]) -> None:
    got = summary_frame(summary.rows, summary.by, summary.output_columns)
    if len(summary.output_columns) == 1:  # nothing to aggregate yet: the groups alone
        assert sorted(got.index) == sorted({r["g"] for r in rows if r.get("g") is not None})
        return
    want = expected(rows, "g", summary.columns, summary.aggregates)
    assert len(got) == len(want) == len(summary)
    if len(want):
        assert_frame_equal(got, want, check_dtype=False, check_exact=False, rtol=1e-12,
                           check_index_type=False, check_column_type=False)


values = st.one_of(
    st.integers(-1000, 1000),
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
    st.sampled_from(["1.5", "-2", "1e3", "abc", "", True, False, None, [1], {"a": 1}]),
)
groups = st.sampled_from(["a", "b", "c", "d", None])


@st.composite
def row(draw: Any) -> dict[str, Any]:
    r: dict[str, Any] = {}
    if draw(st.integers(0, 9)):  # sometimes no group field at all
        r["g"] = draw(groups)
    for name in ("x", "y", "z"):
        if draw(st.booleans()):
            r[name] = draw(values)
    return r


ops = st.lists(st.tuples(
    st.sampled_from(["upsert"] * 6 + ["delete"] * 3 + ["sync", "clear"]), st.integers(0, 20), row(),
), max_size=150)


@settings(max_examples=120, deadline=None)
@given(ops, st.sampled_from([AGGREGATES, ("count", "min", "max"), ("last", "sum")]))
def test_plain_upserts_and_deletes_equal_a_pandas_groupby(
        operations: list[tuple[str, Any, Any]], aggregates: tuple[str, ...]) -> None:
    summary = GroupSummary("g", aggregates)
    held: dict[int, dict[str, Any]] = {}  # in insertion order, as a table holds its rows
    for op, key, r in operations:
        if op == "upsert":
            summary.upsert(key, r)
            held[key] = r
        elif op == "delete":
            assert summary.remove(key) == (held.pop(key, None) is not None)
        elif op == "clear":
            summary.clear()
            held.clear()
        else:
            check(summary, list(held.values()))
    check(summary, list(held.values()))
    assert summary.ungrouped == sum(1 for r in held.values() if r.get("g") is None)
    columns = summary.columns
    assert summary.skipped == sum(
        1 for r in held.values() if r.get("g") is not None for c in columns
        if r.get(c) is not None and math.isnan(as_number(r[c])))


@settings(max_examples=120, deadline=None)
@given(st.lists(st.one_of(
    st.tuples(st.just("apply"), st.lists(st.tuples(st.integers(0, 30), row()), max_size=8)),
    st.tuples(st.just("queue"), st.lists(st.tuples(st.integers(0, 30), row()), max_size=8)),
    st.tuples(st.just("delete"), st.lists(st.tuples(st.integers(0, 30), st.none()), max_size=3)),
    st.tuples(st.just("sync"), st.just([])),
    st.tuples(st.just("partial"), st.lists(st.tuples(st.integers(0, 30), row()), max_size=4)),
), max_size=60), st.integers(3, 12))
def test_a_followed_table_equals_a_pandas_groupby_of_its_rows(
        operations: list[tuple[str, list[tuple[int, Any]]]], max_rows: int) -> None:
    table = TableStore(key="id", max_rows=max_rows)
    table.apply({"id": 99, "g": "a", "x": 5})  # held before the summary follows
    summary = GroupSummary("g")
    summary.follow(table)
    for op, items in operations:
        batch = [{"id": k, **(r or {})} for k, r in items]
        if op == "apply":
            table.apply(batch)
        elif op == "queue":  # the fast paths: whole rows stored as they are, coalesced batches
            table.queue_many(batch)
        elif op == "partial":
            table.apply_action(batch, "partial")
        elif op == "delete":
            for k, _ in items:
                table.delete(k)
        else:
            check(summary, table.rows)
    check(summary, table.rows)  # rows merged by upsert, evicted past max_rows: as the table has them
    assert "id" not in summary.columns  # the table's key is no numeric column


def test_group_values_are_told_apart_as_json_values() -> None:
    summary = GroupSummary("g", ("count", "sum"))
    for k, g in enumerate([1, "1", True, 1.0, False, 0, None, [1], {"a": 1}]):
        summary.upsert(k, {"g": g, "x": 1})
    rows = summary.rows
    assert [(r["g"], r["count"]) for r in rows] == [(1, 2), ("1", 1), (True, 1), (False, 1), (0, 1)]
    assert [type(r["g"]) for r in rows] == [int, str, bool, bool, int]
    assert summary.ungrouped == 3  # null, an array, an object
    summary.remove(2)
    assert [r["g"] for r in summary.rows] == [1, "1", False, 0]


def test_a_row_that_moves_to_another_group_leaves_the_old_one() -> None:
    summary = GroupSummary("g")
    summary.upsert("r", {"g": "a", "x": 1})
    summary.upsert("s", {"g": "a", "x": 5})
    summary.upsert("r", {"g": "b", "x": 2})
    by_group = {r["g"]: r for r in summary.rows}
    assert by_group["a"]["count"] == 1 and by_group["a"]["x_sum"] == 5 and by_group["a"]["x_min"] == 5
    assert by_group["b"] == {"g": "b", "count": 1, "x_sum": 2, "x_mean": 2.0, "x_min": 2,
                             "x_max": 2, "x_last": 2}
    summary.upsert("s", {"g": "b", "x": 5})
    assert [r["g"] for r in summary.rows] == ["b"]  # group a emptied: gone


def test_min_and_max_follow_removals_of_the_extremes() -> None:
    summary = GroupSummary("g", ("min", "max", "last"))
    rng = random.Random(7)
    held: dict[int, float] = {}
    for step in range(5000):
        k = rng.randrange(200)
        if rng.random() < 0.4 and held:
            k = min(held, key=held.__getitem__) if rng.random() < 0.5 else max(
                held, key=held.__getitem__)
            summary.remove(k)
            del held[k]
        else:
            held[k] = rng.uniform(-100, 100)
            summary.upsert(k, {"g": "a", "x": held[k]})
        if step % 97 == 0 and held:
            (row,) = summary.rows
            assert row["x_min"] == min(held.values()) and row["x_max"] == max(held.values())
            assert row["x_last"] == list(held.values())[-1]
    group = summary._groups["a"]
    # Stale heap entries stay bounded by the live ones.
    assert group.lo is not None and len(group.lo[0]) <= 2 * len(held) + 17


def test_sums_are_exact_whatever_came_and_went() -> None:
    summary = GroupSummary("g", ("sum", "mean"))
    summary.upsert(1, {"g": "a", "x": 1e16})
    summary.upsert(2, {"g": "a", "x": 1.0})
    summary.upsert(3, {"g": "a", "x": -1e16})
    summary.remove(1)
    summary.remove(3)
    assert summary.rows == [{"g": "a", "x_sum": 1.0, "x_mean": 1.0}]  # a float sum says 0.0
    for k in range(10, 20):
        summary.upsert(k, {"g": "a", "x": 0.1})
    assert summary.rows[0]["x_sum"] == math.fsum([1.0] + [0.1] * 10)
    assert summary.rows[0]["x_mean"] == math.fsum([1.0] + [0.1] * 10) / 11
    ints = GroupSummary("g", ("sum",))
    ints.upsert(1, {"g": "a", "x": 2 ** 70})
    ints.upsert(2, {"g": "a", "x": 1})
    assert ints.rows[0]["x_sum"] == 2 ** 70 + 1 and type(ints.rows[0]["x_sum"]) is int


def test_groups_past_max_groups_are_counted_not_kept() -> None:
    summary = GroupSummary("g", ("count",), max_groups=3)
    for k in range(10):
        summary.upsert(k, {"g": f"g{k % 5}"})
    assert [r["g"] for r in summary.rows] == ["g0", "g1", "g2"]
    assert summary.rows_dropped == 4 and summary.groups_dropped == 2
    for k in (0, 5):  # group g0 is gone: room for the next row of another group
        summary.remove(k)
    assert summary.rows_dropped == 4  # rows left out stay out until they change
    summary.upsert(3, {"g": "g3"})
    assert [r["g"] for r in summary.rows] == ["g1", "g2", "g3"]
    assert summary.rows_dropped == 3 and summary.groups_dropped == 2
    assert len(summary.table) == 3


def test_numeric_columns_are_found_bounded_and_non_numbers_counted() -> None:
    summary = GroupSummary("g", ("sum",))
    summary.upsert(0, {"g": "a", "name": "alpha", "flag": True, "x": "2.5"})
    assert summary.columns == ["x"] and summary.skipped == 0
    summary.upsert(1, {"g": "a", "name": "7", "x": "n/a"})  # "name" holds a number now
    assert summary.columns == ["x", "name"]
    assert summary.skipped == 2  # "alpha" in row 0, "n/a" in row 1
    assert summary.rows == [{"g": "a", "x_sum": 2.5, "name_sum": 7.0}]
    wide = GroupSummary("g", ("sum",))
    wide.upsert(0, {"g": "a", **{f"c{i}": i for i in range(MAX_COLUMNS + 20)}})
    assert len(wide.columns) == MAX_COLUMNS and wide.columns_dropped == 20
    assert len(wide.output_columns) == 1 + MAX_COLUMNS


def test_explicit_columns_and_a_tuple_of_group_fields() -> None:
    summary = GroupSummary(("sym", "side"), ("count", "mean"), columns=["px"])
    summary.upsert(0, {"sym": "X", "side": "buy", "px": 1, "qty": 5})
    summary.upsert(1, {"sym": "X", "side": "buy", "px": 3})
    summary.upsert(2, {"sym": "X", "side": "sell", "px": 2})
    summary.upsert(3, {"sym": "X", "px": 2})  # no side: ungrouped
    assert summary.rows == [{"sym": "X", "side": "buy", "count": 2, "px_mean": 2.0},
                            {"sym": "X", "side": "sell", "count": 1, "px_mean": 2.0}]
    assert summary.ungrouped == 1
    frame = summary_frame(summary.rows, summary.by, summary.output_columns)
    assert list(frame.index.names) == ["sym", "side"] and frame.loc[("X", "buy"), "count"] == 2


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"by": ""}, "by must be a field name"),
    ({"by": ("a", "a")}, "by must be a field name"),
    ({"by": "g", "aggregates": ("median",)}, "aggregates must name some of count, sum"),
    ({"by": "g", "aggregates": ()}, "aggregates must name"),
    ({"by": "g", "columns": "x"}, "not a single string"),
    ({"by": "g", "columns": ["g"]}, "cannot be aggregated"),
    ({"by": "count"}, "leave 'count' out"),
    ({"by": "g", "max_groups": 0}, "max_groups must be a positive integer"),
])
def test_bad_arguments_say_what_to_do(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        GroupSummary(**kwargs)


def test_the_summary_rows_deltas_rebuild_the_same_rows() -> None:
    """A view that holds the first snapshot and applies every delta holds the summary rows."""
    table = TableStore(key="id", max_rows=50)
    summary = GroupSummary("g")
    summary.follow(table)
    summary.sync()
    view = {tuple([r["g"]]): r for r in summary.table.snapshot()["rows"]}
    rng = random.Random(3)
    for _ in range(300):
        for _ in range(rng.randrange(20)):
            k = rng.randrange(80)
            if rng.random() < 0.2:
                table.delete(k)
            else:
                table.queue({"id": k, "g": rng.choice("abcde"), "x": rng.randrange(100)})
        summary.sync()
        delta = summary.table.drain()
        if delta is None:
            continue
        for key in delta.get("delete", []):
            view.pop((key,), None)
        for update in delta.get("upsert", []):
            view[(update["g"],)] = {**view.get((update["g"],), {}), **update}
    assert sorted(view.values(), key=lambda r: r["g"]) == sorted(summary.rows, key=lambda r: r["g"])
    check(summary, table.rows)


def test_a_table_that_changes_many_keys_between_syncs_is_read_whole() -> None:
    table = TableStore(key="id", max_rows=100)
    summary = GroupSummary("g", ("count", "sum"))
    summary.follow(table)
    for k in range(5000):  # 5,000 keys through a 100-row table: more than the pending bound
        table.queue({"id": k, "g": k % 7, "x": k})
    assert len(summary._pending) <= table.max_rows + 1025
    check(summary, table.rows)


def test_follow_twice_is_refused_and_unfollow_stops_updates() -> None:
    table = TableStore(key="id")
    summary = GroupSummary("g", ("count",))
    stop = summary.follow(table)
    with pytest.raises(ValueError, match="follows a table already"):
        summary.follow(TableStore(key="id"))
    table.apply({"id": 1, "g": "a"})
    assert summary.rows == [{"g": "a", "count": 1}]
    stop()
    table.apply({"id": 2, "g": "a"})
    assert summary.rows == [{"g": "a", "count": 1}]

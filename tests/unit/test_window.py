"""rt_widgets.window: the view's order made in the kernel, and one view's window diffs."""

from __future__ import annotations

from typing import Any

import pytest

from rt_widgets.stores import TableStore
from rt_widgets.window import (
    MAX_WINDOW_ROWS,
    Window,
    WindowSpec,
    cell_text,
    order_keys,
    parse_window_spec,
)


def spec(start: int = 0, count: int = 10, sort: str | None = None, desc: bool = False,
         filter: str = "", view: str = "v") -> WindowSpec:
    return WindowSpec(view, start, count, sort, desc, filter)


def keyed(*rows: dict[str, Any]) -> dict[Any, dict[str, Any]]:
    return {r["id"]: r for r in rows}


def test_sort_puts_numbers_first_then_natural_text_and_missing_last_both_ways() -> None:
    rows = keyed({"id": 1, "x": "b10"}, {"id": 2, "x": 3}, {"id": 3}, {"id": 4, "x": "B2"},
                 {"id": 5, "x": "2.5"}, {"id": 6, "x": None}, {"id": 7, "x": -1})
    assert order_keys(rows, spec(sort="x"), ["id", "x"]) == [7, 5, 2, 4, 1, 3, 6]
    assert order_keys(rows, spec(sort="x", desc=True), ["id", "x"]) == [1, 4, 2, 5, 7, 3, 6]


def test_ties_keep_table_order_in_both_directions() -> None:
    rows = keyed({"id": "a", "x": 1}, {"id": "b", "x": 1}, {"id": "c", "x": 0})
    assert order_keys(rows, spec(sort="x"), ["x"]) == ["c", "a", "b"]
    assert order_keys(rows, spec(sort="x", desc=True), ["x"]) == ["a", "b", "c"]


def test_filter_matches_shown_columns_case_insensitively_and_numbers_as_written_or_grouped() -> None:
    rows = keyed({"id": "a", "name": "Alpha", "px": 1234.5}, {"id": "b", "name": "beta", "px": 7},
                 {"id": "c", "name": "gamma", "secret": "alpha"})
    assert order_keys(rows, spec(filter="  ALP "), ["id", "name", "px"]) == ["a"]
    assert order_keys(rows, spec(filter="1234.5"), ["name", "px"]) == ["a"]
    assert order_keys(rows, spec(filter="1,234.5"), ["name", "px"]) == ["a"]
    assert order_keys(rows, spec(filter="zzz"), ["name"]) == []


def test_cell_text_follows_the_view() -> None:
    assert [cell_text(v) for v in (None, True, 1234567, 0.1234567, "x", [1, {"a": 2}])] == [
        "", "true", "1,234,567", "0.123", "x", '[1,{"a":2}]']


@pytest.mark.parametrize(("content", "error"), [
    ({"view": "", "start": 0, "count": 1}, "view must be a view id"),
    ({"view": "v", "start": -1, "count": 1}, "start must be an integer >= 0"),
    ({"view": "v", "start": 0, "count": True}, "count must be an integer >= 0"),
    ({"view": "v", "start": 0, "count": 1, "sort": 3}, "sort must be a column name or null"),
    ({"view": "v", "start": 0, "count": 1, "desc": "yes"}, "desc must be true or false"),
    ({"view": "v", "start": 0, "count": 1, "filter": "x" * 201}, "filter must be text"),
])
def test_bad_requests_say_what_is_wrong(content: dict[str, Any], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse_window_spec(content)


def test_a_request_is_cut_to_the_largest_window() -> None:
    got = parse_window_spec({"view": "v", "start": 3, "count": 10**9, "sort": "x", "desc": True,
                             "filter": "f"})
    assert got == WindowSpec("v", 3, MAX_WINDOW_ROWS, "x", True, "f")


def diff(window: Window, store: TableStore, order: list[Any] | None = None
         ) -> dict[str, Any] | None:
    rows = store.row_map()
    return window.diff(rows, list(rows) if order is None else order, key_fields=store.key_fields,
                       columns=store.columns, errors=store.errors, last_error=store.last_error,
                       public=store.public_key, for_view=store.view_row)


def test_a_window_sends_its_rows_whole_then_only_what_changed_in_it() -> None:
    store = TableStore(key="id")
    store.apply([{"id": i, "v": i, "s": "x"} for i in range(100)])
    window = Window(spec(start=10, count=3), until=0)
    first = diff(window, store)
    assert first is not None
    assert first["reset"] and first["order"] == [10, 11, 12]
    assert first["upsert"] == [{"id": i, "v": i, "s": "x"} for i in (10, 11, 12)]
    assert (first["start"], first["total"], first["size"]) == (10, 100, 100)
    assert diff(window, store) is None  # nothing changed
    store.apply([{"id": 11, "v": -1}, {"id": 50, "v": -1}])
    assert diff(window, store) == {"upsert": [{"id": 11, "v": -1}], "view": "v", "start": 10,
                                   "total": 100, "size": 100}
    # A row deleted: the window moves up one, and the row that came in is sent whole.
    store.delete(10)
    got = diff(window, store)
    assert got is not None
    assert got["order"] == [11, 12, 13] and got["upsert"] == [{"id": 13, "v": 13, "s": "x"}]
    assert got["total"] == got["size"] == 99


def test_a_window_near_the_end_keeps_its_size_and_composite_keys_go_as_lists() -> None:
    store = TableStore(key=("sym", "side"))
    store.apply([{"sym": f"S{i}", "side": "buy", "q": i} for i in range(5)])
    window = Window(spec(start=4, count=3), until=0)
    got = diff(window, store)
    assert got is not None
    assert got["start"] == 2 and got["order"] == [["S2", "buy"], ["S3", "buy"], ["S4", "buy"]]


def test_skip_forgets_changes_and_a_later_drain_still_diffs_right() -> None:
    store = TableStore(key="id")
    store.apply([{"id": 1, "a": 1, "b": 1}])
    assert store.drain() is not None
    store.apply([{"id": 1, "a": 2}])
    seq = store.seq
    assert store.skip() and store.seq == seq + 1
    assert store.skip() is False and store.drain() is None
    # The view was sent a snapshot after the skip: it holds a=2. A change back to the first value
    # must reach it.
    store.apply([{"id": 1, "a": 1}])
    delta = store.drain()
    assert delta is not None and delta["upsert"] == [{"id": 1, "a": 1}]


def test_a_windowed_snapshot_holds_the_newest_rows() -> None:
    store = TableStore(key="id")
    store.apply([{"id": i} for i in range(10)])
    snap = store.snapshot(newest=3)
    assert [r["id"] for r in snap["rows"]] == [7, 8, 9] and snap["truncated"] == 7


def test_groups_follow_the_views_rules() -> None:
    from rt_widgets.window import group_rows

    rows = keyed({"id": 1, "team": "a", "px": 1, "note": "x"}, {"id": 2, "team": 1, "px": "2.5"},
                 {"id": 3, "team": "1", "px": 4}, {"id": 4, "team": "a", "px": None},
                 {"id": 5, "px": 7}, {"id": 6, "team": True, "px": 2}, {"id": 7, "team": 1.0})
    cols, groups, dropped = group_rows(rows, list(rows), "team", ["id", "team", "px", "note"])
    # id and px are numeric everywhere they are present; note is not a number: no figures of it.
    assert cols == [("group", "team"), ("count", "count"),
                    *[(f"{a}.0", f"{a}(id)") for a in ("sum", "mean", "min", "max", "last")],
                    *[(f"{a}.1", f"{a}(px)") for a in ("sum", "mean", "min", "max", "last")]]
    assert dropped == 0
    # 1, "1" and true are three groups; 1 and 1.0 one; a missing value groups with null.
    assert [g["group"] for g in groups.values()] == ["a", 1, "1", None, True]
    a = next(iter(groups.values()))
    assert (a["count"], a["sum.1"], a["mean.1"], a["min.1"], a["max.1"], a["last.1"]) == (
        2, 1, 1.0, 1, 1, 1)
    one = list(groups.values())[1]
    assert one["count"] == 2 and one["sum.1"] == 2.5 and one["last.0"] == 7
    # At most max_groups groups; the rows of the others are counted.
    _, few, dropped = group_rows(rows, list(rows), "team", ["px"], max_groups=2)
    assert len(few) == 2 and dropped == 3

"""Bounds of the pure stores under hostile feeds: columns, series, deletions sent to a view."""

from __future__ import annotations

import json
import tracemalloc
from typing import Any

from rt_widgets.explorer import (
    MAX_AUTO_VIEWS,
    MAX_TYPE_NAME,
    MAX_TYPES,
    OTHER_TYPES,
    Explorer,
    shown_type,
)
from rt_widgets.stores import MAX_SNAPSHOT_CHARS, MetricsStore, TableStore


def test_columns_stop_at_max_columns_and_count_what_they_drop() -> None:
    t = TableStore(key="id", max_rows=1000, max_columns=50)
    deltas: list[dict[str, Any]] = []
    for i in range(200_000):
        t.queue({"id": i % 1000, f"f{i}": i})
        if i % 6000 == 0:
            delta = t.drain()
            if delta is not None:
                deltas.append(delta)
    last = t.drain()
    if last is not None:  # None: the last rows changed only fields no column shows
        deltas.append(last)
    assert len(t.columns) == 50
    assert t.columns[0] == "id"
    assert t.columns_dropped == 200_000 - 49
    names_sent = sum(len(d.get("add_columns", ())) for d in deltas)
    print(f"columns: {len(t.columns)}, dropped: {t.columns_dropped}, names sent in deltas: {names_sent}")
    # Each column is sent once, when it is made (the key column came with the first snapshot).
    assert names_sent == 49
    assert not any("columns" in d for d in deltas)
    held = ["id"] + [c for d in deltas for c in d.get("add_columns", ())]
    assert held == t.columns == t.snapshot()["columns"]


def test_a_snapshot_sends_every_column_and_later_deltas_only_new_ones() -> None:
    t = TableStore(key="id")
    t.apply({"id": 1, "a": 1})
    assert t.snapshot()["columns"] == ["id", "a"]
    t.apply({"id": 2, "b": 1})
    delta = t.drain()
    # "a" came after the last delta: a snapshot does not say which views hold it.
    assert delta is not None and delta["add_columns"] == ["a", "b"]
    t.apply({"id": 3, "b": 2})
    delta = t.drain()
    assert delta is not None and "add_columns" not in delta


def test_a_dropped_field_is_counted_once_and_stays_in_its_row() -> None:
    t = TableStore(key="id", max_columns=2)
    t.apply({"id": 1, "a": 1, "b": 2})
    t.apply({"id": 2, "b": 3})
    t.apply({"id": 3, "b": 4, "c": 5})
    assert t.columns == ["id", "a"]
    assert t.columns_dropped == 2
    assert t.get(1) == {"id": 1, "a": 1, "b": 2}


def test_fixed_columns_keep_their_set_of_fields_bounded() -> None:
    t = TableStore(key="id", columns=["id", "v"], max_columns=10)
    for i in range(10_000):
        t.queue({"id": i % 10, "v": i, f"x{i}": i})
    assert t.columns == ["id", "v"]
    assert len(t._fields) <= 12


def test_deletes_reach_the_view_only_for_rows_it_holds() -> None:
    t = TableStore(key="id", max_rows=1000)
    t.apply([{"id": i} for i in range(1000)])
    assert t.drain() is not None  # the view holds rows 0..999
    # A flood of new keys between two drains: 1000 of the evicted rows were sent, 99,000 never.
    for i in range(1000, 101_000):
        t.queue({"id": i})
    delta = t.drain()
    assert delta is not None
    print(f"deletes sent: {len(delta['delete'])} for 100,000 evictions")
    assert sorted(delta["delete"]) == list(range(1000))
    assert [r["id"] for r in delta["upsert"]] == list(range(100_000, 101_000))
    # Row by row (not the batch path), and an explicit delete of a row the view never saw.
    t.apply({"id": "new"})
    assert t.delete("new")
    t.delete(100_000)
    delta = t.drain()
    assert delta is not None
    assert delta["delete"] == [100_000]


def test_a_row_in_a_snapshot_is_deleted_in_the_view() -> None:
    t = TableStore(key="id")
    t.apply({"id": 1})
    t.snapshot()  # a view reset to this holds row 1
    t.delete(1)
    delta = t.drain()
    assert delta is not None and delta["delete"] == [1]


def test_a_row_deleted_inserted_and_deleted_again_between_drains_is_deleted_once() -> None:
    t = TableStore(key="id")
    t.apply({"id": 1})
    t.drain()
    t.delete(1)
    t.apply({"id": 1, "v": 2})
    t.delete(1)
    delta = t.drain()
    assert delta is not None and delta["delete"] == [1] and "upsert" not in delta


def test_metric_series_stop_at_max_series_and_memory_stays_small() -> None:
    tracemalloc.start()
    try:
        m = MetricsStore(history=300)
        for i in range(200):
            m.queue({f"s{i * 1000 + j}": j for j in range(1000)}, t=float(i))
        names = len(m.names)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    print(f"200,000 series: {names} kept, {m.series_dropped} dropped, peak {peak / 1e6:.1f} MB")
    assert names == m.max_series == 1000
    assert m.series_dropped == 199_000
    assert peak < 40e6
    snap = m.snapshot()
    assert len(snap["latest"]) == 1000


def test_a_kept_series_goes_on_growing_past_the_cap() -> None:
    m = MetricsStore(history=5, max_series=2)
    m.apply({"a": 1, "b": 2, "c": 3}, t=1.0)
    m.apply({"a": 4, "c": 5}, t=2.0)
    assert m.names == ["a", "b"]
    assert m.latest == {"a": 4, "b": 2}
    assert m.series_dropped == 1
    assert m.history("a") == [(1.0, 1), (2.0, 4)]


def test_real_types_are_shown_after_200_junk_types() -> None:
    ex = Explorer()
    for i in range(300):
        ex.observe(f"junk-{i}", f"noise {i}", 1.0 + i / 1000)
    note = ex.observe("notification", {"level": "info", "title": "hi"}, 2.0)
    mission = ex.observe("mission_update", {"id": "m1", "state": "go"}, 2.0)
    overview = ex.overview(2.0, 1_767_225_600.0)
    print(f"types in the overview: {len(overview)}, evicted: {ex.evicted}")
    assert len(overview) == MAX_TYPES
    assert overview["notification"]["kind"] == "notifications"
    assert overview["mission_update"]["count"] == 1
    assert OTHER_TYPES not in overview
    # Notifications never wait for a free view; the junk that took every view stays listed.
    assert note is not None and note.kind == "notifications"
    # A table takes the view of the logged type seen least recently.
    assert mission is not None and mission.kind == "table" and mission.retire == "junk-0"
    assert ex.retired == 1
    metrics = ex.observe("metrics_update", {"cpu": 1}, 2.0)
    assert metrics is not None and metrics.retire == "junk-1"
    assert all(f"junk-{i}" in overview for i in range(MAX_AUTO_VIEWS))
    # The least recently seen junk went first.
    assert "junk-24" not in overview and "junk-299" in overview


def test_a_type_seen_again_keeps_its_place() -> None:
    ex = Explorer(max_types=3, make_views=False)
    ex.observe("a", "x", 1.0)
    ex.observe("b", "x", 2.0)
    ex.observe("c", "x", 3.0)
    ex.observe("a", "x", 4.0)  # a is now the most recent
    ex.observe("d", "x", 5.0)  # b, seen least recently, goes
    assert list(ex.types) == ["a", "c", "d"]
    assert ex.evicted == 1


def test_long_type_names_are_cut_in_the_overview() -> None:
    ex = Explorer(make_views=False)
    names = [f"{i:03d}" + "x" * 100_000 for i in range(200)]
    for name in names:
        ex.observe(name, {"v": 1}, 1.0)
    ex.observe("x" * 100_000 + "a", 1, 1.0)
    ex.observe("x" * 100_000 + "b", 1, 1.0)
    overview = ex.overview(1.0, 1_767_225_600.0)
    size = len(json.dumps(overview))
    print(f"overview of 200 types with 100 KB names: {size:,} bytes")
    assert size < 100_000
    assert all(len(t) <= MAX_TYPE_NAME + 11 for t in overview)
    assert len(overview) == 200
    assert shown_type("x" * 100_000 + "a") != shown_type("x" * 100_000 + "b")
    assert shown_type("trade") == "trade"


def test_a_huge_table_snapshot_holds_the_newest_rows_that_fit_and_says_how_many_it_left_out(
) -> None:
    t = TableStore(key="id", max_rows=10_000)
    blob = "x" * (1 << 20)
    for i in range(3000):
        t.queue({"id": i, "blob": blob})
    snap = t.snapshot()
    size = len(json.dumps(snap))
    print(f"3,000 rows of 1 MiB: snapshot {size / 1e6:.1f} MB, {len(snap['rows'])} rows, "
          f"{snap['truncated']} left out")
    assert size <= MAX_SNAPSHOT_CHARS * 1.1
    assert snap["truncated"] + len(snap["rows"]) == 3000
    assert snap["rows"][-1]["id"] == 2999  # the newest rows
    assert len(t) == 3000 and t.get(0) == {"id": 0, "blob": blob}  # the store keeps them all
    small = TableStore(key="id")
    small.apply({"id": 1})
    assert "truncated" not in small.snapshot()

"""Bounds under hostile feeds, through a real socket: a feed that makes up a new metric series or
a new table field in every message keeps the widget's memory bounded and its close() fast."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from rt_widgets.explorer import MAX_AUTO_VIEWS, MAX_TYPE_NAME
from rt_widgets.stores import MAX_VALUE_CHARS
from rt_widgets.sync import DEFAULT_BYTE_BUDGET
from rt_widgets.widgets import RealtimeWidget
from tests._servers import WsServer
from tests.conftest import wait_until
from tests.widgets.conftest import CommSpy

MakeServer = Callable[..., WsServer]
CLOSE_LIMIT = 1.0  # seconds: the design's promise for a widget's close()


def frame(type: str, payload: Any) -> str:
    return json.dumps({"type": type, "payload": payload})


def test_close_is_fast_after_400000_metric_series(
    ws_server: MakeServer, make_widget: Callable[..., RealtimeWidget], comm_spy: CommSpy
) -> None:
    server = ws_server()
    w = make_widget(server.url)
    metrics = w.metrics("m")
    wait_until(lambda: w.status == "connected" and server.open_connections == 1, 10)
    per_message = 4000
    messages = 100
    for i in range(messages):
        server.send(frame("m", {f"s{i * per_message + j}": j for j in range(per_message)}))
    wait_until(lambda: w.connection.stats()["messages_in"] >= messages, 30)
    kept = len(metrics.latest)
    started = time.monotonic()
    w.close()
    took = time.monotonic() - started
    print(f"\n400,000 series: {kept} kept; close() {took:.3f} s")
    assert kept <= 1000
    assert metrics.series_dropped == 400_000 - kept
    assert metrics.closed
    assert took < CLOSE_LIMIT


def test_a_new_field_per_row_makes_a_bounded_column_list(
    ws_server: MakeServer, make_widget: Callable[..., RealtimeWidget], comm_spy: CommSpy
) -> None:
    server = ws_server()
    w = make_widget(server.url)
    table = w.table("t", key="id", max_rows=1000)
    wait_until(lambda: w.status == "connected" and server.open_connections == 1, 10)
    rows = 20_000
    for start in range(0, rows, 1000):
        server.send(frame("t", [{"id": i % 1000, f"f{i}": i} for i in range(start, start + 1000)]))
    wait_until(lambda: w.connection.stats()["messages_in"] >= rows // 1000, 30)
    wait_until(lambda: len(table) == 1000, 10)
    columns = table.columns
    sent = sum(len(c.get("add_columns", ())) for _, c in comm_spy.custom(table, "delta"))
    print(f"\n{rows:,} new fields: {len(columns)} columns; column names sent in deltas: {sent}")
    assert len(columns) == 500
    assert table.columns_dropped == rows - 499
    # Each column name is sent once (the key came with the first snapshot).
    assert sent == 499


def busiest_second(published: list[Any]) -> int:
    """The most bytes the front end got in any one second of ``published``."""
    times = [p.t for p in published]
    sizes = [len(p.text) for p in published]
    best = window = start = 0
    for end in range(len(times)):
        window += sizes[end]
        while times[end] - times[start] > 1.0:
            window -= sizes[start]
            start += 1
        best = max(best, window)
    return best


def test_huge_rows_with_new_keys_stay_within_the_byte_budget(
    ws_server: MakeServer, make_widget: Callable[..., RealtimeWidget], comm_spy: CommSpy
) -> None:
    server = ws_server()
    w = make_widget(server.url, max_message_size=4 << 20, explore=False)
    table = w.table("t", key="id", max_rows=50)
    wait_until(lambda: w.status == "connected" and server.open_connections == 1, 10)
    rows = 100
    blob = "x" * (1 << 20)
    started = time.monotonic()
    for i in range(rows):
        server.send(frame("t", {"id": i, "blob": blob, "n": i}))
    wait_until(lambda: w.connection.stats()["messages_in"] >= rows, 60)
    wait_until(lambda: any(d.get("upsert", [{}])[-1].get("id") == rows - 1
                           for _, d in comm_spy.custom(table, "delta")), 30)
    took = time.monotonic() - started
    sent = comm_spy.messages(table)
    total = sum(len(p.text) for p in sent)
    peak = busiest_second(sent)
    print(f"\n{rows} rows of 1 MiB in {took:.1f} s: {total / 1e6:.2f} MB to the view, "
          f"busiest second {peak / 1e3:.0f} KB (budget {DEFAULT_BYTE_BUDGET / 1e3:.0f} KB/s)")
    # Each cell reaches the view cut to MAX_VALUE_CHARS; the store keeps the whole row.
    assert table.rows[-1]["blob"] == blob
    last = comm_spy.custom(table, "delta")[-1][1]["upsert"][-1]
    assert len(last["blob"]) == MAX_VALUE_CHARS + 1
    assert peak <= DEFAULT_BYTE_BUDGET + 64 * 1024
    assert total < 10 * DEFAULT_BYTE_BUDGET


def test_200_types_with_100_kb_names_make_small_overview_updates(
    ws_server: MakeServer, make_widget: Callable[..., RealtimeWidget], comm_spy: CommSpy
) -> None:
    server = ws_server()
    w = make_widget(server.url, max_message_size=1 << 20)
    wait_until(lambda: w.status == "connected" and server.open_connections == 1, 10)
    names = [f"{i:03d}" + "n" * 100_000 for i in range(200)]
    for name in names:
        server.send(frame(name, f"hello from {name[:3]}"))
    wait_until(lambda: w.connection.stats()["messages_in"] >= len(names), 30)
    wait_until(lambda: len(comm_spy.view_state(w).get("overview", {})) == len(names), 30)
    updates = [p for p in comm_spy.messages(w) if p.msg_type == "comm_msg"]
    total = sum(len(p.text) for p in updates)
    biggest = max(len(p.text) for p in updates)
    print(f"\n200 types with 100 KB names: {len(updates)} updates, {total / 1e6:.2f} MB, "
          f"biggest {biggest / 1e3:.0f} KB")
    assert biggest < 200_000
    assert total < 5_000_000
    # Each type has its row, its name cut; the types with a view are matched to it by that name.
    state = comm_spy.view_state(w)
    assert all(len(t) <= MAX_TYPE_NAME + 11 for t in state["overview"])
    assert state["children"] and set(state["children"]) <= set(state["overview"])


def test_a_real_table_gets_a_view_after_junk_types_took_every_automatic_view(
    ws_server: MakeServer, make_widget: Callable[..., RealtimeWidget], comm_spy: CommSpy
) -> None:
    server = ws_server()
    w = make_widget(server.url)
    wait_until(lambda: w.status == "connected" and server.open_connections == 1, 10)
    junk = [f"junk-{i}" for i in range(MAX_AUTO_VIEWS + 6)]
    for name in junk:
        server.send(frame(name, f"noise from {name}"))
    server.send(frame("mission_update", {"id": "m1", "state": "go"}),
                frame("notification", {"level": "info", "title": "hello"}))
    wait_until(lambda: w.connection.stats()["messages_in"] >= len(junk) + 2, 30)
    wait_until(lambda: "mission_update" in comm_spy.view_state(w).get("children", {}), 10)
    children = comm_spy.view_state(w)["children"]
    print(f"\n{len(junk)} junk types, then mission_update: views for {len(children)} types")
    assert "junk-0" not in children  # its log view went to the table
    assert w.table("mission_update").rows == [{"id": "m1", "state": "go"}]
    # The overview goes out at the frame rate: the last message's entry may follow a frame later.
    wait_until(lambda: {"mission_update", "notification"} <= set(comm_spy.view_state(w)["overview"]), 10)

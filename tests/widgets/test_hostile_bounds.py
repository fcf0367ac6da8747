"""Bounds under hostile feeds, through a real socket: a feed that makes up a new metric series or
a new table field in every message keeps the widget's memory bounded and its close() fast."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

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
    sent = sum(len(c.get("columns", ())) for _, c in comm_spy.custom(table, "delta"))
    print(f"\n{rows:,} new fields: {len(columns)} columns; column names sent in deltas: {sent}")
    assert len(columns) == 500
    # Column lists stop once the cap is reached: at most one list per frame while it grows.
    assert sent <= 500 * 40

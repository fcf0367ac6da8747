"""Fields past a table's column cap stay in the store and never travel to the view: not in a
snapshot, not in a delta. A feed that makes up a field per row with a large value would otherwise
send that value to a browser that shows it in no column."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from rt_widgets.stores import TableStore
from rt_widgets.widgets import RealtimeWidget
from tests._servers import WsServer
from tests.conftest import wait_until
from tests.widgets.conftest import CommSpy

MakeServer = Callable[..., WsServer]


def size(value: Any) -> int:
    return len(json.dumps(value))


def test_fields_past_max_columns_are_in_no_snapshot_or_delta() -> None:
    t = TableStore(key="id", max_rows=1000, max_columns=10)
    t.apply({"id": -1, **{f"c{j}": j for j in range(9)}})
    t.drain()
    blob = "x" * 1000
    deltas: list[dict[str, Any]] = []
    would_send = 0
    for i in range(5000):
        row = {"id": i % 1000, "c0": i, f"junk{i}": blob}
        would_send += size(row)
        t.queue(row)
        if i % 250 == 0:
            delta = t.drain()
            if delta is not None:
                deltas.append(delta)
    last = t.drain()
    if last is not None:
        deltas.append(last)
    snapshot = t.snapshot()
    sent = sum(map(size, deltas))
    print(f"\n5,000 rows, each with a new 1 KB field past max_columns=10: deltas {sent / 1e3:.0f} KB "
          f"(the rows whole: {would_send / 1e3:.0f} KB), snapshot {size(snapshot) / 1e3:.0f} KB "
          f"(the stored rows whole: {size(t.rows) / 1e3:.0f} KB)")
    shown = set(t.columns)
    assert len(shown) == 10 and t.columns_dropped == 5000
    for delta in deltas:
        for row in delta.get("upsert", ()):
            assert set(row) <= shown, sorted(set(row) - shown)[:5]
    for row in snapshot["rows"]:
        assert set(row) <= shown
    # The store keeps each row whole.
    assert t.get(999) == {"id": 999, "c0": 4999, "junk999": blob, "junk1999": blob,
                          "junk2999": blob, "junk3999": blob, "junk4999": blob}
    assert sent < would_send / 10
    assert size(snapshot) < size(t.rows) / 10


def test_a_change_to_a_hidden_field_alone_sends_nothing() -> None:
    t = TableStore(key="id", max_columns=2)
    t.apply({"id": 1, "a": 1})
    t.drain()
    t.apply({"id": 1, "hidden": "x" * 100})
    assert t.drain() is None
    t.apply({"id": 1, "a": 2, "hidden": "y"})
    assert t.drain() == {"seq": 2, "upsert": [{"a": 2, "id": 1}]}


def test_fields_outside_given_columns_are_not_sent() -> None:
    t = TableStore(key="id", columns=["id", "name"])
    t.apply({"id": 1, "name": "x", "extra": "y" * 100})
    assert t.drain() == {"seq": 1, "upsert": [{"id": 1, "name": "x"}]}
    assert t.snapshot()["rows"] == [{"id": 1, "name": "x"}]
    assert t.rows == [{"id": 1, "name": "x", "extra": "y" * 100}]


def test_dropped_fields_do_not_reach_the_view_through_a_socket(
    ws_server: MakeServer, make_widget: Callable[..., RealtimeWidget], comm_spy: CommSpy
) -> None:
    server = ws_server()
    w = make_widget(server.url, explore=False)
    table = w.table("t", key="id", max_rows=1000)
    wait_until(lambda: w.status == "connected" and server.open_connections == 1, 10)
    # Fill the 500 columns, then make up a field per row with a 1 KB value.
    server.send(json.dumps({"type": "t", "payload": {"id": -1, **{f"c{j}": j for j in range(499)}}}))
    rows = 2000
    blob = "x" * 1000
    for start in range(0, rows, 100):
        server.send(json.dumps({"type": "t", "payload": [
            {"id": i, "c0": i, f"junk{i}": blob} for i in range(start, start + 100)]}))
    wait_until(lambda: w.connection.stats()["messages_in"] >= 1 + rows // 100, 30)
    wait_until(lambda: any(any(r.get("id") == rows - 1 for r in d.get("upsert", ()))
                           for _, d in comm_spy.custom(table, "delta")), 30)
    sent = comm_spy.messages(table)
    total = sum(len(p.text) for p in sent)
    junk = sum(p.text.count('"junk') for p in sent)
    stored = size(table.rows)
    print(f"\n{rows:,} rows with a 1 KB field past the 500 columns: {total / 1e3:.0f} KB to the view "
          f"(the rows whole: {stored / 1e3:.0f} KB), dropped fields sent: {junk}")
    assert len(table.columns) == 500 and table.columns_dropped == rows
    assert junk == 0
    assert total < rows * len(blob) / 4
    assert table.rows[-1]["junk1999"] == blob

"""LiveSummary through a real socket: a loopback feed upserts, deletes and (past max_rows) evicts
rows of a LiveTable; its group-by summary equals pandas' groupby of the table's rows, and the
deltas and snapshots its view is sent rebuild the same summary rows."""

from __future__ import annotations

import json
import random
import time
from typing import Any

import pytest
from pandas.testing import assert_frame_equal

from rt_widgets import LiveSummary
from rt_widgets.widgets._contract import TableDelta, TableState
from tests.conftest import wait_until
from tests.unit.test_summary import expected
from tests.widgets.conftest import CommSpy


def frame(type: str, payload: Any) -> str:
    return json.dumps({"type": type, "payload": payload, "timestamp": "2026-01-01T00:00:00Z"})


class ViewRows:
    """A table view's rows as the messages to its model build them (the rules of js/table.ts:
    a snapshot resets, a delta follows the one before it: clear, delete, then upsert)."""

    def __init__(self, keys: list[str]) -> None:
        self.keys = keys
        self.seq = -1
        self.rows: dict[str, dict[str, Any]] = {}

    def key(self, row: dict[str, Any]) -> str:
        return json.dumps([row[k] for k in self.keys])

    def reset(self, state: dict[str, Any]) -> None:
        # A snapshot no newer than what the view holds is ignored (js/sync.ts, not waiting).
        if state.get("seq", -1) > self.seq:
            self.seq = state["seq"]
            self.rows = {self.key(r): dict(r) for r in state["rows"]}

    def apply(self, delta: dict[str, Any]) -> None:
        if delta["seq"] <= self.seq:
            return
        assert delta["seq"] == self.seq + 1, f"a gap: delta {delta['seq']} after {self.seq}"
        self.seq = delta["seq"]
        if delta.get("clear"):
            self.rows.clear()
        for key in delta.get("delete", []):
            self.rows.pop(json.dumps(key if isinstance(key, list) else [key]), None)
        for row in delta.get("upsert", []):
            k = self.key(row)
            self.rows[k] = {**self.rows.get(k, {}), **row}


def view_rows(spy: CommSpy, widget: Any) -> ViewRows:
    view = ViewRows([widget.by] if isinstance(widget.by, str) else list(widget.by))
    for p in spy.messages(widget):
        if p.msg_type == "comm_open" or (p.msg_type == "comm_msg" and p.data.get("method") == "update"):
            if "_snapshot" in p.data["state"]:
                view.reset(p.data["state"]["_snapshot"])
        elif p.msg_type == "comm_msg" and p.data.get("method") == "custom":
            content = p.data["content"]
            if content.get("kind") == "snapshot":
                view.reset(content)
            elif content.get("kind") == "delta":
                view.apply(content)
    return view


def watch(spy: CommSpy, widget: Any) -> None:
    """Play a rendered view of ``widget``: it counts as watched, so deltas are sent."""
    spy.from_front_end(widget, {"kind": "presence", "view": "test-view", "lease": 60.0})


def stream(seed: int, n: int) -> list[str]:
    """Upserts of new and known ids (moving between symbols, prices as numbers, numeric strings
    and junk, rows without a symbol), batches, and deletes."""
    rng = random.Random(seed)
    frames = []
    for _ in range(n):
        roll = rng.random()
        if roll < 0.15:
            frames.append(frame("trade_removed", rng.randrange(90)))
            continue
        rows = []
        for _ in range(1 if roll < 0.7 else rng.randrange(2, 6)):
            row: dict[str, Any] = {"id": rng.randrange(90)}
            if rng.random() < 0.95:
                row["symbol"] = rng.choice(["BTC", "ETH", "SOL", "ADA", None])
            if rng.random() < 0.9:
                row["price"] = rng.choice([rng.uniform(1, 100), rng.randrange(1, 100),
                                           f"{rng.uniform(1, 100):.2f}", "n/a"])
            if rng.random() < 0.6:
                row["size"] = rng.randrange(1, 10)
            rows.append(row)
        frames.append(frame("trade", rows if len(rows) > 1 else rows[0]))
    return frames


def test_summary_equals_pandas_groupby_and_its_deltas_rebuild_it(
        ws_server: Any, make_widget: Any, comm_spy: CommSpy) -> None:
    server = ws_server()
    w = make_widget(server.url, fps=20, explore=False)
    table = w.table("trade", key="id", max_rows=50, delete_type="trade_removed")
    summary = table.group_by("symbol")
    assert isinstance(summary, LiveSummary)
    watch(comm_spy, summary)
    wait_until(lambda: w.status == "connected" and server.open_connections == 1, 10)

    started = time.monotonic()
    frames = stream(seed=16, n=1500)
    for i in range(0, len(frames), 50):
        server.send(*frames[i:i + 50])
        if i == 700:  # the summary is live: a delta went out before the rest of the stream
            wait_until(lambda: comm_spy.custom(summary, "delta"), 10)
    server.send(frame("trade", {"id": "end", "symbol": "END", "price": 1}))
    wait_until(lambda: "end" in table.row_keys, 15)

    got = summary.to_pandas()
    rows = table.rows
    assert table._table.evicted > 0  # the stream went past max_rows
    want = expected(rows, "symbol", summary.numeric_columns)
    numeric = summary.numeric_columns
    assert sorted(numeric) == ["price", "size"]  # not "id", the table's key; first-seen order
    assert list(got.columns) == ["count"] + [f"{c}_{a}" for c in numeric
                                             for a in ("sum", "mean", "min", "max", "last")]
    assert_frame_equal(got, want, check_dtype=False, check_exact=False, rtol=1e-12)
    assert len(summary) == len(want) == 5
    assert summary.ungrouped == sum(1 for r in rows if r.get("symbol") is None)
    assert summary.skipped == sum(1 for r in rows if r.get("symbol") is not None
                                  and r.get("price") == "n/a")

    # What the view was sent rebuilds the summary rows.
    final = sorted(summary.rows, key=lambda r: r["symbol"])
    view = wait_until(lambda: (v := view_rows(comm_spy, summary)) and sorted(
        v.rows.values(), key=lambda r: r["symbol"]) == final and v, 10)
    assert len(view.rows) == 5
    deltas = comm_spy.custom(summary, "delta")
    # The table view's contract, as it is: the summary is a table to its view.
    snapshot = comm_spy.view_state(summary)["_snapshot"]
    assert TableState.__required_keys__ <= set(snapshot) and snapshot["keys"] == ["symbol"]
    allowed = set(TableDelta.__annotations__)
    assert all(set(d) <= allowed for _, d in deltas)
    assert comm_spy.view_state(summary)["_view"] == "table"
    elapsed = time.monotonic() - started
    # Live, at the widget's frame rate: many deltas while the stream ran, never more than fps.
    assert len(deltas) >= 2
    assert len(deltas) <= 20 * elapsed + 3

    # A delete that empties a group removes its row from the view too.
    server.send(frame("trade_removed", "end"))
    wait_until(lambda: "END" not in {r["symbol"] for r in view_rows(comm_spy, summary).rows.values()},
               10)
    assert "END" not in summary.to_pandas().index
    assert repr(summary).startswith("LiveSummary(type='trade', by='symbol', groups=4")


def test_group_values_are_json_values_in_the_view_too(
        ws_server: Any, make_widget: Any, comm_spy: CommSpy) -> None:
    server = ws_server()
    w = make_widget(server.url, fps=50, explore=False)
    table = w.table("reading", key="id")
    summary = table.group_by("g", aggregates=("count", "max"), columns=["v"])
    watch(comm_spy, summary)
    wait_until(lambda: w.status == "connected", 10)
    server.send(frame("reading", [{"id": 1, "g": 1, "v": 3}, {"id": 2, "g": "1", "v": 4},
                                  {"id": 3, "g": True, "v": 5}, {"id": 4, "g": 1.0, "v": 6}]))
    wait_until(lambda: len(table) == 4, 10)
    assert summary.rows == [{"g": 1, "count": 2, "v_max": 6}, {"g": "1", "count": 1, "v_max": 4},
                            {"g": True, "count": 1, "v_max": 5}]
    view = wait_until(lambda: (v := view_rows(comm_spy, summary)) and len(v.rows) == 3 and v, 10)
    assert sorted(view.rows) == sorted(["[1]", '["1"]', "[true]"])
    # Moving a row to another group moves its contribution.
    server.send(frame("reading", {"id": 4, "g": "1"}))
    wait_until(lambda: {json.dumps(r["g"]): r["count"] for r in summary.rows} == {
        "1": 1, '"1"': 2, "true": 1}, 10)
    assert {json.dumps(r["g"]): r["v_max"] for r in summary.rows} == {"1": 3, '"1"': 6, "true": 5}


def test_a_paused_summary_keeps_up_and_closing_the_table_closes_it(
        ws_server: Any, make_widget: Any, comm_spy: CommSpy) -> None:
    server = ws_server()
    w = make_widget(server.url, fps=50, explore=False)
    table = w.table("trade", key="id", max_rows=100)
    summary = table.group_by("symbol", aggregates="count")
    watch(comm_spy, summary)
    wait_until(lambda: w.status == "connected", 10)
    summary.pause()
    wait_until(lambda: comm_spy.view_state(summary)["paused"] is True, 10)
    mark = comm_spy.messages(summary)[-1].t
    # Far more keys than the table holds go by while paused: the summary stays exact.
    server.send(*[frame("trade", [{"id": i * 10 + j, "symbol": f"S{(i * 10 + j) % 3}"}
                                  for j in range(10)]) for i in range(300)])
    wait_until(lambda: len(table) == 100 and 2999 in table.row_keys, 15)
    counts = {"S0": 33, "S1": 33, "S2": 34}  # ids 2900-2999
    assert {r["symbol"]: r["count"] for r in summary.rows} == counts
    sent = [p for p in comm_spy.messages(summary) if p.t > mark]
    assert {p.data["content"]["kind"] for p in sent if p.data.get("method") == "custom"} <= {
        "waiting"}
    summary.resume()
    wait_until(lambda: {r["symbol"]: r["count"] for r in view_rows(
        comm_spy, summary).rows.values()} == counts, 10)

    table.close()
    assert summary.closed and table.closed
    assert len(summary) == 3  # its rows stay readable
    with pytest.raises(RuntimeError, match="is closed"):
        table.group_by("symbol")


def test_bad_arguments_are_refused_and_feeding_goes_through_the_table(
        make_widget: Any, ws_server: Any) -> None:
    w = make_widget(ws_server().url, explore=False)
    table = w.table("trade")
    with pytest.raises(ValueError, match="aggregates must name some of"):
        table.group_by("symbol", aggregates=("median",))
    summary = table.group_by("symbol")
    table.feed([{"id": 1, "symbol": "X", "px": 2}])
    assert summary.rows == [{"symbol": "X", "count": 1, "px_sum": 2, "px_mean": 2.0, "px_min": 2,
                             "px_max": 2, "px_last": 2}]
    with pytest.raises(TypeError, match="feed the table instead"):
        summary.feed([{"id": 2, "symbol": "X"}])
    with pytest.raises(ValueError, match="fps must be a number"):
        table.group_by("symbol", fps=0)
    assert len(table._table._listeners) == 1  # the summary made above, not the refused one
    with pytest.raises(TypeError, match="unexpected keyword"):
        LiveSummary(w._conn, table._table, "trade", "symbol", colour="red")

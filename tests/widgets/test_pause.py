"""Pausing a data view: the kernel keeps ingesting, the view is sent only a small count of the
updates waiting (no delta, no snapshot trait), and resuming sends one fresh snapshot."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from rt_widgets.widgets._base import WAITING_INTERVAL
from tests.conftest import wait_until
from tests.widgets.conftest import CommSpy


def frame(type: str, payload: Any) -> str:
    return json.dumps({"type": type, "payload": payload, "timestamp": "2026-01-01T00:00:00Z"})


def make_view(w: Any, kind: str) -> tuple[Any, str]:
    """A view of ``kind`` and the message type that feeds it."""
    if kind == "table":
        return w.table("row"), "row"
    if kind == "metrics":
        return w.metrics("m"), "m"
    if kind == "chart":
        return w.chart("m"), "m"
    return w.notifications(("note",)), "note"


def payload(kind: str, i: int) -> Any:
    if kind == "table":
        return {"id": i % 5, "n": i}
    if kind == "notifications":
        return {"level": "info", "title": "t", "message": f"m{i}"}
    return {"cpu": i, "mem": i * 2}


def after(comm_spy: CommSpy, view: Any, mark: float) -> list[Any]:
    """Every message to the view's model published after ``mark``."""
    return [p for p in comm_spy.messages(view) if p.t > mark]


@pytest.mark.parametrize("kind", ["table", "metrics", "chart", "notifications"])
def test_a_paused_view_is_sent_only_counts_and_resume_sends_a_snapshot(
        kind: str, ws_server: Any, make_widget: Any, comm_spy: CommSpy) -> None:
    server = ws_server()
    w = make_widget(server.url, fps=50, explore=False)
    view, type = make_view(w, kind)
    wait_until(lambda: w.status == "connected" and server.open_connections == 1, 10)
    server.send(frame(type, payload(kind, 0)))
    wait_until(lambda: comm_spy.custom(view, "delta"), 10)

    view.pause()
    assert view.paused is True
    # The trait tells every view of the model; nothing else is sent for the pause itself.
    wait_until(lambda: comm_spy.view_state(view)["paused"] is True, 10)
    mark = comm_spy.messages(view)[-1].t
    for i in range(1, 31):
        server.send(frame(type, payload(kind, i)))
    counts = wait_until(lambda: [m["count"] for _, m in comm_spy.custom(view, "waiting")
                                 if m["count"] == 30], 10)
    assert counts == [30]
    # The kernel kept ingesting.
    if kind == "table":
        assert len(view) == 5 and view.rows[0]["n"] == 30
    elif kind == "notifications":
        assert len(view.items) == 31
    elif kind == "metrics":
        assert view.latest["cpu"] == 30
    else:
        assert len(view.points("cpu")) == 31
    sent = after(comm_spy, view, mark)
    # Only counts: no delta, no snapshot, no trait update.
    assert {p.data["content"]["kind"] for p in sent} == {"waiting"}
    waiting = [m["count"] for _, m in comm_spy.custom(view, "waiting")]
    assert waiting == sorted(waiting) and len(waiting) == len(set(waiting))
    times = [t for t, _ in comm_spy.custom(view, "waiting")]
    assert all(b - a >= WAITING_INTERVAL * 0.9 for a, b in itertools.pairwise(times))
    assert sum(len(p.text) for p in sent) < 120 * len(sent)

    resumed_at = comm_spy.messages(view)[-1].t
    view.resume()
    assert view.paused is False
    snapshot = wait_until(lambda: [m for t, m in comm_spy.custom(view, "snapshot")
                                   if t > resumed_at], 10)[0]
    if kind == "table":
        assert [r["n"] for r in snapshot["rows"]] == [30, 26, 27, 28, 29]  # by key, 0 first
    elif kind == "notifications":
        assert len(snapshot["items"]) == 31
    elif kind == "metrics":
        assert snapshot["latest"]["cpu"] == 30
    else:
        assert len(snapshot["columns"][0]["v"]) == 31
    # And live again: the next update comes as the delta after the snapshot.
    server.send(frame(type, payload(kind, 31)))
    delta = wait_until(lambda: [m for t, m in comm_spy.custom(view, "delta") if t > resumed_at],
                       10)[0]
    assert delta["seq"] == snapshot["seq"] + 1


def test_the_view_pauses_and_resumes_through_its_messages(
        ws_server: Any, make_widget: Any, comm_spy: CommSpy) -> None:
    server = ws_server()
    w = make_widget(server.url, fps=50, explore=False)
    table = w.table("row")
    wait_until(lambda: w.status == "connected" and server.open_connections == 1, 10)
    comm_spy.from_front_end(table, {"kind": "pause"})
    wait_until(lambda: table.paused, 10)
    server.send(frame("row", {"id": 1}), frame("row", {"id": 2}))
    wait_until(lambda: [m for _, m in comm_spy.custom(table, "waiting") if m["count"] == 2], 10)
    assert len(table) == 2 and not comm_spy.custom(table, "delta")
    # A snapshot request while paused is not answered: the resume brings the snapshot.
    comm_spy.from_front_end(table, {"kind": "snapshot_request"})
    comm_spy.from_front_end(table, {"kind": "resume"})
    wait_until(lambda: not table.paused, 10)
    snaps = wait_until(lambda: comm_spy.custom(table, "snapshot"), 10)
    assert [r["id"] for r in snaps[0][1]["rows"]] == [1, 2]
    assert len(snaps) == 1
    # Unknown requests are ignored; pausing twice is pausing once.
    comm_spy.from_front_end(table, {"kind": "pause"})
    comm_spy.from_front_end(table, {"kind": "pause"})
    comm_spy.from_front_end(table, {"kind": "nonsense"})
    wait_until(lambda: table.paused, 10)


def test_a_paused_view_with_nothing_new_sends_nothing(
        ws_server: Any, make_widget: Any, comm_spy: CommSpy) -> None:
    server = ws_server()
    w = make_widget(server.url, fps=50, explore=False)
    metrics = w.metrics("m")
    other = w.metrics("other")
    wait_until(lambda: w.status == "connected" and server.open_connections == 1, 10)
    metrics.pause()
    wait_until(lambda: comm_spy.view_state(metrics)["paused"], 10)
    mark = comm_spy.messages(metrics)[-1].t
    # Another type flowing meanwhile: the paused view is told nothing.
    for i in range(20):
        server.send(frame("other", {"x": i}))
    wait_until(lambda: other.latest.get("x") == 19, 10)
    wait_until(lambda: comm_spy.custom(other, "delta"), 10)
    assert after(comm_spy, metrics, mark) == []
    metrics.close()
    other.close()

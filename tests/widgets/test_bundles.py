"""Views on one page share messages: a data view whose every view is on one page has its deltas
bundled with that page's others, one message per frame-clock tick, and each view still gets every
delta of its own in sequence. Played against the demo feed with the comm spy as the front end."""

from __future__ import annotations

import time
from collections.abc import Iterator
from itertools import pairwise
from typing import Any

import pytest

from rt_widgets.demo import DemoServer
from rt_widgets.sync import BUNDLE, get_frame_clock
from rt_widgets.widgets import LiveTable
from rt_widgets.widgets._base import read_on_io
from tests.conftest import wait_until

from .conftest import CommSpy


@pytest.fixture
def feed() -> Iterator[DemoServer]:
    with DemoServer(port=0, rate=400, seed=5) as server:
        yield server


def presence(spy: CommSpy, widget: Any, view: str, page: str | None, lease: float = 30) -> None:
    content: dict[str, Any] = {"kind": "presence", "view": view, "lease": lease}
    if page is not None:
        content["page"] = page
    spy.from_front_end(widget, content)


def seqs(spy: CommSpy, widget: Any, since: float = 0.0) -> list[int]:
    return [c["seq"] for t, c in spy.routed(widget, "delta") if t >= since]


def bundles(spy: CommSpy, since: float = 0.0) -> list[dict[str, Any]]:
    return [p.data["content"] for p in spy.messages() if p.t >= since and p.msg_type == "comm_msg"
            and p.data.get("method") == "custom" and p.data["content"].get("kind") == BUNDLE]


def in_sequence(numbers: list[int]) -> bool:
    return all(b == a + 1 for a, b in pairwise(numbers))


def three_views(make_widget: Any, feed: DemoServer) -> tuple[Any, list[Any]]:
    """A widget with a table, a metrics view and a chart of the demo feed."""
    w = make_widget(feed.url, explore=False)
    return w, [w.table("mission_update", key="id"), w.metrics("metrics_update"),
               w.chart("metrics_update")]


def test_views_on_one_page_share_one_message_and_keep_their_sequence(
        comm_spy: CommSpy, make_widget: Any, feed: DemoServer) -> None:
    w, views = three_views(make_widget, feed)
    table = views[0]
    for i, view in enumerate(views):
        presence(comm_spy, view, f"v{i}", "page-A")
    start = time.monotonic()
    wait_until(lambda: len(bundles(comm_spy, start)) >= 5, 15,
               message="no bundle of the page's views was sent")
    # Every bundle is on the comm of one of the page's views and carries only theirs.
    routes = {v._route for v in views}
    ids = {v.model_id for v in views}
    for p in comm_spy.messages():
        content = p.data.get("content") if p.msg_type == "comm_msg" else None
        if isinstance(content, dict) and content.get("kind") == BUNDLE:
            assert p.comm_id in ids
            assert {item["to"] for item in content["items"]} <= routes
            assert len(content["items"]) >= 2
    # Each view's deltas, direct and bundled, come in sequence, from its first to its last.
    for view in views:
        wait_until(lambda v=view: len(seqs(comm_spy, v)) >= 5, 10)
        numbers = seqs(comm_spy, view)
        assert in_sequence(numbers), (type(view).__name__, numbers)
    # The table the deltas build is the kernel's, once the feed stopped and the last went out.
    w.disconnect()
    wait_until(lambda: w.status == "disconnected", 10)
    def settled() -> bool:  # read on the I/O thread: nothing queued, the last delta sent
        store = table._store
        return read_on_io(lambda: not store.dirty and seqs(comm_spy, table)[-1] == store.seq)

    wait_until(settled, 10)
    state = comm_spy.view_state(table)["_snapshot"]
    rows: dict[Any, dict[str, Any]] = {r["id"]: dict(r) for r in state["rows"]}
    for _, delta in comm_spy.routed(table, "delta"):
        if delta["seq"] > state["seq"]:
            for r in delta.get("upsert", []):
                rows.setdefault(r["id"], {}).update(r)
    assert rows == {r["id"]: dict(r) for r in table.rows}


def test_a_view_on_two_pages_or_naming_none_gets_its_own_messages(
        comm_spy: CommSpy, make_widget: Any, feed: DemoServer) -> None:
    # a and b follow one type, so that they are due in the same ticks (two views of different
    # types bundle only when both happen to be due at once).
    _, (c, a, b) = three_views(make_widget, feed)
    presence(comm_spy, a, "a1", "page-A")
    presence(comm_spy, b, "b1", "page-A")
    presence(comm_spy, c, "c1", None)  # an older page: names none
    start = time.monotonic()
    wait_until(lambda: len(bundles(comm_spy, start)) >= 3, 15)
    assert all(c._route not in {i["to"] for i in m["items"]} for m in bundles(comm_spy))
    # b is shown on a second page too: from then on its deltas come on its own comm.
    presence(comm_spy, b, "b2", "page-B")
    moved = time.monotonic()
    wait_until(lambda: len([1 for t, _ in comm_spy.custom(b, "delta") if t > moved]) >= 3, 10)
    late = time.monotonic() + 0.2
    wait_until(lambda: time.monotonic() > late + 0.5, 5)
    assert all(b._route not in {i["to"] for i in m["items"]} for m in bundles(comm_spy, late))
    for view in (a, b, c):
        assert in_sequence(seqs(comm_spy, view)), type(view).__name__
    # Its second page goes: back with page A's others.
    presence(comm_spy, b, "b2", "page-B", lease=0)
    back = time.monotonic()
    wait_until(lambda: any(b._route in {i["to"] for i in m["items"]}
                           for m in bundles(comm_spy, back)), 10)
    assert in_sequence(seqs(comm_spy, b))


def test_fifty_views_on_one_page_update_faster_than_the_budget_would_let_them_alone(
        comm_spy: CommSpy, make_widget: Any, feed: DemoServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # 50 views of one feed on one page, each at 5 fps: bundled, one message per tick for all of
    # them; alone, the budget of 100 messages a second would leave each 2 a second. (The demo's
    # rows are large, 50 tables of them ~0.5 MB/s: the byte budget is lifted, this is about the
    # message budget.)
    monkeypatch.setattr(get_frame_clock(), "byte_budget", 1e8)
    w = make_widget(feed.url, explore=False)
    views = [LiveTable(w.connection, "mission_update", key="id", fps=5) for _ in range(50)]
    for i, view in enumerate(views):
        presence(comm_spy, view, f"v{i}", "page-A")
    wait_until(lambda: all(seqs(comm_spy, v) for v in views), 15)
    start = time.monotonic()
    wait_until(lambda: time.monotonic() > start + 3.0, 5)
    end = time.monotonic()
    rates = [len(seqs(comm_spy, v, start)) / (end - start) for v in views]
    # Past the 2 a second of one message per view (5 on a quiet machine; a loaded one makes the
    # I/O thread late).
    assert min(rates) > 2.2, sorted(rates)[:5]
    published = [p for p in comm_spy.messages() if start <= p.t < end and p.msg_type == "comm_msg"]
    assert len(published) / (end - start) <= 100
    for view in views:
        assert in_sequence(seqs(comm_spy, view))
        view.close()

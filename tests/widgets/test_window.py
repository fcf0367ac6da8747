"""Visible-window sync: a table past WINDOW_AT rows sends each view only the window it names, sorted
and filtered in the kernel; the view's rows, rebuilt from those messages as js/window.ts does, are the
kernel's rows at those places. Played against a real websockets server with the comm spy as the
front end."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from rt_widgets.widgets._base import read_on_io
from rt_widgets.window import MAX_WINDOW_ROWS, WINDOW_AT
from tests._servers import WsServer
from tests.conftest import wait_until

from .conftest import CommSpy

N = WINDOW_AT + 1_000


def rows(n: int, start: int = 0, **extra: Any) -> list[dict[str, Any]]:
    return [{"type": "mission_update",
             "payload": {"id": f"m-{i:05d}", "v": i % 97, "name": f"unit {i}", **extra}}
            for i in range(start, start + n)]


def send_rows(server: WsServer, messages: list[dict[str, Any]]) -> None:
    for i in range(0, len(messages), 500):
        server.send(messages[i:i + 500])


def ask(spy: CommSpy, table: Any, view: str = "v1", start: int = 0, count: int = 30,
        sort: str | None = None, desc: bool = False, filter: str = "") -> None:
    spy.from_front_end(table, {"kind": "presence", "view": view, "lease": 30, "page": "p1"})
    spy.from_front_end(table, {"kind": "window", "view": view, "start": start, "count": count,
                               "sort": sort, "desc": desc, "filter": filter})


class ViewRows:
    """What a windowed view holds, rebuilt from the messages as js/window.ts applies them."""

    def __init__(self, view: str) -> None:
        self.view = view
        self.rows: dict[str, dict[str, Any]] = {}
        self.keys: list[str] = []
        self.total = self.size = self.start = -1
        self.seen = 0

    def follow(self, spy: CommSpy, table: Any) -> ViewRows:
        messages = [c for _, c in spy.custom(table, "window") if c["view"] == self.view]
        for msg in messages[self.seen:]:
            if msg.get("reset"):
                self.rows = {}
            for row in msg.get("upsert", ()):
                if row["id"] in self.rows:
                    self.rows[row["id"]] = self.rows[row["id"]] | row
                else:
                    self.rows[row["id"]] = dict(row)
            if "order" in msg:
                self.keys = list(msg["order"])
                self.rows = {k: v for k, v in self.rows.items() if k in set(self.keys)}
            self.total, self.size, self.start = msg["total"], msg["size"], msg["start"]
        self.seen = len(messages)
        return self


def windowed(spy: CommSpy, table: Any, **window: Any) -> tuple[WsServer, ViewRows]:
    """The feed's server and view ``v1``, once a table of N rows has sent it its window."""
    server: WsServer = table._test_server
    ask(spy, table, **window)
    send_rows(server, rows(N))
    view = ViewRows("v1")
    wait_until(lambda: view.follow(spy, table).size == N, 10, message="windowed")
    return server, view


@pytest.fixture
def big(comm_spy: CommSpy, make_widget: Any, ws_server: Callable[..., WsServer]) -> tuple[Any, Any]:
    server = ws_server()
    w = make_widget(server.url, explore=False)
    table = w.table("mission_update", key="id", max_rows=50_000)
    wait_until(lambda: w.status == "connected", 10, message="connected")
    table._test_server = server
    return w, table


def test_large_table_sends_a_view_only_its_window(comm_spy: CommSpy, big: tuple[Any, Any]) -> None:
    _, table = big
    server: WsServer = table._test_server
    ask(comm_spy, table)
    send_rows(server, rows(N))
    wait_until(lambda: len(table) == N, 10, message=lambda: f"{len(table)} rows")
    view = ViewRows("v1")
    wait_until(lambda: view.follow(comm_spy, table).size == N, 10,
               message=lambda: f"window messages: {comm_spy.custom(table, 'window')[-1:]}")
    # Entering: a snapshot that says the table is windowed, with only its newest rows.
    snaps = [c for _, c in comm_spy.custom(table, "snapshot") if "window" in c]
    assert snaps and len(snaps[0]["rows"]) <= 50 and snaps[0]["truncated"] >= N - 50 - 1_000
    assert view.keys == [f"m-{i:05d}" for i in range(30)]
    assert view.rows == {r["id"]: r for r in table.rows[:30]}
    assert view.total == N

    # An update in the window comes as its changed field; one outside it not at all.
    before = len(comm_spy.messages(table))
    server.send({"type": "mission_update", "payload": {"id": "m-00005", "v": 1000}},
                {"type": "mission_update", "payload": {"id": f"m-{N - 7:05d}", "v": 2000}})
    wait_until(lambda: view.follow(comm_spy, table).rows["m-00005"]["v"] == 1000, 10,
               message="the windowed row's update")
    later = [p.data for p in comm_spy.messages(table)[before:] if p.msg_type == "comm_msg"]
    texts = [str(d) for d in later]
    assert not any(f"m-{N - 7:05d}" in t for t in texts)
    window_msgs = [d["content"] for d in later if d.get("content", {}).get("kind") == "window"]
    assert {"id": "m-00005", "v": 1000} in [u for m in window_msgs for u in m.get("upsert", ())]
    # No delta carries rows while the table is windowed.
    assert not [d for d in later if d.get("content", {}).get("kind") in ("delta", "packed")]
    assert read_on_io(lambda: table._table.get(f"m-{N - 7:05d}"))["v"] == 2000


def test_the_kernel_sorts_filters_and_scrolls_the_window(comm_spy: CommSpy, big: tuple[Any, Any]
                                                         ) -> None:
    _, table = big
    _server, view = windowed(comm_spy, table)

    ask(comm_spy, table, start=100, count=40, sort="v", desc=True)
    all_rows = table.rows
    expected = [r["id"] for r in sorted(all_rows, key=lambda r: r["v"], reverse=True)][100:140]
    wait_until(lambda: view.follow(comm_spy, table).keys == expected, 10,
               message=lambda: f"sorted window {view.keys[:3]} against {expected[:3]}")
    by_id = {r["id"]: r for r in all_rows}
    assert view.rows == {k: by_id[k] for k in expected}
    assert (view.start, view.total) == (100, N)

    # Filtered: the total is what the filter keeps; the text matches any shown column.
    ask(comm_spy, table, start=0, count=MAX_WINDOW_ROWS + 50, filter=" UNIT 12")
    kept = [r["id"] for r in all_rows if "unit 12" in r["name"]]
    wait_until(lambda: view.follow(comm_spy, table).total == len(kept), 10,
               message=lambda: f"filtered total {view.total}, expected {len(kept)}")
    assert view.keys == kept[:MAX_WINDOW_ROWS]  # a window holds at most MAX_WINDOW_ROWS rows


def test_two_views_get_their_own_windows(comm_spy: CommSpy, big: tuple[Any, Any]) -> None:
    _, table = big
    server: WsServer = table._test_server
    ask(comm_spy, table, view="a", start=0, count=10)
    ask(comm_spy, table, view="b", start=N - 10, count=10)
    send_rows(server, rows(N))
    a, b = ViewRows("a"), ViewRows("b")
    wait_until(lambda: a.follow(comm_spy, table).size == N and b.follow(comm_spy, table).size == N,
               10, message="both windowed")
    assert a.keys == [f"m-{i:05d}" for i in range(10)]
    assert b.keys == [f"m-{i:05d}" for i in range(N - 10, N)]


def test_bad_window_request_is_refused_and_loses_nothing(
        comm_spy: CommSpy, big: tuple[Any, Any], caplog: pytest.LogCaptureFixture) -> None:
    _, table = big
    server, view = windowed(comm_spy, table, count=20)
    with caplog.at_level(logging.WARNING, logger="rt_widgets"):
        comm_spy.from_front_end(table, {"kind": "window", "view": "v1", "start": -3, "count": 10,
                                        "sort": None, "desc": False, "filter": ""})
    assert "start must be an integer >= 0" in caplog.text
    server.send({"type": "mission_update", "payload": {"id": "m-00003", "v": 555}})
    wait_until(lambda: view.follow(comm_spy, table).rows.get("m-00003", {}).get("v") == 555, 10,
               message="the window still follows")
    assert len(view.keys) == 20


def test_a_table_cleared_below_the_threshold_sends_views_every_row_again(
        comm_spy: CommSpy, big: tuple[Any, Any]) -> None:
    _, table = big
    server, _view = windowed(comm_spy, table)
    table.clear()
    send_rows(server, rows(50, start=7))
    wait_until(lambda: len(table) == 50, 10, message="50 rows")

    def whole() -> bool:
        snaps = [c for _, c in comm_spy.custom(table, "snapshot") if "window" not in c]
        deltas = [c for _, c in comm_spy.custom(table, "delta")]
        held = {r["id"] for s in snaps[-1:] for r in s["rows"]} | {
            r["id"] for d in deltas if snaps and d["seq"] > snaps[-1]["seq"] for r in d.get("upsert", ())}
        return held == {f"m-{i:05d}" for i in range(7, 57)}

    wait_until(whole, 10, message="every row sent again after the table left window mode")


def test_a_view_is_told_the_table_is_windowed_and_then_names_its_window(
        comm_spy: CommSpy, big: tuple[Any, Any]) -> None:
    _, table = big
    server: WsServer = table._test_server
    comm_spy.from_front_end(table, {"kind": "presence", "view": "late", "lease": 30})
    send_rows(server, rows(N))
    wait_until(lambda: [c for _, c in comm_spy.custom(table, "snapshot") if c.get("window") == N],
               10, message="a snapshot that says the table is windowed")
    assert not comm_spy.custom(table, "window")  # nothing until the view names its window
    ask(comm_spy, table, view="late", start=N - 5, count=10)
    view = ViewRows("late")
    wait_until(lambda: view.follow(comm_spy, table).keys, 10, message="the window")
    # Near the end a window keeps its size: it starts earlier.
    assert (view.start, view.keys) == (N - 10, [f"m-{i:05d}" for i in range(N - 10, N)])


def test_pause_holds_the_window_and_resume_sends_it_whole(comm_spy: CommSpy, big: tuple[Any, Any]
                                                          ) -> None:
    _, table = big
    server, view = windowed(comm_spy, table, count=10)
    table.pause()
    wait_until(lambda: read_on_io(lambda: table._held), 5, message="paused on the I/O thread")
    held_at = len(comm_spy.custom(table, "window"))
    server.send({"type": "mission_update", "payload": {"id": "m-00002", "v": 4242}})
    wait_until(lambda: comm_spy.custom(table, "waiting"), 10, message="a waiting count")
    assert len(comm_spy.custom(table, "window")) == held_at  # nothing while paused
    table.resume()

    def whole_again() -> bool:
        later = [c for _, c in comm_spy.custom(table, "window")][held_at:]
        return any(c.get("reset") for c in later)

    wait_until(whole_again, 10, message="the window sent whole after the resume")
    assert view.follow(comm_spy, table).rows["m-00002"]["v"] == 4242


def test_window_rows_none_sends_every_row_and_a_bad_value_is_refused(
        comm_spy: CommSpy, big: tuple[Any, Any]) -> None:
    _, table = big
    server: WsServer = table._test_server
    with pytest.raises(ValueError, match="window_rows must be a number of rows"):
        table.window_rows = 0
    assert table.window_rows == WINDOW_AT  # the refused value changed nothing
    table.window_rows = None
    ask(comm_spy, table)
    send_rows(server, rows(N))
    held: set[str] = set()

    def every_row() -> bool:
        for _, d in comm_spy.custom(table, "delta"):
            held.update(r["id"] for r in d.get("upsert", ()))
        return len(held) == N

    wait_until(every_row, 10, message=lambda: f"{len(held)} rows in deltas")
    assert not comm_spy.custom(table, "window")
    # Back on: the next flush windows the table.
    table.window_rows = 1_000
    view = ViewRows("v1")
    wait_until(lambda: view.follow(comm_spy, table).size == N, 10, message="windowed again")


def test_a_grouped_view_gets_every_group_made_in_the_kernel(comm_spy: CommSpy, big: tuple[Any, Any]
                                                            ) -> None:
    _, table = big
    server, _view = windowed(comm_spy, table)
    before = len(comm_spy.custom(table, "window"))
    comm_spy.from_front_end(table, {"kind": "window", "view": "v1", "start": 0, "count": 1,
                                    "sort": None, "desc": False, "filter": "", "group": "v"})

    def grouped() -> list[dict[str, Any]]:
        return [c for _, c in comm_spy.custom(table, "window")[before:] if "grouped" in c]

    wait_until(grouped, 10, message="a grouped window")
    first = grouped()[0]
    assert first["reset"] and first["grouped"]["rows"] == N
    assert (first["size"], first["total"]) == (N, len({r["v"] for r in table.rows}))
    assert first["columns"][:2] == ["group", "count"]
    labels = first["grouped"]["labels"]
    assert labels[:2] == ["v", "count"] and "sum(name)" not in labels  # name is no number
    by_v: dict[int, int] = {}
    for r in table.rows:
        by_v[r["v"]] = by_v.get(r["v"], 0) + 1
    assert first["order"] == list(by_v)  # every group, in order of first appearance
    assert {g["group"]: g["count"] for g in first["upsert"]} == by_v
    # A change to one row updates its group only.
    server.send({"type": "mission_update", "payload": {"id": "m-00000", "v": 96}})
    wait_until(lambda: any(g.get("group") == 96 for c in grouped()[1:] for g in c.get("upsert", ())),
               10, message="the changed group")
    later = grouped()[-1]
    assert {g["group"] for g in later.get("upsert", ())} <= {0, 96}


def test_the_last_change_of_a_feed_gone_quiet_is_placed_in_a_sorted_window(
        comm_spy: CommSpy, big: tuple[Any, Any]) -> None:
    _, table = big
    server, view = windowed(comm_spy, table, count=5, sort="v", desc=True)
    wait_until(lambda: view.follow(comm_spy, table).keys
               and view.rows[view.keys[0]]["v"] == 96, 10, message="sorted by v, descending")
    # One update, then nothing: the reused order is made again and the row moves to the top.
    server.send({"type": "mission_update", "payload": {"id": "m-00007", "v": 5000}})
    wait_until(lambda: view.follow(comm_spy, table).keys[:1] == ["m-00007"], 10,
               message=lambda: f"the window starts {view.keys[:3]}")

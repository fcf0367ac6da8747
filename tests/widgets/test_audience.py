"""No audience, no traffic: a widget family with no view sends no comm message, keeps ingesting, and
catches its views up when one returns; a widget whose host closes its comm closes its connection.

Views are played by the comm spy: a ``presence`` message is what a rendered view sends its model.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from rt_widgets.demo import DemoServer
from rt_widgets.widgets import _audience
from rt_widgets.widgets._audience import Audience, parse_presence
from tests.conftest import wait_until

from .conftest import CommSpy


@pytest.fixture
def short_grace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_audience, "FIRST_GRACE", 1.0)
    monkeypatch.setattr(_audience, "GRACE", 0.5)
    monkeypatch.setattr(_audience, "LATE", 0.5)


@pytest.fixture
def feed() -> Iterator[DemoServer]:
    with DemoServer(port=0, rate=100, seed=3) as server:
        yield server


def presence(spy: CommSpy, widget: Any, view: str, lease: float) -> None:
    spy.from_front_end(widget, {"kind": "presence", "view": view, "lease": lease})


def comm_msgs(spy: CommSpy, since: float, until: float | None = None) -> list[Any]:
    return [p for p in spy.messages() if p.msg_type == "comm_msg" and p.t >= since
            and (until is None or p.t < until)]


def silent_since(spy: CommSpy, quiet: float) -> float | None:
    """The time of the last comm message, once none came for ``quiet`` seconds."""
    last = max((p.t for p in spy.messages() if p.msg_type == "comm_msg"), default=0.0)
    return last if time.monotonic() - last >= quiet else None


# -- the pure audience ---------------------------------------------------------------------------


def test_leases_goodbyes_and_the_first_grace() -> None:
    a = Audience(now=0.0, first_grace=5.0, grace=3.0, late=0.0)
    assert a.watched and a.next_check() == 5.0
    assert a.check(4.9) is None and a.watched
    assert a.presence("v1", 6.0, now=1.0) is False  # a new view of a watched family
    assert a.presence("v1", 6.0, now=3.0) is None   # a renewal
    assert a.check(8.9) is None and a.watched        # lease until 9
    assert a.check(9.0) is False and not a.watched   # it ran out: silent
    assert a.next_check() is None
    assert a.presence("v1", 0.0, now=10.0) is None and not a.watched  # a late goodbye changes nothing
    assert a.presence("v2", 6.0, now=11.0) is True and a.watched      # a view brings it back
    assert a.presence("v3", 6.0, now=11.0) is False and a.views == 2
    a.presence("v2", 0.0, now=12.0)
    a.presence("v3", 0.0, now=12.0)
    assert a.next_check() == 15.0                    # gone, but counted for GRACE
    assert a.presence("v2", 6.0, now=14.0) is None   # back within the grace: no flap
    assert a.check(15.0) is None and a.watched


def test_a_late_beat_keeps_the_lease_and_a_lost_page_still_ends_it() -> None:
    # A fake clock: beats every 2 s with a 5 s lease, as the views send them.
    a = Audience(now=0.0, first_grace=5.0, grace=3.0, late=5.0)
    assert a.presence("v", 5.0, now=1.0) is False
    assert a.presence("v", 5.0, now=3.0) is None
    # The page is busy: the next beat comes 9 s after the last one, 4 s after its lease ended.
    assert a.next_check() == 3.0 + 5.0 + 5.0
    assert a.check(8.0) is None and a.check(11.9) is None and a.watched
    assert a.presence("v", 5.0, now=12.0) is None   # a renewal, not a return: no catching up
    assert a.watched and a.lapsed == 0
    assert a.longest_gap == 9.0
    # A page that vanished without a word is let go LATE after its lease ended, not before.
    assert a.check(21.9) is None and a.watched
    assert a.check(22.0) is False and not a.watched and a.lapsed == 1
    # A goodbye still ends a view after GRACE, whatever LATE is.
    assert a.presence("w", 5.0, now=30.0) is True
    a.presence("w", 0.0, now=31.0)
    assert a.next_check() == 34.0 and a.check(34.0) is False and a.lapsed == 1


def test_presence_messages_are_parsed_strictly() -> None:
    assert parse_presence({"kind": "presence", "view": "a", "lease": 5}) == ("a", 5.0)
    assert parse_presence({"kind": "presence", "view": "a", "lease": 1e12}) == ("a", 3600.0)
    assert parse_presence({"kind": "presence", "view": "a", "lease": -2}) == ("a", 0.0)
    for bad in ({"kind": "presence", "view": "", "lease": 5}, {"kind": "presence", "lease": 5},
                {"kind": "presence", "view": "a", "lease": True},
                {"kind": "presence", "view": "a", "lease": float("nan")},
                {"kind": "presence", "view": 3, "lease": 5}, {"kind": "other"}, [], None):
        assert parse_presence(bad) is None, bad


# -- widgets -------------------------------------------------------------------------------------


def test_no_view_no_comm_traffic_after_the_grace(short_grace: None, comm_spy: CommSpy,
                                                 make_widget: Any, feed: DemoServer) -> None:
    w = make_widget(feed.url)
    wait_until(lambda: w.status == "connected", 10)
    table = w.table("mission_update")
    metrics = w.metrics("metrics_update")
    wait_until(lambda: table.rows and metrics.latest, 10)
    quiet_at = wait_until(lambda: silent_since(comm_spy, 1.0), 10,
                          message="the widget kept sending with no view")
    window = time.monotonic()
    received = w.connection.stats()["messages_in"]
    rows_seen = {r["id"]: dict(r) for r in table.rows}
    # Stores keep ingesting, traits keep their Python values; nothing reaches the comm.
    wait_until(lambda: w.connection.stats()["messages_in"] > received + 100, 10)
    wait_until(lambda: {r["id"]: dict(r) for r in table.rows} != rows_seen, 10)
    assert w.stats["messages_in"] > received or w.connection.stats()["messages_in"] > received
    assert comm_msgs(comm_spy, quiet_at + 1e-6) == []
    assert time.monotonic() - window > 0.5


def test_a_returning_view_gets_a_fresh_snapshot_then_deltas(short_grace: None, comm_spy: CommSpy,
                                                           make_widget: Any,
                                                           feed: DemoServer) -> None:
    w = make_widget(feed.url)
    table = w.table("mission_update")
    wait_until(lambda: table.rows, 10)
    wait_until(lambda: silent_since(comm_spy, 0.8), 10)
    back = time.monotonic()
    presence(comm_spy, table, "view-1", 30)
    # The view is told a kernel holds its model, and the family's traits and snapshots catch up.
    wait_until(lambda: comm_spy.custom(table, "live"), 5)
    assert comm_spy.custom(table, "live")[0][1] == {"kind": "live", "view": "view-1"}
    wait_until(lambda: any("_snapshot" in s for t, s in comm_spy.updates(table) if t >= back), 5)
    wait_until(lambda: any("stats" in s for t, s in comm_spy.updates(w) if t >= back), 5)
    snap = next(s["_snapshot"] for t, s in comm_spy.updates(table) if t >= back and "_snapshot" in s)
    assert snap["rows"], "the fresh snapshot has the rows that came while nobody watched"
    assert "as_of" in next(s for t, s in comm_spy.updates(table) if t >= back and "_snapshot" in s)
    wait_until(lambda: [c for t, c in comm_spy.custom(table, "delta") if t >= back
                        and c["seq"] > snap["seq"]], 5)
    # A renewal is not answered again.
    presence(comm_spy, table, "view-1", 30)
    presence(comm_spy, w, "view-2", 30)  # the explorer's own view: the same family
    wait_until(lambda: comm_spy.custom(w, "live"), 5)
    assert len(comm_spy.custom(table, "live")) == 1


def test_goodbye_and_a_lost_page_end_the_traffic(short_grace: None, comm_spy: CommSpy,
                                                 make_widget: Any, feed: DemoServer) -> None:
    w = make_widget(feed.url)
    presence(comm_spy, w, "v", 60)
    table = w.table("mission_update")
    start = time.monotonic()
    wait_until(lambda: time.monotonic() - start > 1.5 and comm_msgs(comm_spy, start + 1.2), 10,
               message="a watched family stopped sending")
    bye = time.monotonic()
    presence(comm_spy, w, "v", 0)
    quiet = wait_until(lambda: silent_since(comm_spy, 1.0), 10)
    assert quiet - bye < 0.5 + 0.5, "silent GRACE after the goodbye"
    # A page that vanished without a word: its lease runs out.
    presence(comm_spy, table, "t", 1.0)
    lost = time.monotonic()
    wait_until(lambda: comm_msgs(comm_spy, lost), 5)
    quiet = wait_until(lambda: (q := silent_since(comm_spy, 1.0)) and q > lost and q, 10)
    assert quiet - lost < 1.0 + 0.5 + 0.5, "silent LATE after the lease ended"


def test_host_closing_the_comm_closes_the_connection(comm_spy: CommSpy, make_widget: Any,
                                                     ws_server: Any) -> None:
    server = ws_server()
    # The front end closes the comm (a comm_close message).
    w = make_widget(server.url)
    wait_until(lambda: server.open_connections == 1, 10)
    comm_spy.comms[w.model_id].handle_close({"content": {"comm_id": w.model_id, "data": {}}})
    wait_until(lambda: w.closed and w.connection.state.value == "closed", 5)
    wait_until(lambda: server.open_connections == 0, 5)
    # The host closes it in the kernel, as marimo does when a session ends.
    w2 = make_widget(server.url)
    status = w2.status_indicator()
    wait_until(lambda: server.open_connections == 1, 10)
    w2.comm.close()
    wait_until(lambda: w2.closed and status.closed, 5)
    wait_until(lambda: server.open_connections == 0, 5)
    # Closing a child's comm closes the child only.
    w3 = make_widget(server.url)
    table = w3.table("row")
    table.comm.close()
    assert table.closed and not w3.closed


def test_a_bare_widget_goes_quiet_too(short_grace: None, comm_spy: CommSpy, make_widget: Any,
                                      feed: DemoServer) -> None:
    w = make_widget(feed.url, explore=False)
    wait_until(lambda: w.status == "connected", 10)
    quiet_at = wait_until(lambda: silent_since(comm_spy, 1.0), 10,
                          message="a widget with no view and no child kept sending")
    received = w.connection.stats()["messages_in"]
    wait_until(lambda: w.connection.stats()["messages_in"] > received + 50, 10)
    assert comm_msgs(comm_spy, quiet_at + 1e-6) == []


def test_a_late_beat_from_a_busy_page_sends_no_snapshot(monkeypatch: pytest.MonkeyPatch,
                                                         comm_spy: CommSpy, make_widget: Any,
                                                         feed: DemoServer) -> None:
    monkeypatch.setattr(_audience, "FIRST_GRACE", 0.5)
    monkeypatch.setattr(_audience, "LATE", 3.0)
    w = make_widget(feed.url, explore=False)
    table = w.table("mission_update")
    presence(comm_spy, table, "busy-page", 1.0)
    wait_until(lambda: comm_spy.custom(table, "live"), 5)
    wait_until(lambda: len(comm_spy.custom(table, "delta")) > 3, 10)
    returns = _audience.counts().get("return", 0.0)
    # The next beat comes 2 s later, a second after its 1 s lease ended (LATE is 3 s).
    beat = time.monotonic()
    wait_until(lambda: time.monotonic() - beat >= 2.0, 5)
    late = time.monotonic()
    presence(comm_spy, table, "busy-page", 1.0)
    wait_until(lambda: [1 for t, _ in comm_spy.custom(table, "delta") if t > late + 0.5], 10)
    # The family never went silent: deltas ran on in sequence, and the late beat was a renewal
    # (no second "live", no return with its fresh snapshot).
    seqs = [c["seq"] for _, c in comm_spy.custom(table, "delta")]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "a delta was held back"
    assert [c for _, c in comm_spy.custom(table, "live")] == [{"kind": "live", "view": "busy-page"}]
    assert _audience.counts().get("return", 0.0) == returns
    assert not [s for t, s in comm_spy.updates(table) if t > late and "_snapshot" in s
                and t - late < 0.5], "a snapshot went out for the late beat"


def test_the_explorers_views_send_nothing_until_shown_or_asked_for(
        short_grace: None, comm_spy: CommSpy, make_widget: Any, feed: DemoServer) -> None:
    from rt_widgets.widgets.chart import LiveChart
    from rt_widgets.widgets.table import LiveTable

    w = make_widget(feed.url)
    presence(comm_spy, w, "explorer", 30)  # the explorer is on screen, with none of its tabs open
    wait_until(lambda: w._views.of(LiveChart) and w._views.of(LiveTable), 10)
    chart, table = w._views.of(LiveChart)[0], w._views.of(LiveTable)[0]
    wait_until(lambda: chart.series and len(table) > 0, 10)
    quiet_from = time.monotonic()
    wait_until(lambda: time.monotonic() - quiet_from > 1.5, 5)
    for view in (chart, table):
        assert comm_spy.custom(view, "delta") == [], "a delta went to a tab nobody opened"
        assert not [s for _, s in comm_spy.updates(view) if "_snapshot" in s]

    def opened_at(view: Any) -> int:
        first = next(p for p in comm_spy.messages(view) if p.msg_type == "comm_open")
        return int(first.data["state"]["_snapshot"]["seq"])

    # Its tab opens: deltas follow on from the state the view opened with, with no snapshot.
    presence(comm_spy, chart, "tab", 30)
    wait_until(lambda: len(comm_spy.custom(chart, "delta")) > 2, 5)
    seqs = [c["seq"] for _, c in comm_spy.custom(chart, "delta")]
    assert seqs == list(range(opened_at(chart) + 1, opened_at(chart) + 1 + len(seqs)))
    # The tab closes: quiet again, GRACE later.
    presence(comm_spy, chart, "tab", 0)
    bye = time.monotonic()
    wait_until(lambda: time.monotonic() - bye > 1.5, 5)
    assert not [1 for t, _ in comm_spy.custom(chart, "delta") if t > bye + 1.0]
    # Asked for by name: code may show it anywhere, so it follows the family's rule again.
    assert w.table(table.message_type) is table
    wait_until(lambda: comm_spy.custom(table, "delta"), 5)
    assert comm_spy.custom(table, "delta")[0][1]["seq"] == opened_at(table) + 1

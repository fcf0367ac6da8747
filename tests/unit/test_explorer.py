"""The explorer model with no widget: type statistics, kinds, view plans and connection notices."""

from __future__ import annotations

import doctest
from typing import Any

import pytest

from rt_widgets import explorer
from rt_widgets.explorer import (
    MAX_AUTO_VIEWS,
    OTHER_TYPES,
    ConnectionNotices,
    Explorer,
    Notice,
    TypeStats,
    ViewPlan,
    infer_kind,
)


def test_the_module_examples_hold() -> None:
    result = doctest.testmod(explorer)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize(("type", "payload", "kind"), [
    ("notification", "text", "notifications"),
    ("notification", None, "notifications"),  # the type alone decides
    ("metrics_update", {"cpu": 1, "mem": 2.5}, "metrics"),
    ("metrics_update", {"cpu": 1, "ok": True}, "log"),  # booleans are not metrics
    ("metrics_update", {"cpu": "1"}, "metrics"),  # a numeric string is a number
    ("metrics_update", {"cpu": "high"}, "log"),
    ("mission_update", {"id": 1, "progress": 0.5}, "table"),  # a key wins over numbers
    ("mission_update", [{"id": 1}, {"id": 2}], "table"),
    ("mission_update", [{"id": 1}, {"name": 2}], "log"),
    ("log", "line", "log"),
    ("log", {}, "log"),
    ("log", [], "log"),
    ("log", 3, "log"),
    ("empty", None, None),  # undecided until a payload says more
])
def test_infer_kind(type: str, payload: Any, kind: str | None) -> None:
    assert infer_kind(type, payload) == kind


def test_type_stats_rate_window_and_per_second_history() -> None:
    stats = TypeStats(100.0)
    for i in range(50):  # 50 messages over 0.5 s
        stats.hit(100.0 + i * 0.01)
    assert stats.count == 50
    assert stats.rate(100.5) == 50
    assert stats.rate(101.45) == 0  # (100.45, 101.45] holds none of them
    assert list(stats.seconds) == [50]
    assert stats.rate(104.0) == 0 and list(stats.seconds) == [50, 0, 0, 0]
    stats.advance(1000.0)
    assert len(stats.seconds) == 60 and stats.active(1000.0) is False
    stats.hit(1000.2)
    assert stats.active(1000.2) and stats.rate(1000.3) == 1


def test_first_message_of_a_type_plans_its_view_with_that_message() -> None:
    ex = Explorer()
    assert ex.observe("metrics_update", {"cpu": 1.5}, 10.0) == ViewPlan(
        "metrics", "metrics_update", [{"cpu": 1.5}])
    assert ex.observe("metrics_update", {"cpu": 2.0}, 10.1) is None
    assert ex.observe("notification", "hi", 10.2) == ViewPlan("notifications", "notification",
                                                               ["hi"])
    assert ex.observe("log", "text", 10.3) == ViewPlan("log", "log", ["text"])  # its messages
    assert ex.planned == 3
    assert {t: s.kind for t, s in ex.types.items()} == {
        "metrics_update": "metrics", "notification": "notifications", "log": "log"}


def test_a_type_whose_first_payload_decides_nothing_is_logged_until_one_does() -> None:
    ex = Explorer()
    assert ex.observe("order", None, 1.0) == ViewPlan("log", "order", [None])
    assert ex.types["order"].kind == "log"
    # The table starts with what it can show of the messages so far.
    assert ex.observe("order", {"id": 7}, 1.1) == ViewPlan("table", "order", [{"id": 7}], "id")
    assert ex.types["order"].count == 2
    assert ex.overview(2.0, 1_000.0)["order"]["kind"] == "table"


def test_a_batch_seeds_the_new_view_with_the_deciding_message_and_the_rest() -> None:
    ex = Explorer()
    rows = [None, None, {"id": 1}, {"id": 2}, {"id": 3}]
    plan = ex.observe_many("order", rows, 5.0)
    assert plan == ViewPlan("table", "order", [{"id": 1}, {"id": 2}, {"id": 3}], "id")
    assert ex.types["order"].count == 5
    # A known type's batch is counted in one step and plans nothing.
    assert ex.observe_many("order", [{"id": 4}] * 10, 5.1) is None
    assert ex.types["order"].count == 15
    assert ex.observe_many("order", [], 5.2) is None


def test_a_seed_is_a_copy_of_the_batch() -> None:
    ex = Explorer()
    batch: list[Any] = [{"id": 1}]
    plan = ex.observe_many("order", batch, 1.0)
    batch.append({"id": 2})
    assert plan is not None and plan.seed == [{"id": 1}]


def test_no_views_without_make_views_and_at_most_max_views() -> None:
    quiet = Explorer(make_views=False)
    assert quiet.observe("order", {"id": 1}, 1.0) is None
    assert quiet.types["order"].kind == "table"  # still inferred, for the overview

    ex = Explorer()
    plans = [ex.observe(f"t{i}", {"id": i}, 1.0) for i in range(MAX_AUTO_VIEWS + 5)]
    assert sum(p is not None for p in plans) == MAX_AUTO_VIEWS
    assert all(p is None for p in plans[MAX_AUTO_VIEWS:])


def test_types_past_the_limit_are_counted_together_and_make_no_view() -> None:
    ex = Explorer(max_types=3)
    for i in range(3):
        ex.observe(f"t{i}", {"id": i}, 1.0)
    assert ex.observe("t3", {"id": 3}, 1.0) is None
    assert ex.observe_many("t4", [{"id": 4}, {"id": 5}], 1.0) is None
    assert list(ex.types) == ["t0", "t1", "t2", OTHER_TYPES]
    assert ex.types[OTHER_TYPES].count == 3 and ex.types[OTHER_TYPES].kind == "raw"
    assert ex.types["t0"].count == 1  # the known types keep their own counts


def test_overview_entries_and_activity() -> None:
    ex = Explorer()
    for i in range(4):
        ex.observe("tick", {"n": i}, 100.0 + i * 0.1)
    overview = ex.overview(now=100.5, wall=1_700_000_000.5)
    assert overview == {"tick": {
        "count": 4, "rate": 4, "kind": "metrics", "rates": [],
        # last seen at 100.3, 0.2 s before the wall time given for 100.5
        "last_seen": "2023-11-14T22:13:20.300+00:00"}}
    assert ex.active(100.5)
    later = ex.overview(now=103.0, wall=1_700_000_003.0)["tick"]
    assert later["rate"] == 0 and later["rates"] == [4, 0, 0]
    assert not ex.active(100.3 + 61.0)


# -- connection notices ---------------------------------------------------------------------------


def test_reconnected_only_after_a_reconnect_with_the_failed_attempts() -> None:
    notices = ConnectionNotices()
    assert notices.state_changed("disconnected", "connecting", attempt=0, last_error=None) is None
    assert notices.state_changed("connecting", "connected", attempt=0, last_error=None) is None
    assert notices.state_changed("connected", "reconnecting", attempt=0, last_error="x") is None
    assert notices.state_changed("reconnecting", "connected", attempt=3, last_error=None) == Notice(
        "success", "Reconnected", "Connection restored after 3 failed attempts.")
    one = notices.state_changed("reconnecting", "connected", attempt=1, last_error=None)
    assert one is not None and one.message == "Connection restored after 1 failed attempt."
    none = notices.state_changed("reconnecting", "connected", attempt=0, last_error=None)
    assert none is not None and none.message == "Connection restored."
    # connect() after disconnect(): no "Reconnected", the user asked for it.
    assert notices.state_changed("connecting", "connected", attempt=0, last_error=None) is None
    assert [n.message for n in notices.backlog] == [
        "Connection restored after 3 failed attempts.",
        "Connection restored after 1 failed attempt.", "Connection restored."]


def test_connection_lost_when_it_gave_up_scrubbed_unless_the_user_disconnected() -> None:
    notices = ConnectionNotices(scrub=lambda text: text.replace("s3cret", "***"))
    lost = notices.state_changed("reconnecting", "disconnected", attempt=5,
                                 last_error="handshake 403 for ws://u:s3cret@h/")
    assert lost is not None and lost.level == "error" and lost.title == "Connection lost"
    assert "s3cret" not in lost.message and "ws://u:***@h/" in lost.message
    assert lost.source == "connection"
    # No error to report: nothing.
    assert notices.state_changed("connected", "disconnected", attempt=0, last_error=None) is None
    notices.expect_disconnect = True
    assert notices.state_changed("connected", "disconnected", attempt=0, last_error="x") is None


def test_counter_notices_say_how_many_and_wait_their_interval() -> None:
    notices = ConnectionNotices(interval=5.0)
    assert notices.counters({"dropped": 0, "decode_errors": 0}, 0.0) == []
    first = notices.counters({"dropped": 3, "decode_errors": 1}, 1.0)
    assert [(n.title, n.message.split(" ")[0]) for n in first] == [
        ("Send queue full", "3"), ("Malformed messages", "1")]
    assert all(n.level == "warning" for n in first)
    assert notices.counters({"dropped": 4, "decode_errors": 1}, 3.0) == []  # within 5 s
    later = notices.counters({"dropped": 6, "decode_errors": 1}, 6.5)
    assert [n.message for n in later] == [
        "3 queued message(s) dropped while offline; raise queue_limit to keep more."]
    assert notices.counters({"dropped": "?"}, 100.0) == []  # not a count: ignored


def test_alerts_and_a_bounded_backlog() -> None:
    notices = ConnectionNotices(backlog=3)
    alert = notices.alert("cpu is 95, above 90")
    assert alert == Notice("warning", "Threshold crossed", "cpu is 95, above 90", "threshold")
    for i in range(5):
        notices.alert(f"a{i}")
    assert [n.message for n in notices.backlog] == ["a2", "a3", "a4"]

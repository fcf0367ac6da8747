"""RealtimeWidget against a real loopback server, observed through the comm spy."""

from __future__ import annotations

import itertools
import json
import random
import time
from collections import OrderedDict
from typing import Any

import pytest

from rt_widgets import Backoff
from rt_widgets.widgets import (
    ConnectionStatus,
    LiveMetrics,
    LiveStore,
    LiveTable,
    Notifications,
    RealtimeWidget,
)
from tests.conftest import wait_until
from tests.widgets.conftest import CommSpy


def frame(type: str, payload: Any) -> str:
    return json.dumps({"type": type, "payload": payload, "timestamp": "2026-01-01T00:00:00Z"})


def wait_connected(w: Any, server: Any, links: int = 1) -> None:
    """Both ends are up: the widget shows connected and the server holds the link (it registers
    the link a moment after the client's handshake completes)."""
    wait_until(lambda: w.status == "connected" and server.open_connections == links, 10,
               message=lambda: f"status {w.status}, {server.open_connections} link(s)")


def max_per_window(times: list[float], window: float = 1.0) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end in range(len(times)):
        while times[end] - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def replay_table(deltas: list[dict[str, Any]], key: str = "id") -> list[dict[str, Any]]:
    """What the table view holds after applying the deltas (clear, delete, upsert)."""
    rows: dict[Any, dict[str, Any]] = {}
    for delta in deltas:
        if delta.get("clear"):
            rows.clear()
        for k in delta.get("delete", []):
            rows.pop(k, None)
        for row in delta.get("upsert", []):
            rows.setdefault(row[key], {}).update(row)
    return list(rows.values())


def view_latest(comm_spy: CommSpy, metrics: Any) -> dict[str, float]:
    """What the metrics view holds as each series' latest value after the deltas so far."""
    merged: dict[str, float] = {}
    for _, d in comm_spy.custom(metrics, "delta"):
        merged.update(d.get("latest", {}))
    return merged


# -- traits per state -----------------------------------------------------------------------


def test_status_traits_follow_every_state(ws_server: Any, make_widget: Any,
                                          comm_spy: CommSpy) -> None:
    server = ws_server()
    w = make_widget(server.url, fps=20, backoff=Backoff(initial=5, maximum=5, jitter="none"))
    wait_until(lambda: comm_spy.view_state(w).get("status") == "connected", 10)
    state = comm_spy.view_state(w)
    assert state["_view"] == "realtime"
    assert state["url"] == server.url and state["attempt"] == 0 and state["error"] is None
    assert state["stats"]["reconnects"] == 0

    server.kill()
    wait_until(lambda: comm_spy.view_state(w).get("status") == "reconnecting"
               and comm_spy.view_state(w).get("next_retry_in") is not None, 10)
    state = comm_spy.view_state(w)
    assert 0 < state["next_retry_in"] <= 5
    assert state["attempt"] >= 1 and state["error"]

    server.restart()
    w.connection.retry_now()
    wait_until(lambda: comm_spy.view_state(w).get("status") == "connected", 10)
    assert comm_spy.view_state(w)["next_retry_in"] is None
    wait_until(lambda: comm_spy.view_state(w)["stats"]["reconnects"] == 1, 5)

    w.disconnect()
    wait_until(lambda: comm_spy.view_state(w).get("status") == "disconnected", 10)
    w.close()
    assert comm_spy.view_state(w)["status"] == "closed"
    assert comm_spy.messages(w)[-1].msg_type == "comm_close"
    assert w.connection.state == "closed"
    # Every status the view saw, in order, each one sent once per change.
    seen = [s["status"] for _, s in comm_spy.updates(w) if "status" in s]
    assert seen == ["connecting", "connected", "reconnecting", "connected", "disconnected",
                    "closed"] or seen == ["connected", "reconnecting", "connected",
                                          "disconnected", "closed"]


def test_one_comm_message_per_flush_and_kernel_owned_traits(ws_server: Any, make_widget: Any,
                                                             comm_spy: CommSpy) -> None:
    server = ws_server()
    w = make_widget(server.url, fps=5)
    wait_connected(w, server)
    server.send(*(frame("tick", {"n": i}) for i in range(50)))
    wait_until(lambda: comm_spy.view_state(w).get("overview", {}).get("tick", {}).get("count")
               == 50, 10)
    # status, stats and overview changed together: they travel in one update message.
    for _, state in comm_spy.updates(w):
        if "overview" in state and "stats" in state:
            break
    else:
        pytest.fail("no update carried stats and overview together")
    # A front-end write to a kernel-owned trait is not echoed back.
    assert RealtimeWidget.status.metadata["echo_update"] is False


# -- the hot path ---------------------------------------------------------------------------


def test_20k_messages_in_one_second_bounded_rate_and_exact_final_state(
        ws_server: Any, make_widget: Any, comm_spy: CommSpy) -> None:
    fps = 10
    server = ws_server()
    w = make_widget(server.url, fps=fps)
    table = w.table("mission_update", key="id", max_rows=300, delete_type="mission_removed")
    metrics = w.metrics("metrics_update")
    wait_connected(w, server)

    rng = random.Random(3)
    frames: list[str] = []
    expected: OrderedDict[int, dict[str, Any]] = OrderedDict()
    latest: dict[str, float] = {}
    for i in range(20_000):
        r = rng.random()
        if r < 0.8:
            mid = rng.randrange(500)
            fields = {"id": mid, rng.choice(["status", "progress", "eta"]): i}
            frames.append(frame("mission_update", fields))
            if mid in expected:
                expected[mid].update(fields)
            else:
                expected[mid] = dict(fields)
                if len(expected) > 300:
                    expected.popitem(last=False)
        elif r < 0.85:
            mid = rng.randrange(500)
            frames.append(frame("mission_removed", {"id": mid}))
            expected.pop(mid, None)
        else:
            frames.append(frame("metrics_update", {"cpu": i % 100, "mem": i}))
            latest = {"cpu": i % 100, "mem": i}
    counts = {t: sum(1 for f in frames if f'"type": "{t}"' in f)
              for t in ("mission_update", "mission_removed", "metrics_update")}

    start = time.monotonic()
    for chunk in range(20):  # 1,000 frames every 50 ms: 20,000 in about one second
        server.send(*frames[chunk * 1000:(chunk + 1) * 1000])
        pause = start + (chunk + 1) * 0.05 - time.monotonic()
        if pause > 0:
            time.sleep(pause)  # pacing the sender, not waiting for a condition
    sent_in = time.monotonic() - start

    def overview_count(t: str) -> int:
        return int(comm_spy.view_state(w).get("overview", {}).get(t, {}).get("count", 0))

    wait_until(lambda: all(overview_count(t) == n for t, n in counts.items()), 30,
               message=lambda: f"{comm_spy.view_state(w).get('overview')}")
    wait_until(lambda: replay_table([c for _, c in comm_spy.custom(table, "delta")])
               == list(expected.values()), 10)
    wait_until(lambda: comm_spy.view_state(w)["stats"]["messages_in"]
               == w.connection.stats()["messages_in"], 10)

    # Exact final state: the table equals every message applied in order; metrics too.
    assert table.rows == list(expected.values())
    assert metrics.latest == latest
    deltas = [c for _, c in comm_spy.custom(table, "delta")]
    assert [d["seq"] for d in deltas] == list(range(1, len(deltas) + 1))

    # Each view flushes on its own schedule within the frame budget: the metrics view's last delta
    # may leave a tick after the table's.
    wait_until(lambda: view_latest(comm_spy, metrics) == latest, 10,
               message=lambda: f"{view_latest(comm_spy, metrics)} != {latest}")
    state = comm_spy.view_state(w)
    assert state["status"] == "connected"
    assert state["stats"]["messages_in"] >= 20_000
    assert state["stats"]["decode_errors"] == 0 and state["stats"]["handler_errors"] == 0

    # Bounded rate: at most fps data messages per second per view, whatever the input rate.
    for view in (table, metrics):
        times = [t for t, _ in comm_spy.custom(view, "delta")]
        assert max_per_window(times) <= fps, (view, sent_in)
    assert max_per_window([t for t, _ in comm_spy.updates(w)]) <= fps
    comm_msgs = [p.t for p in comm_spy.messages() if p.msg_type == "comm_msg"]
    assert max_per_window(comm_msgs) <= 100
    # 20,000 messages turned into at most a few dozen comm messages per view.
    assert len(deltas) <= fps * (sent_in + 5)
    # The snapshot trait is refreshed at most every 2 s while the table changes.
    snapshots = [t for t, s in comm_spy.updates(table) if "_snapshot" in s]
    assert all(b - a >= 1.9 for a, b in itertools.pairwise(snapshots))


def test_many_busy_widgets_share_the_process_budget(ws_server: Any, make_widget: Any,
                                                    comm_spy: CommSpy) -> None:
    server = ws_server()
    widgets = [make_widget(server.url, fps=30, explore=False) for _ in range(8)]
    tables = [w.table("row") for w in widgets]
    wait_until(lambda: all(w.status == "connected" for w in widgets)
               and server.open_connections == 8, 10)
    start = time.monotonic()
    n = 0
    while time.monotonic() - start < 2.0:  # every link busy for 2 s
        server.send(*(frame("row", {"id": (n + i) % 50, "n": n + i}) for i in range(100)))
        n += 100
    wait_until(lambda: all(len(t) == 50 for t in tables), 20)
    wait_until(lambda: all(replay_table([c for _, c in comm_spy.custom(t, "delta")]) == t.rows
                           for t in tables), 20)
    comm_msgs = [p.t for p in comm_spy.messages() if p.msg_type == "comm_msg"]
    # 16 syncables asking for 30 flushes a second each, and the table snapshots: the clock
    # holds the whole process to 100 comm messages a second.
    assert max_per_window(comm_msgs) <= 100, max_per_window(comm_msgs)
    for t in tables:
        assert max_per_window([x for x, _ in comm_spy.custom(t, "delta")]) <= 30


# -- credentials ----------------------------------------------------------------------------


def test_no_credential_in_any_trait_message_or_repr(ws_server: Any, make_widget: Any,
                                                     comm_spy: CommSpy) -> None:
    server = ws_server()
    secrets = ["hunter2pw", "s3cr3tvalue", "tok_abcdef123456", "apikey-987654"]
    url = server.url.replace("ws://", "ws://alice:hunter2pw@") + "?token=s3cr3tvalue&room=1"
    # Strict envelope: "not json" is a decode error, whose text must be scrubbed too.
    w = make_widget(url, messages="envelope",
                    headers={"Authorization": "Bearer tok_abcdef123456",
                             "X-Api-Key": "apikey-987654"},
                    backoff=Backoff(initial=0.05, maximum=0.05, jitter="none"))
    table = w.table("mission_update")
    indicator = w.status_indicator()
    wait_connected(w, server)
    server.send(frame("mission_update", {"id": 1}), "not json", frame("notification", "hello"))
    wait_until(lambda: comm_spy.view_state(w).get("stats", {}).get("decode_errors") == 1, 10)
    server.refuse(401)
    server.kill()
    server.restart()
    wait_until(lambda: comm_spy.view_state(w).get("status") == "disconnected", 10)
    wait_until(lambda: any("Connection lost" in p.text for p in comm_spy.messages()), 10)
    table.close()
    indicator.close()
    text = comm_spy.all_text()
    assert "room=1" in text and "***" in text  # the redacted URL did go out
    for secret in secrets:
        assert secret not in text
        assert secret not in repr(w) and secret not in repr(table) and secret not in repr(indicator)
    assert "alice" not in comm_spy.view_state(w)["url"]


# -- the front end's requests ---------------------------------------------------------------


def test_front_end_messages_drive_the_connection(ws_server: Any, make_widget: Any,
                                                 comm_spy: CommSpy) -> None:
    server = ws_server()
    w = make_widget(server.url, backoff=Backoff(initial=30, maximum=30, jitter="none"))
    wait_connected(w, server)

    comm_spy.from_front_end(w, {"kind": "reconnect"})
    wait_until(lambda: server.connection_count == 2 and w.status == "connected", 10)

    comm_spy.from_front_end(w, {"kind": "send", "type": "subscribe", "payload": {"ch": "m"}})
    wait_until(lambda: server.messages("subscribe"), 10)
    assert server.messages("subscribe")[0]["payload"] == {"ch": "m"}

    comm_spy.from_front_end(w, {"kind": "disconnect"})
    wait_until(lambda: comm_spy.view_state(w).get("status") == "disconnected", 10)
    comm_spy.from_front_end(w, {"kind": "connect"})
    wait_until(lambda: comm_spy.view_state(w).get("status") == "connected", 10)

    # Offline for a 30 s backoff; the browser says it is back online: retry at once.
    server.kill()
    wait_until(lambda: w.status == "reconnecting" and (w.next_retry_in or 0) > 10, 10)
    server.restart()
    comm_spy.from_front_end(w, {"kind": "browser", "event": "online"})
    wait_connected(w, server)

    comm_spy.from_front_end(w, {"kind": "nonsense"})  # ignored, not fatal
    comm_spy.from_front_end(w, {"kind": "send", "type": 5})
    comm_spy.from_front_end(w, {"kind": "send", "type": "ping2"})
    wait_until(lambda: server.messages("ping2"), 10)


def test_snapshot_request_and_throttled_snapshot_trait(ws_server: Any, make_widget: Any,
                                                        comm_spy: CommSpy) -> None:
    server = ws_server()
    w = make_widget(server.url, explore=False)
    table = w.table("row")
    wait_connected(w, server)
    assert comm_spy.view_state(table)["_snapshot"] == {
        "seq": 0, "key": "id", "keys": ["id"], "columns": ["id"], "rows": [], "errors": 0,
        "last_error": None}
    for i in range(5):
        server.send(frame("row", {"id": i, "v": i}))
    wait_until(lambda: len(table) == 5, 10)
    comm_spy.from_front_end(table, {"kind": "snapshot_request"})
    wait_until(lambda: comm_spy.custom(table, "snapshot"), 10)
    snap = comm_spy.custom(table, "snapshot")[-1][1]
    assert snap["rows"] == [{"id": i, "v": i} for i in range(5)]
    deltas = [c for _, c in comm_spy.custom(table, "delta")]
    assert snap["seq"] == deltas[-1]["seq"]
    # The trait catches up with the final state within the 2 s throttle.
    wait_until(lambda: comm_spy.view_state(table)["_snapshot"].get("rows") == snap["rows"], 10)
    assert comm_spy.view_state(table)["_snapshot"]["seq"] == snap["seq"]


def test_state_asked_for_from_outside_carries_a_current_snapshot(ws_server: Any, make_widget: Any,
                                                                 comm_spy: CommSpy) -> None:
    """Saving or embedding the widget state (``Widget.get_manager_state``) must not capture the
    last throttled snapshot, which can be up to 2 s old."""
    import ipywidgets

    server = ws_server()
    w = make_widget(server.url, explore=False)
    table = w.table("row")
    wait_connected(w, server)
    server.send(frame("row", {"id": 0, "v": 0}))
    wait_until(lambda: len(table) == 1, 10)
    wait_until(lambda: comm_spy.view_state(table)["_snapshot"].get("rows"), 10)
    for i in range(1, 6):  # inside the throttle window of the snapshot just taken
        server.send(frame("row", {"id": i, "v": i}))
    wait_until(lambda: len(table) == 6, 10)
    saved = ipywidgets.Widget.get_manager_state(drop_defaults=False)["state"][table.model_id]
    assert saved["state"]["_snapshot"]["rows"] == [{"id": i, "v": i} for i in range(6)]
    # The connection's status too: the state right after a drop, not the last flush before it.
    server.kill()
    wait_until(lambda: w.connection.state != "connected", 10)
    state = ipywidgets.Widget.get_manager_state(drop_defaults=False)["state"][w.model_id]["state"]
    assert state["status"] == str(w.connection.state)


# -- the explorer ---------------------------------------------------------------------------


def test_explorer_counts_types_infers_kinds_and_makes_views(ws_server: Any, make_widget: Any,
                                                            comm_spy: CommSpy) -> None:
    server = ws_server()
    w = make_widget(server.url)
    wait_connected(w, server)
    server.send(frame("metrics_update", {"cpu": 1.5, "mem": 2}),
                frame("mission_update", [{"id": "a", "s": 1}, {"id": "b", "s": 2}]),
                frame("notification", {"level": "warning", "title": "T", "message": "<b>x</b>"}),
                frame("log", "plain text"),
                frame("metrics_update", {"cpu": 3.0}))
    wait_until(lambda: set(comm_spy.view_state(w).get("overview", {}))
               == {"metrics_update", "mission_update", "notification", "log"}, 10)
    overview = comm_spy.view_state(w)["overview"]
    assert {t: o["kind"] for t, o in overview.items()} == {
        "metrics_update": "metrics", "mission_update": "table",
        "notification": "notifications", "log": "log"}
    assert overview["metrics_update"]["count"] == 2
    assert overview["metrics_update"]["rate"] == 2
    assert overview["log"]["last_seen"].endswith("+00:00")
    children = comm_spy.view_state(w)["children"]
    # Every type has a view: "log" messages, which are none of the others, their last messages.
    assert set(children) == {"metrics_update", "mission_update", "notification", "log"}
    assert children["log"] == f"IPY_MODEL_{w.log('log').model_id}"
    assert all(v.startswith("IPY_MODEL_") for v in children.values())
    # The auto views got the first message too, and are the ones the methods return.
    assert children["mission_update"] == f"IPY_MODEL_{w.table('mission_update').model_id}"
    wait_until(lambda: w.metrics("metrics_update").latest == {"cpu": 3.0, "mem": 2}, 10)
    assert [r["id"] for r in w.table("mission_update").rows] == ["a", "b"]
    notes = w.notifications()
    wait_until(lambda: [i["message"] for i in notes.items] == ["<b>x</b>"], 10)
    # Rates fall back to zero once messages stop.
    wait_until(lambda: comm_spy.view_state(w)["overview"]["log"]["rate"] == 0, 10)
    wait_until(lambda: comm_spy.view_state(w)["overview"]["log"]["rates"], 10)


def test_array_frames_reach_the_views_exactly_as_messages_applied_one_by_one(
        ws_server: Any, make_widget: Any, comm_spy: CommSpy) -> None:
    """A feed of array frames (whole rows, partial rows, a column that appears mid-stream,
    evictions, deletes, metrics with a value that is not a number, an element that is not an
    envelope): the stores and what the views receive equal every message applied in order."""
    server = ws_server()
    # Strict envelope, so that the elements that are not envelopes are decode errors.
    w = make_widget(server.url, fps=20, messages="envelope")
    table = w.table("mission_update", key="id", max_rows=150, delete_type="mission_removed")
    metrics = w.metrics("metrics_update")
    wait_connected(w, server)

    rng = random.Random(17)
    expected: OrderedDict[int, dict[str, Any]] = OrderedDict()
    latest: dict[str, Any] = {}
    ignored = 0
    frames: list[str] = []
    for f in range(300):
        batch: list[Any] = []
        for i in range(60):
            n = f * 60 + i
            r = rng.random()
            if r < 0.7:
                # 120 ids fit the table; two frames bring ~40 new ones each, which evict the
                # oldest (then the old ids come back and evict in turn, until all 120 are in).
                mid = 1000 + n if f in (10, 110) else rng.randrange(120)
                if rng.random() < 0.8:  # a whole row; from frame 250 on, with one more column
                    fields = {"id": mid, "status": f"s{n % 5}", "progress": n / 7, "eta": n}
                    if f >= 250:
                        fields["owner"] = f"o{n % 3}"
                else:
                    fields = {"id": mid, "progress": -n}
                batch.append({"type": "mission_update", "payload": fields, "seq": n})
                if mid in expected:
                    expected[mid] = {**expected[mid], **fields}
                else:
                    expected[mid] = dict(fields)
                    if len(expected) > 150:
                        expected.popitem(last=False)
            elif r < 0.75 and f % 10 == 5:  # deletes (no batch form) in a tenth of the frames
                mid = rng.randrange(120)
                batch.append({"type": "mission_removed", "payload": {"id": mid}})
                expected.pop(mid, None)
            elif r >= 0.75:
                sample = {"cpu": n % 100, "mem": n * 0.5, "io": rng.random()}
                if rng.random() < 0.05:
                    sample["io"] = "n/a"
                    ignored += 1  # and io's latest stays the last number
                latest.update({k: v for k, v in sample.items() if not isinstance(v, str)})
                batch.append({"type": "metrics_update", "payload": sample})
        if f % 50 == 20:
            batch.append(["not an envelope"])
        frames.append(json.dumps(batch))
    server.send(*frames)

    sent = sum(len(json.loads(f)) for f in frames) - 6
    wait_until(lambda: w.connection.stats()["messages_in"] == sent, 30,
               message=lambda: f"{w.connection.stats()}")
    assert w.connection.stats()["decode_errors"] == 6  # the six non-envelopes, nothing else
    assert table.rows == list(expected.values())
    assert table.columns == ["id", "status", "progress", "eta", "owner"]
    assert metrics.latest == latest
    assert metrics.ignored == ignored
    wait_until(lambda: replay_table([c for _, c in comm_spy.custom(table, "delta")])
               == list(expected.values()), 10)
    deltas = [c for _, c in comm_spy.custom(table, "delta")]
    # The view is sent each column once, as it is made (the key column with the first snapshot).
    assert ["id"] + [c for d in deltas for c in d.get("add_columns", ())] == table.columns

    wait_until(lambda: view_latest(comm_spy, metrics) == latest, 10,
               message=lambda: f"{view_latest(comm_spy, metrics)} != {latest}")


def test_explorer_views_made_inside_a_batch_frame_get_the_whole_batch(
        ws_server: Any, make_widget: Any, comm_spy: CommSpy) -> None:
    """Array frames go to the views a type at a time; a view the explorer makes at the first
    message of its type gets that message and the rest of the frame, and counts stay exact."""
    server = ws_server()
    w = make_widget(server.url)
    wait_connected(w, server)
    first = [{"type": "mission_update", "payload": {"id": i % 7, "v": i}} for i in range(40)]
    first[5:5] = [{"type": "metrics_update", "payload": {"cpu": float(i)}} for i in range(3)]
    first.append({"type": "notification", "payload": {"level": "info", "title": "hello"}})
    second = [{"type": "mission_update", "payload": {"id": 100 + i, "v": i}} for i in range(5)]
    second += [{"type": "metrics_update", "payload": {"cpu": 9.5, "mem": 1}}]
    server.send(json.dumps(first), json.dumps(second))
    wait_until(lambda: w.connection.stats()["messages_in"] == 50, 10)
    table = w.table("mission_update")
    want = {i % 7: {"id": i % 7, "v": i} for i in range(40)}
    want.update({100 + i: {"id": 100 + i, "v": i} for i in range(5)})
    wait_until(lambda: table.rows == list(want.values()), 10)
    assert w.metrics("metrics_update").latest == {"cpu": 9.5, "mem": 1}
    assert [v for _, v in w.metrics("metrics_update").history["cpu"]] == [0.0, 1.0, 2.0, 9.5]
    wait_until(lambda: [i["title"] for i in w.notifications().items] == ["hello"], 10)
    wait_until(lambda: {t: o["count"] for t, o in comm_spy.view_state(w)["overview"].items()}
               == {"mission_update": 45, "metrics_update": 4, "notification": 1}, 10)


def test_an_alert_callback_sees_other_views_as_of_its_own_message_in_a_batch_frame(
        ws_server: Any, make_widget: Any) -> None:
    server = ws_server()
    w = make_widget(server.url)
    table = w.table("mission_update")
    seen: list[list[Any]] = []
    metrics = LiveMetrics(w.connection, "metrics_update", thresholds={"cpu": {"above": 50}},
                          on_alert=lambda alert: seen.append([r["id"] for r in table.rows]))
    wait_connected(w, server)
    frame_ = [{"type": "mission_update", "payload": {"id": 1}},
              {"type": "metrics_update", "payload": {"cpu": 90.0}},
              {"type": "mission_update", "payload": {"id": 2}}]
    server.send(json.dumps(frame_))
    wait_until(lambda: len(table.rows) == 2 and metrics.latest == {"cpu": 90.0}, 10)
    assert seen == [[1]]
    metrics.close()


def test_connection_events_become_toasts(ws_server: Any, make_widget: Any,
                                         comm_spy: CommSpy) -> None:
    server = ws_server()
    w = make_widget(server.url, backoff=Backoff(initial=0.05, maximum=0.05, jitter="none"),
                    stable_after=60)
    notes = w.notifications()
    seen: list[dict[str, Any]] = []
    notes.on_notification(seen.append)
    wait_connected(w, server)
    server.kill(record=True)  # each retry is refused at TCP level: a run of failed attempts
    wait_until(lambda: w.attempt >= 3, 10)
    server.kill()
    server.restart()
    wait_until(lambda: any(i["title"] == "Reconnected" for i in notes.items), 10)
    item = next(i for i in notes.items if i["title"] == "Reconnected")
    assert item["level"] == "success" and "failed attempt" in item["message"]
    assert item["source"] == "connection"
    wait_until(lambda: any(c.get("add") and c["add"][0]["title"] == "Reconnected"
                           for _, c in comm_spy.custom(notes, "delta")), 10)
    assert any(s["title"] == "Reconnected" for s in seen)

    server.refuse(403)
    server.kill()
    server.restart()
    wait_until(lambda: any(i["title"] == "Connection lost" for i in notes.items), 10)
    lost = next(i for i in notes.items if i["title"] == "Connection lost")
    assert lost["level"] == "error" and "403" in lost["message"]


def test_a_notifications_view_made_later_shows_the_earlier_notices(ws_server: Any,
                                                                    make_widget: Any,
                                                                    comm_spy: CommSpy) -> None:
    server = ws_server()
    w = make_widget(server.url, explore=False, messages="envelope",
                    backoff=Backoff(initial=0.05, maximum=0.05, jitter="none"))
    wait_connected(w, server)
    server.send("not json")  # a decode error under the strict envelope
    # The flush that shows the count is the one that makes the notice.
    wait_until(lambda: comm_spy.view_state(w).get("stats", {}).get("decode_errors") == 1, 10)
    server.kill()
    server.restart()
    wait_until(lambda: w.connection.stats()["reconnects"] == 1, 10)
    notes = w.notifications()
    wait_until(lambda: notes.items, 10)
    # Handed over in one step on the I/O thread: all of them, in order, each once.
    assert [(i["title"], i["source"]) for i in notes.items] == [
        ("Malformed messages", "connection"), ("Reconnected", "connection")]


def test_overflow_and_malformed_frames_become_toasts(ws_server: Any, make_widget: Any,
                                                    comm_spy: CommSpy) -> None:
    server = ws_server()
    w = make_widget(server.url, queue_limit=2, explore=False, messages="envelope")
    notes = w.notifications()
    wait_connected(w, server)
    server.send("not json", "[1, 2]")
    wait_until(lambda: any(i["title"] == "Malformed messages" for i in notes.items), 10)
    w.disconnect()
    wait_until(lambda: w.status == "disconnected", 10)
    for i in range(5):
        w.send("order", {"n": i})
    wait_until(lambda: comm_spy.view_state(w).get("queued") == 2, 10)
    wait_until(lambda: any(i["title"] == "Send queue full" for i in notes.items), 10)
    full = next(i for i in notes.items if i["title"] == "Send queue full")
    assert full["level"] == "warning" and full["message"].startswith("3 queued message(s)")
    assert comm_spy.view_state(w)["stats"]["dropped"] == 3


def test_threshold_crossing_raises_a_notification(ws_server: Any, make_widget: Any) -> None:
    server = ws_server()
    w = make_widget(server.url, explore=False)
    m = w.metrics()
    notes = w.notifications()
    m.set_threshold("cpu", above=90)
    wait_connected(w, server)
    for v in (50, 95, 97):
        server.send(frame("metrics_update", {"cpu": v}))
    wait_until(lambda: m.latest.get("cpu") == 97, 10)
    wait_until(lambda: [i["message"] for i in notes.items if i["source"] == "threshold"]
               == ["cpu is 95, above 90"], 10)


# -- LiveStore ------------------------------------------------------------------------------


def test_live_store_folds_and_drives_a_dlinked_progress_bar(ws_server: Any, make_widget: Any,
                                                            comm_spy: CommSpy) -> None:
    import ipywidgets
    import traitlets

    server = ws_server()
    w = make_widget(server.url, fps=10, explore=False)
    total = w.store("progress", lambda p, acc: acc + p["n"], initial=0.0)
    last = w.store("progress")
    assert isinstance(total, LiveStore) and total.value == 0.0
    bar = ipywidgets.FloatProgress(min=0, max=100)
    traitlets.dlink((total, "value"), (bar, "value"))
    changes: list[float] = []
    total.observe(lambda ch: changes.append(ch["new"]), "value")
    wait_connected(w, server)
    server.send(*(frame("progress", {"n": 0.5}) for _ in range(200)))
    wait_until(lambda: bar.value == 100.0, 10)
    assert total.value == 100.0 and last.value == {"n": 0.5}
    assert len(changes) < 200  # folded per frame, not per message
    # The bar's own comm carried the value to its view.
    wait_until(lambda: comm_spy.view_state(bar).get("value") == 100.0, 10)

    # A failing transform: counted like a handler error, value unchanged.
    server.send(frame("progress", {"oops": 1}))
    wait_until(lambda: total.errors == 1, 10)
    assert total.value == 100.0 and "KeyError" in (total.last_error or "")
    wait_until(lambda: w.connection.stats()["handler_errors"] == 1, 10)
    server.send(frame("progress", {"n": -50}))
    wait_until(lambda: bar.value == 50.0, 10)


# -- API surface, validation, lifecycle -----------------------------------------------------


def test_views_are_cached_and_typed(ws_server: Any, make_widget: Any,
                                    comm_spy: CommSpy) -> None:
    server = ws_server()
    w = make_widget(server.url, explore=False)
    t = w.table("x")
    assert w.table("x") is t and isinstance(t, LiveTable)
    with pytest.raises(ValueError, match="already keyed by 'id'"):
        w.table("x", key="name")
    assert w.metrics() is w.metrics() and isinstance(w.metrics(), LiveMetrics)
    assert w.notifications() is w.notifications() and isinstance(w.notifications(), Notifications)
    s = w.status_indicator(details=False, position="fixed")
    assert isinstance(s, ConnectionStatus) and s.source is w and s.position == "fixed"
    assert comm_spy.view_state(s).items() >= {
        "_view": "status", "source": f"IPY_MODEL_{w.model_id}", "details": False,
        "position": "fixed"}.items()
    with pytest.raises(ValueError, match="position must be one of"):
        w.status_indicator(position="top")
    with pytest.raises(ValueError, match="max_rows must be a positive integer"):
        w.table("y", max_rows=0)


def test_unknown_and_invalid_arguments_are_rejected(comm_spy: CommSpy) -> None:
    with pytest.raises(TypeError, match=r"'heartbeat'.*accepted:.*heartbeat_interval"):
        RealtimeWidget("ws://127.0.0.1:9/ws", heartbeat=1)
    with pytest.raises(ValueError, match="fps must be a number > 0"):
        RealtimeWidget("ws://127.0.0.1:9/ws", fps=0)
    with pytest.raises(ValueError, match="name must be a non-empty string"):
        RealtimeWidget("ws://127.0.0.1:9/ws", name="")
    assert comm_spy.messages() == []  # nothing was opened for a rejected call
    with pytest.raises(TypeError, match=r"LiveTable.*'colour'"):
        LiveTable(None, "t", colour="red")  # type: ignore[arg-type]


def test_named_widgets_replace_each_other_and_close_cascades(ws_server: Any, make_widget: Any,
                                                             comm_spy: CommSpy) -> None:
    server = ws_server()
    first = make_widget(server.url, name="feed")
    table = first.table("mission_update")
    store = first.store("mission_update")
    wait_connected(first, server)
    second = make_widget(server.url, name="feed")
    assert first.closed and first.connection.state == "closed"
    assert table.closed and comm_spy.messages(table)[-1].msg_type == "comm_close"
    assert not second.closed
    # the first link is gone and the second one registered: a push reaches the second widget
    wait_until(lambda: server.connection_count == 2, 10)
    wait_connected(second, server)
    # made before the push: a table holds the messages that arrive after it exists
    second_table = second.table("mission_update")
    server.send(frame("mission_update", {"id": 1}))
    wait_until(lambda: second_table.rows == [{"id": 1}], 10)
    assert table.rows == [] and store.value is None  # closed views stop following
    with pytest.raises(RuntimeError, match="closed"):
        first.table("other")
    assert "name='feed'" in repr(second)


def test_to_pandas(ws_server: Any, make_widget: Any) -> None:
    server = ws_server()
    w = make_widget(server.url, explore=False)
    t = w.table("row")
    m = w.metrics("m")
    wait_connected(w, server)
    server.send(frame("row", {"id": 1, "a": 1}), frame("row", {"id": 2, "b": "x"}),
                frame("m", {"cpu": 1}), frame("m", {"cpu": 2}))
    wait_until(lambda: len(t) == 2 and len(m.history.get("cpu", [])) == 2, 10)
    df = t.to_pandas()
    assert list(df.columns) == ["id", "a", "b"] and list(df["id"]) == [1, 2]
    mdf = m.to_pandas()
    assert list(mdf.columns) == ["time", "series", "value"] and list(mdf["value"]) == [1, 2]
    assert str(mdf["time"].dt.tz) == "UTC"
    t.clear()
    assert t.rows == [] and len(t.to_pandas()) == 0


def test_to_pandas_without_pandas_says_what_to_install(ws_server: Any, make_widget: Any,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    w = make_widget(ws_server().url, explore=False)
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas now raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'rt_widgets\[pandas\]'"):
        w.table("row").to_pandas()
    with pytest.raises(ImportError, match="needs pandas"):
        w.metrics().to_pandas()


# -- the bundled demo feed ------------------------------------------------------------------


def test_explorer_on_the_demo_feed(make_widget: Any, comm_spy: CommSpy) -> None:
    from rt_widgets.demo.server import DemoServer

    with DemoServer(port=0, rate=200, seed=4) as feed:
        w = make_widget(feed.url, fps=10)

        def kinds() -> dict[str, str]:
            overview = comm_spy.view_state(w).get("overview", {})
            return {t: o["kind"] for t, o in overview.items()}

        wait_until(lambda: {"mission_update": "table", "metrics_update": "metrics"}.items()
                   <= kinds().items(), 20, message=lambda: str(kinds()))
        children = comm_spy.view_state(w)["children"]
        assert {"mission_update", "metrics_update"} <= set(children)
        table = w.table("mission_update")
        wait_until(lambda: len(table) > 0, 10)
        assert all("id" in row for row in table.rows)
        wait_until(lambda: w.metrics("metrics_update").latest, 10)
        assert comm_spy.view_state(w)["status"] == "connected"

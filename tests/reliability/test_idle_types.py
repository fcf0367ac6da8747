"""Types age out of the explorer when idle, through a real socket: after 200 junk types that stop,
real types arriving later are listed and get views, and the overview the view holds shrinks back to
the types still alive."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from rt_widgets.explorer import MAX_AUTO_VIEWS, MAX_TYPES
from rt_widgets.widgets import RealtimeWidget
from tests._servers import WsServer
from tests.conftest import wait_until
from tests.widgets.conftest import CommSpy

MakeServer = Callable[..., WsServer]
IDLE = 1.0  # seconds: the explorer's idle_after for this test (IDLE_AFTER is 300 s)


def frame(type: str, payload: Any) -> str:
    return json.dumps({"type": type, "payload": payload})


def test_junk_types_age_out_and_real_types_are_shown(
    ws_server: MakeServer, make_widget: Callable[..., RealtimeWidget], comm_spy: CommSpy,
    record_property: Callable[[str, object], None],
) -> None:
    server = ws_server()
    w = make_widget(server.url)
    explorer = w._explorer
    explorer.idle_after = IDLE
    wait_until(lambda: w.status == "connected" and server.open_connections == 1, 10)
    junk = [f"junk-{i:03d}-" + "j" * 150 for i in range(MAX_TYPES)]
    server.send(*(frame(name, f"noise {i}") for i, name in enumerate(junk)))
    wait_until(lambda: len(comm_spy.view_state(w).get("overview", {})) == MAX_TYPES, 20)
    full_bytes = len(json.dumps(comm_spy.view_state(w)["overview"]))

    # A live type keeps the feed going (the overview is refreshed as messages come) while the junk
    # goes idle.
    def ticked() -> bool:
        server.send(frame("tick", {"n": 1}))
        return explorer.aged_out >= MAX_TYPES - MAX_AUTO_VIEWS

    wait_until(ticked, 10 + 5 * IDLE, interval=0.05)
    server.send(frame("notification", {"level": "info", "title": "hello"}),
                frame("mission_update", {"id": "m1", "state": "go"}),
                frame("chatter", "a text message"))
    wait_until(lambda: {"notification", "mission_update", "chatter"}
               <= set(comm_spy.view_state(w).get("children", {})), 10)
    server.send(frame("tick", {"n": 2}))
    wait_until(lambda: {"notification", "mission_update", "chatter"}
               <= set(comm_spy.view_state(w).get("overview", {})), 10)
    state = comm_spy.view_state(w)
    overview, children = state["overview"], state["children"]
    shown_bytes = len(json.dumps(overview))
    listed_junk = [t for t in overview if t.startswith("junk-")]
    print(f"\ntypes seen: {MAX_TYPES + 4}, shown: {len(overview)} ({len(listed_junk)} junk, each "
          f"with a view), aged out: {explorer.aged_out}, evicted: {explorer.evicted}, retired: "
          f"{explorer.retired}; overview {full_bytes / 1e3:.1f} KB with the junk, "
          f"{shown_bytes / 1e3:.1f} KB after")
    record_property("types_aged_out", explorer.aged_out)
    record_property("overview_bytes_after", shown_bytes)
    assert w.table("mission_update").rows == [{"id": "m1", "state": "go"}]
    # Only the junk that still holds a view is listed; the rest aged out (one was evicted, when
    # tick came to a full overview; the real types found room).
    assert all(t in children for t in listed_junk)
    assert len(listed_junk) <= MAX_AUTO_VIEWS - 2
    assert explorer.evicted <= 1
    assert explorer.aged_out >= MAX_TYPES - MAX_AUTO_VIEWS
    assert shown_bytes < full_bytes / 4

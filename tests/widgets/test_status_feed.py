"""StatusFeed: the status trait values read from a connection, and the watch for changes that
no callback announces (run on the real I/O thread; the connection is a stand-in)."""

from __future__ import annotations

import threading
from typing import Any

from rt_widgets import iothread
from rt_widgets.widgets._status_feed import StatusFeed


class Conn:
    """The part of Connection's public API the feed reads."""

    def __init__(self) -> None:
        self.state = "connected"
        self.attempt = 0
        self.next_retry_in: float | None = None
        self.last_error: str | None = None
        self.latency_ms: float | None = 1.5
        self.counters: dict[str, Any] = {"queued": 0, "decode_errors": 0, "uptime_s": 0.0,
                                         "last_error": None}

    def stats(self) -> dict[str, Any]:
        return dict(self.counters)


def on_io(fn: Any) -> Any:
    async def call() -> Any:
        return fn()

    return iothread.run_sync(call(), timeout=5)


def make(conn: Conn, changing: bool = False) -> tuple[StatusFeed, threading.Event]:
    woken = threading.Event()
    feed = StatusFeed(conn, lambda text: text.replace("pw", "**"),  # type: ignore[arg-type]
                      changing=lambda now: changing, wake=woken.set)
    return feed, woken


def test_next_retry_in_only_when_a_wait_starts_or_ends_and_errors_scrubbed() -> None:
    conn = Conn()
    feed, _ = make(conn)
    first = feed.read()
    assert first.new_wait and first.next_retry_in is None and first.status == "connected"
    assert not feed.read().new_wait
    conn.state, conn.attempt, conn.next_retry_in = "reconnecting", 1, 2.34567
    conn.last_error = "refused: ws://u:pw@h"
    conn.counters["last_error"] = "refused: ws://u:pw@h"
    wait = feed.read()
    assert wait.new_wait and wait.next_retry_in == 2.346
    assert wait.error == "refused: ws://u:**@h" and wait.stats["last_error"] == wait.error
    conn.next_retry_in = 1.0  # the same wait, counting down: the view does that itself
    assert not feed.read().new_wait
    conn.attempt = 2  # the next wait
    assert feed.read().new_wait


def test_the_watch_wakes_on_a_counter_with_no_callback_and_ignores_uptime() -> None:
    conn = Conn()
    feed, woken = make(conn)
    on_io(lambda: (feed.read(), feed.watch("connected", 0.0)))
    conn.counters["uptime_s"] = 99.0  # changes all the time: not worth a flush
    conn.counters["decode_errors"] = 1
    assert woken.wait(5)
    feed.stop()


def test_the_watch_polls_while_retrying_and_holds_no_timer_when_idle() -> None:
    conn = Conn()
    conn.state = "reconnecting"
    feed, woken = make(conn)
    on_io(lambda: (feed.read(), feed.watch("reconnecting", 0.0)))
    assert woken.wait(5)  # retrying: every look wakes the widget

    conn.state = "disconnected"
    idle, idle_woken = make(conn)
    on_io(lambda: (idle.read(), idle.watch("disconnected", 0.0)))
    assert not on_io(lambda: idle.watching) and not idle_woken.is_set()

    busy, busy_woken = make(conn, changing=True)  # rates still falling to zero
    on_io(lambda: (busy.read(), busy.watch("disconnected", 0.0)))
    assert busy_woken.wait(5)
    for f in (feed, idle, busy):
        on_io(f.stop)
    assert not on_io(lambda: feed.watching)

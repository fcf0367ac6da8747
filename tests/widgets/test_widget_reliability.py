"""Widget-level reliability: creating and closing widgets leaves nothing behind, and closing one at the
worst moment (mid-handshake, mid-backoff, mid-flush) is fast, quiet and leaves no socket open.

Everything runs against real servers on 127.0.0.1: the bundled demo feed, a `websockets` test server
and a TCP listener that never answers the handshake. Comms go through the comm spy (a real
`comm.base_comm.BaseComm` that records instead of writing to iopub).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import ipywidgets.widgets.widget as ipywidget
import pytest

from rt_widgets import Backoff
from rt_widgets.demo import DemoServer
from rt_widgets.iothread import get_loop, run_sync
from rt_widgets.sync import get_frame_clock
from rt_widgets.widgets import RealtimeWidget
from tests._servers import SilentServer, WsServer
from tests.conftest import wait_until
from tests.widgets.conftest import CommSpy

MakeServer = Callable[..., WsServer]
CLOSE_LIMIT = 1.0  # seconds: the design's promise for stop(), and so for a widget's close()


# -- what escaped ---------------------------------------------------------------------------


@dataclass
class Escapes:
    """Exceptions and error records that got past rt_widgets during a test."""

    unraisable: list[str] = field(default_factory=list)
    thread: list[str] = field(default_factory=list)
    client_errors: list[str] = field(default_factory=list)
    server_errors: list[str] = field(default_factory=list)

    def client_side(self) -> list[str]:
        return [*self.unraisable, *self.thread, *self.client_errors]


# Loggers of the servers the tests talk to; their errors are the server's business, reported apart.
SERVER_LOGGERS = ("tests.server", "rt_widgets.demo", "websockets.server")


class _Collect(logging.Handler):
    def __init__(self, escapes: Escapes) -> None:
        super().__init__(logging.ERROR)
        self.escapes = escapes

    def emit(self, record: logging.LogRecord) -> None:
        text = f"{record.name}: {record.getMessage()}"
        if record.exc_info and record.exc_info[1] is not None:
            text += f" ({record.exc_info[1]!r})"
        if record.name.startswith(SERVER_LOGGERS):
            self.escapes.server_errors.append(text)
        else:
            self.escapes.client_errors.append(text)


@pytest.fixture
def escapes(monkeypatch: pytest.MonkeyPatch) -> Iterator[Escapes]:
    """Collect unraisable exceptions (unclosed sockets' ResourceWarnings land here under
    warnings-as-errors), exceptions that end a thread, and ERROR log records from any logger."""
    found = Escapes()

    def unraisable(info: Any) -> None:
        found.unraisable.append(f"{info.exc_type.__name__}: {info.exc_value} in {info.object!r}")

    def thread_died(args: Any) -> None:
        name = args.thread.name if args.thread is not None else "?"
        found.thread.append(f"{name}: {args.exc_type.__name__}: {args.exc_value}")

    monkeypatch.setattr(sys, "unraisablehook", unraisable)
    monkeypatch.setattr(threading, "excepthook", thread_died)
    handler = _Collect(found)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield found
        # Sockets dropped without close() warn when collected: make that happen inside the test.
        gc.collect()
    finally:
        root.removeHandler(handler)


# -- resource counters ------------------------------------------------------------------------


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def io_loop_tasks() -> int:
    async def count() -> int:
        return len(asyncio.all_tasks(get_loop())) - 1  # minus this very coroutine

    return run_sync(count(), timeout=5)


def frame_clock_entries() -> int:
    async def count() -> int:
        return len(get_frame_clock()._entries)

    return run_sync(count(), timeout=5)


def open_comms(spy: CommSpy) -> tuple[int, int]:
    """(open comms of rt_widgets widgets, open comms of anything else, i.e. their Layout widgets)."""
    ours = other = 0
    for comm_id, c in list(spy.comms.items()):
        if c._closed:
            continue
        widget = ipywidget._instances.get(comm_id)
        if widget is not None and type(widget).__module__.startswith("rt_widgets"):
            ours += 1
        else:
            other += 1
    return ours, other


def client_sockets_to(port: int) -> int:
    """TCP sockets held by this process whose remote end is `port` on loopback (the client side of
    a link to the server on `port`; the server's own accepted sockets have `port` as local port)."""
    inodes: set[str] = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        try:
            with open(table) as f:
                lines = f.readlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            remote_port = int(cols[2].rsplit(":", 1)[1], 16)
            if remote_port == port and cols[9] in inodes:
                count += 1
    return count


@dataclass
class Counters:
    threads: int
    fds: int
    io_tasks: int
    clock_entries: int
    widget_comms: int
    layout_comms: int
    ipywidgets_instances: int

    @classmethod
    def now(cls, spy: CommSpy) -> Counters:
        # The I/O thread is started first: it lives for the whole process, and a baseline taken
        # before any widget existed must already include it.
        tasks, entries = io_loop_tasks(), frame_clock_entries()
        ours, other = open_comms(spy)
        return cls(threading.active_count(), open_fds(), tasks, entries, ours, other,
                   len(ipywidget._instances))


def settle(predicate: Callable[[], object], timeout: float) -> bool:
    """Poll until `predicate` holds (True) or the deadline passes (False), for figures that are
    asserted only after they are all printed."""
    try:
        wait_until(predicate, timeout)
    except AssertionError:
        return False
    return True


def timed_close(w: RealtimeWidget) -> float:
    started = time.monotonic()
    w.close()
    return time.monotonic() - started


# -- 1. create/close cycles -------------------------------------------------------------------


def test_thousand_widget_create_close_cycles_return_to_baseline(
    comm_spy: CommSpy, escapes: Escapes, record_property: Callable[[str, object], None]
) -> None:
    """1,000 `RealtimeWidget(url)` create/close cycles against the demo feed (20 msg/s per client).

    Exactly what is done: every cycle creates a widget (it starts connecting at once) and closes it.
    Cycles with i % 4 == 0 (250) close at once, usually mid-handshake; the other 750 first wait until
    the connection is `connected`. Cycles with i % 10 == 1 (100) also make `w.table()` and
    `w.metrics()`, and every 100th of those (i % 100 == 1, 10 cycles) waits until the table holds
    rows and a delta reached the view's comm, so data flowed through store, frame clock and comm.

    Afterwards, with no slack at all (the warm-up cycle before the baseline already started the I/O
    thread, the frame clock and the demo feed's sockets): threads, open fds, tasks on the I/O loop,
    frame-clock registrations, open comms and ipywidgets' instance registry are back where they
    started. Fds and tasks are polled with a deadline, because the server thread finishes its side
    of the last close a moment after `close()` returns. Every close() took under 1 s.
    """
    with DemoServer(port=0, rate=20, seed=1) as feed:
        warm = RealtimeWidget(feed.url)
        warm.connection.wait_for_state("connected", timeout=10)
        warm.table()
        warm.metrics()
        warm.close()
        wait_until(lambda: feed.clients == 0, 10)
        before = Counters.now(comm_spy)

        started = time.monotonic()
        slowest = 0.0
        waited_connected = with_views = with_data = 0
        for i in range(1000):
            w = RealtimeWidget(feed.url, heartbeat_interval=5.0)
            if i % 4:
                w.connection.wait_for_state("connected", timeout=10)
                waited_connected += 1
            if i % 10 == 1:
                table = w.table()
                w.metrics()
                with_views += 1
                if i % 100 == 1:
                    wait_until(lambda t=table: t.rows and comm_spy.custom(t, "delta"), 10,
                               message="no row reached the table view")
                    with_data += 1
            slowest = max(slowest, timed_close(w))
            assert w.closed and w.comm is None
        elapsed = time.monotonic() - started

        client_sockets = settle(lambda: client_sockets_to(feed.port) == 0, 10)
        settle(lambda: open_fds() <= before.fds and io_loop_tasks() <= before.io_tasks, 10)
        server_clients_gone = settle(lambda: feed.clients == 0, 5)
        after = Counters.now(comm_spy)
        connections, server_clients = feed.connections, feed.clients

    figures = {
        "cycles": 1000, "waited_connected": waited_connected, "with_views": with_views,
        "with_data": with_data, "server_connections": connections, "seconds": round(elapsed, 2),
        "slowest_close_s": round(slowest, 3), "client_sockets_left": client_sockets_to(feed.port),
        "server_clients_left": server_clients,
        **{name: f"{getattr(before, name)} -> {getattr(after, name)}"
           for name in before.__dataclass_fields__},
    }
    print(f"\n{figures}")
    for key, value in figures.items():
        record_property(key, value)

    assert slowest < CLOSE_LIMIT
    assert escapes.client_side() == []
    assert client_sockets, "client sockets to the feed are still open"
    assert (after.threads, after.fds, after.io_tasks, after.clock_entries, after.widget_comms) == (
        before.threads, before.fds, before.io_tasks, before.clock_entries, before.widget_comms)
    # Every widget made here is closed, so every comm it opened must be closed too: that includes
    # the Layout widget ipywidgets gives each DOMWidget, which stays open (and registered in
    # Widget._instances) unless closed along with its owner.
    assert after.layout_comms == before.layout_comms, (
        f"{after.layout_comms - before.layout_comms} Layout comms left open by closed widgets")
    assert after.ipywidgets_instances == before.ipywidgets_instances
    # The server side: the demo feed must forget every client that went away, and not log an
    # error because a client closed while it was writing.
    assert escapes.server_errors == [], "the demo feed logged errors for clients that closed"
    assert server_clients_gone, f"the demo feed still counts {server_clients} clients"


# -- 2. closing at the worst moment -----------------------------------------------------------


def assert_closed_cleanly(w: RealtimeWidget, spy: CommSpy, port: int, before: Counters) -> None:
    """Nothing of `w` is left: its comms, its client socket, its tasks and frame-clock entries."""
    assert w.closed and w.comm is None
    assert str(w.connection.state.value) == "closed"
    wait_until(lambda: client_sockets_to(port) == 0, 5,
               message=lambda: f"{client_sockets_to(port)} client socket(s) still open")
    wait_until(lambda: io_loop_tasks() <= before.io_tasks, 5,
               message=lambda: f"I/O tasks {before.io_tasks} -> {io_loop_tasks()}")
    assert frame_clock_entries() == before.clock_entries
    assert open_comms(spy)[0] == before.widget_comms
    assert threading.active_count() == before.threads


def test_close_while_the_handshake_hangs(
    silent_server: SilentServer, comm_spy: CommSpy, escapes: Escapes
) -> None:
    """A server that accepts TCP and never answers the upgrade: close() mid-handshake is fast, the
    server sees the connection closed, and the client socket is gone."""
    before = Counters.now(comm_spy)
    w = RealtimeWidget(silent_server.url, open_timeout=30.0)
    table = w.table()
    wait_until(lambda: len(silent_server.accepted) == 1, 10)
    assert str(w.connection.state.value) == "connecting"
    assert client_sockets_to(silent_server.port) == 1
    took = timed_close(w)
    wait_until(lambda: len(silent_server.hung_up) == 1, 5, message="the server still holds the link")
    assert_closed_cleanly(w, comm_spy, silent_server.port, before)
    assert table.closed
    wait_until(lambda: open_fds() <= before.fds, 5, message=lambda: f"fds {before.fds} -> {open_fds()}")
    print(f"\nclose() mid-handshake: {took:.3f} s; fds {before.fds} -> {open_fds()}")
    assert took < CLOSE_LIMIT
    assert len(silent_server.accepted) == 1  # no retry after close
    assert escapes.client_side() == []


def test_close_while_waiting_to_reconnect(
    ws_server: MakeServer, comm_spy: CommSpy, escapes: Escapes
) -> None:
    """The server died; the widget waits out a 30 s backoff. close() is fast and final: no further
    attempt reaches the server when it comes back."""
    server = ws_server()
    before = Counters.now(comm_spy)
    w = RealtimeWidget(server.url, backoff=Backoff(initial=30.0, maximum=30.0, jitter="none"))
    w.metrics()
    wait_until(lambda: w.status == "connected" and server.open_connections == 1, 10)
    server.kill()
    wait_until(lambda: w.status == "reconnecting" and w.next_retry_in is not None, 10,
               message=lambda: f"status {w.status}, next_retry_in {w.next_retry_in}")
    assert client_sockets_to(server.port) == 0  # no socket while waiting: the close has nothing to shut
    took = timed_close(w)
    assert_closed_cleanly(w, comm_spy, server.port, before)
    server.restart()
    handshakes = len(server.handshakes())
    # Nothing is scheduled any more (the I/O tasks are back to baseline): no attempt can come.
    assert io_loop_tasks() <= before.io_tasks
    print(f"\nclose() mid-backoff: {took:.3f} s")
    assert took < CLOSE_LIMIT
    assert handshakes == 1 and server.connection_count == 1
    assert escapes.client_side() == []


def test_close_in_the_middle_of_flushing_the_queue(
    ws_server: MakeServer, comm_spy: CommSpy, escapes: Escapes
) -> None:
    """1,000 sends (20 kB each, 20 MB in all) are queued while the server is down. It comes back and
    reads the first one, then stops reading: the flush stalls once the socket buffers are full, with
    most of the queue still unsent. close() then is fast, every handle settles (`sent` or `dropped`,
    none left `queued`), the server saw no duplicate and no reordering, and no socket stays open."""
    server = ws_server()
    before = Counters.now(comm_spy)
    w = RealtimeWidget(server.url, backoff=Backoff(initial=0.05, maximum=0.1, jitter="none"))
    wait_until(lambda: w.status == "connected" and server.open_connections == 1, 10)
    server.kill()
    wait_until(lambda: w.status == "reconnecting", 10)

    blob = "x" * 20_000
    handles = [w.send("bulk", {"n": n, "blob": blob}) for n in range(1000)]
    assert w.connection.stats()["queued"] == 1000

    # The server reads one message of the flush, then holds its handler: websockets stops reading
    # the socket once its own small queue is full, and TCP back-pressure stalls the client's writes.
    first = threading.Event()
    release: list[asyncio.Event] = []
    record = server._record

    async def record_then_hold(index: int, ws: Any, raw: str | bytes) -> None:
        await record(index, ws, raw)
        if not first.is_set():
            release.append(asyncio.Event())
            first.set()
            await release[0].wait()

    server._record = record_then_hold  # type: ignore[method-assign]
    server.restart()
    assert first.wait(10), "the flush never started"
    queued_at_close = sum(str(h.state.value) == "queued" for h in handles)
    took = timed_close(w)

    states = [str(h.state.value) for h in handles]
    sent, dropped = states.count("sent"), states.count("dropped")
    server._loop.call(lambda: release[0].set())
    wait_until(lambda: server.open_connections == 0, 10, message="the server still holds the link")
    assert_closed_cleanly(w, comm_spy, server.port, before)
    received = [m["payload"]["n"] for m in server.messages("bulk")]
    print(f"\nclose() mid-flush: {took:.3f} s; queued at close {queued_at_close}; handles sent {sent}, "
          f"dropped {dropped}; server received {len(received)}")
    assert took < CLOSE_LIMIT
    assert queued_at_close > 0, "the queue had drained before close(): not a mid-flush close"
    assert sent + dropped == 1000, f"unsettled handles: {sorted(set(states))}"
    assert dropped > 0
    assert received == list(range(len(received))), "duplicated or reordered sends"
    assert 1 <= len(received) <= sent
    assert escapes.client_side() == []

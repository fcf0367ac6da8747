"""The widget layer inside a real ipykernel: live while a cell blocks, driven by the front end."""

from __future__ import annotations

import itertools
import json
import threading
import time
from typing import Any

import pytest

from tests.conftest import wait_until
from tests.kernel.conftest import Kernel

pytestmark = pytest.mark.kernel

SETUP = """
from rt_widgets import RealtimeWidget
w = RealtimeWidget({url!r}, heartbeat_interval=1, fps=10, explore=False)
t = w.table("tick")
w.connection.wait_for_state("connected", timeout=20)
print(w.model_id, t.model_id)
"""


def tick(n: int) -> str:
    return json.dumps({"type": "tick", "payload": {"id": n % 5, "n": n},
                       "timestamp": "2026-01-01T00:00:00Z"})


def test_widget_keeps_receiving_and_publishing_while_a_cell_sleeps(kernel: Kernel,
                                                                   ws_server: Any) -> None:
    server = ws_server()
    widget_id, table_id = kernel.execute(SETUP.format(url=server.url)).split()
    wait_until(lambda: server.open_connections == 1, 10)
    # A view is on screen (with no view the widgets send nothing: tests/kernel/test_no_audience.py).
    kernel.comm_send(widget_id, {"method": "custom",
                                 "content": {"kind": "presence", "view": "v", "lease": 600}})

    stop = threading.Event()
    sent: list[tuple[float, int]] = []
    pings_in_silence: list[int] = []

    def feed() -> None:
        # Ticks every 0.2 s, except a 6 s silence in the middle in which only the heartbeat
        # (application pings, heartbeat_interval=1) keeps the link busy.
        start, n = time.monotonic(), 0
        silence_started: int | None = None
        while not stop.is_set():
            elapsed = time.monotonic() - start
            if 7.0 <= elapsed < 13.0:
                if silence_started is None:
                    silence_started = server.pings
            else:
                if silence_started is not None and not pings_in_silence:
                    pings_in_silence.append(server.pings - silence_started)
                n += 1
                server.send(tick(n))
                sent.append((time.monotonic(), n))
            stop.wait(0.2)

    msg_id = kernel.execute_async("import time; time.sleep(20)")
    wait_until(lambda: kernel.busy_at(msg_id) is not None, 10)
    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    try:
        reply = kernel.wait_reply(msg_id, 60)
    finally:
        stop.set()
        feeder.join(5)
    assert reply["content"]["status"] == "ok"
    busy = kernel.busy_at(msg_id)
    wait_until(lambda: kernel.idle_at(msg_id) is not None, 10)
    idle = kernel.idle_at(msg_id)
    assert busy is not None and idle is not None and idle - busy >= 19

    # Deltas reached the client all through the sleep, whenever ticks were flowing.
    deltas = kernel.custom(table_id, "delta")
    during = [(t, d) for t, d in deltas if busy < t < idle]
    ticks_during = [(t, n) for t, n in sent if t < idle - 0.5]
    assert len(ticks_during) >= 50
    for t_sent, n in ticks_during:
        # each tick shows up in a delta within 1.5 s, while the cell is still sleeping
        arrived = [t for t, d in during
                   if any(row.get("n") == n for row in d.get("upsert", []))]
        assert arrived and arrived[0] - t_sent < 1.5, (n, arrived[:1], t_sent)
    # The heartbeat ran while the kernel's main thread slept, and the link never dropped.
    assert pings_in_silence and pings_in_silence[0] >= 1
    assert server.connection_count == 1
    stats_updates = [s for t, s in kernel.updates(widget_id) if busy < t < idle and "stats" in s]
    assert len(stats_updates) >= 10
    assert stats_updates[-1]["stats"]["reconnects"] == 0
    assert max_gap([t for t, _ in during if t < busy + 7]) < 1.5


def max_gap(times: list[float]) -> float:
    return max((b - a for a, b in itertools.pairwise(times)), default=0.0)


def test_front_end_reconnect_message_reconnects_an_idle_kernel(kernel: Kernel,
                                                               ws_server: Any) -> None:
    server = ws_server()
    widget_id, _ = kernel.execute(SETUP.format(url=server.url)).split()
    wait_until(lambda: server.open_connections == 1, 10)
    wait_until(lambda: any(s.get("status") == "connected"
                           for _, s in kernel.updates(widget_id)), 10)
    sent_at = time.monotonic()
    kernel.comm_send(widget_id, {"method": "custom", "content": {"kind": "reconnect"}})
    wait_until(lambda: server.connection_count == 2 and server.open_connections == 1, 10)

    def reconnected_seen() -> bool:
        return any(t > sent_at and s.get("stats", {}).get("reconnects") == 1
                   and s.get("status", "connected") == "connected"
                   for t, s in kernel.updates(widget_id))

    wait_until(reconnected_seen, 10, message=lambda: str(kernel.updates(widget_id)[-3:]))
    out = kernel.execute("print(w.status, w.connection.stats()['reconnects'])")
    assert out.split() == ["connected", "1"]


def test_updates_belong_to_the_cell_that_is_running(kernel: Kernel, ws_server: Any) -> None:
    """Updates flushed on the I/O thread carry the running cell's request, not the request of the
    cell that created the widget: notebook runners (nbclient) keep a cell's widget updates only."""
    server = ws_server()
    _, table_id = kernel.execute(SETUP.format(url=server.url)).split()
    wait_until(lambda: server.open_connections == 1, 10)
    msg_id = kernel.execute_async("import time; time.sleep(3)")
    wait_until(lambda: kernel.busy_at(msg_id) is not None, 10)
    for n in range(20):
        server.send(tick(n))

    def parents() -> set[str]:
        return {r.msg["parent_header"].get("msg_id") for r in kernel.messages()
                if r.msg["msg_type"] == "comm_msg"
                and r.msg["content"].get("comm_id") == table_id
                and r.msg["content"]["data"].get("method") == "custom"}

    wait_until(lambda: msg_id in parents(), 10, message=lambda: str(parents()))
    kernel.wait_reply(msg_id, 20)

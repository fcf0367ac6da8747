"""A thousand connect/close cycles leave no thread, I/O-loop task or file descriptor behind."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable

from rt_widgets import Backoff, Connection
from rt_widgets.iothread import get_loop, run_sync
from tests._servers import WsServer
from tests.conftest import wait_until

MakeServer = Callable[..., WsServer]
MakeConn = Callable[..., Connection]


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def io_loop_tasks() -> int:
    async def count() -> int:
        return len(asyncio.all_tasks(get_loop())) - 1  # minus this very coroutine

    return run_sync(count(), timeout=5)


def baseline(server: WsServer) -> tuple[int, int, int]:
    wait_until(lambda: server.open_connections == 0, 5)
    return threading.active_count(), open_fds(), io_loop_tasks()


def test_thousand_connect_close_cycles_return_to_baseline(
    ws_server: MakeServer, record_property: Callable[[str, object], None]
) -> None:
    server = ws_server()
    with Connection(server.url) as warm:
        warm.wait_for_state("connected", timeout=5)
    threads, fds, tasks = baseline(server)
    started = time.monotonic()
    for i in range(1000):
        conn = Connection(server.url, heartbeat_interval=5.0)
        conn.start()
        conn.wait_for_state("connected", timeout=5)
        if i % 2:
            conn.send("x", i)
        conn.stop()
    elapsed = time.monotonic() - started
    wait_until(lambda: server.open_connections == 0, 10)
    wait_until(lambda: open_fds() <= fds, 10, message=lambda: f"fds {fds} -> {open_fds()}")
    wait_until(lambda: io_loop_tasks() <= tasks, 5, message=lambda: f"tasks {tasks} -> {io_loop_tasks()}")
    figures = {
        "cycles": 1000,
        "seconds": round(elapsed, 2),
        "threads": f"{threads} -> {threading.active_count()}",
        "fds": f"{fds} -> {open_fds()}",
        "io_tasks": f"{tasks} -> {io_loop_tasks()}",
    }
    print(f"\n{figures}")
    for key, value in figures.items():
        record_property(key, value)
    assert threading.active_count() == threads
    assert server.connection_count == 1001


def test_disconnect_connect_cycles_on_one_connection_return_to_baseline(
    ws_server: MakeServer, make_conn: MakeConn
) -> None:
    server = ws_server()
    tasks = io_loop_tasks()
    conn = make_conn(server.url, heartbeat_interval=0.5, backoff=Backoff(initial=0.01, maximum=0.02))
    conn.start()
    conn.wait_for_state("connected", timeout=5)
    wait_until(lambda: server.open_connections == 1, 5)
    threads, fds = threading.active_count(), open_fds()
    for _ in range(200):
        conn.disconnect()
        conn.wait_for_state("disconnected", timeout=5)
        conn.connect()
        conn.wait_for_state("connected", timeout=5)
    wait_until(lambda: server.open_connections == 1, 5)
    wait_until(lambda: open_fds() <= fds, 10, message=lambda: f"fds {fds} -> {open_fds()}")
    print(f"\n200 disconnect/connect cycles: threads {threads} -> {threading.active_count()}, "
          f"fds {fds} -> {open_fds()}")
    assert threading.active_count() == threads
    assert server.connection_count == 201
    conn.stop()
    wait_until(lambda: io_loop_tasks() <= tasks, 5, message=lambda: f"tasks {tasks} -> {io_loop_tasks()}")


def test_stop_cancels_every_task_even_mid_reconnect(ws_server: MakeServer) -> None:
    server = ws_server()
    server.refuse(503)
    tasks = io_loop_tasks()
    conns = [
        Connection(server.url, backoff=Backoff(initial=0.01, maximum=0.05)).start() for _ in range(20)
    ]
    wait_until(lambda: len(server.handshakes()) >= 40, 10)
    for conn in conns:
        conn.stop()
    wait_until(lambda: io_loop_tasks() <= tasks, 5, message=lambda: f"tasks {tasks} -> {io_loop_tasks()}")
    print(f"\n20 connections stopped mid-retry after {len(server.handshakes())} refused handshakes: "
          f"I/O tasks {tasks} -> {io_loop_tasks()}")
    assert all(c.state == "closed" for c in conns)

"""Clean shutdown: no thread, task or file descriptor outlives a Connection; stop() is always fast."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from rt_widgets import Backoff, Connection
from tests._servers import SilentServer, WsServer
from tests.conftest import assert_stays, wait_until

MakeServer = Callable[..., WsServer]
MakeConn = Callable[..., Connection]


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def io_tasks() -> int:
    import asyncio

    from rt_widgets.iothread import run_sync

    async def count() -> int:
        return len([t for t in asyncio.all_tasks() if t is not asyncio.current_task()])

    return run_sync(count(), timeout=5)


def test_start_stop_cycles_leave_no_threads_or_fds(ws_server: MakeServer) -> None:
    server = ws_server()
    # Warm up: the shared I/O thread starts on first use and stays; that is the one allowed extra.
    with Connection(server.url) as warm:
        warm.wait_for_state("connected", timeout=5)
    wait_until(lambda: server.open_connections == 0, 5)
    threads, fds, tasks = threading.active_count(), open_fds(), io_tasks()
    started = time.monotonic()
    for _ in range(200):
        conn = Connection(server.url)
        conn.start()
        conn.wait_for_state("connected", timeout=5)
        conn.stop()
        assert conn.state == "closed"
    elapsed = time.monotonic() - started
    wait_until(lambda: server.open_connections == 0, 5)
    wait_until(lambda: open_fds() <= fds + 2, 5, message=lambda: f"fds {fds} -> {open_fds()}")
    print(
        f"\n200 start/stop cycles in {elapsed:.2f} s; threads {threads} -> {threading.active_count()}, "
        f"fds {fds} -> {open_fds()}, I/O tasks {tasks} -> {io_tasks()}"
    )
    assert threading.active_count() == threads
    assert io_tasks() <= tasks
    assert server.connection_count == 201


def test_stop_sends_a_normal_close_frame(ws_server: MakeServer, make_conn: MakeConn) -> None:
    server = ws_server()
    conn = make_conn(server.url)
    conn.start()
    conn.wait_for_state("connected", timeout=5)
    t0 = time.monotonic()
    conn.stop()
    took = time.monotonic() - t0
    wait_until(lambda: server.close_codes, 5)
    print(f"\nstop() against a well-behaved server: {took:.3f} s, close code {server.close_codes}")
    assert server.close_codes == [1000]
    assert took < 1.0


def test_stop_returns_fast_when_the_server_never_answers_the_close(
    ws_server: MakeServer, make_conn: MakeConn
) -> None:
    server = ws_server()
    conn = make_conn(server.url)
    conn.start()
    conn.wait_for_state("connected", timeout=5)
    server.stop_reading()
    t0 = time.monotonic()
    conn.stop()
    took = time.monotonic() - t0
    print(f"\nstop() against a server that never answers the close: {took:.3f} s")
    assert took < 1.0
    assert conn.state == "closed"


def test_stop_returns_fast_while_the_handshake_hangs(
    silent_server: SilentServer, make_conn: MakeConn
) -> None:
    conn = make_conn(silent_server.url, open_timeout=30)
    conn.start()
    wait_until(lambda: silent_server.accepted, 5)
    t0 = time.monotonic()
    conn.stop()
    assert time.monotonic() - t0 < 1.0
    assert conn.state == "closed"
    wait_until(lambda: silent_server.hung_up, 5, message="the half-open handshake socket was left open")


def test_stop_during_a_backoff_wait_is_fast_and_final(
    ws_server: MakeServer, make_conn: MakeConn
) -> None:
    server = ws_server()
    server.refuse(503)
    conn = make_conn(server.url, backoff=Backoff(initial=30.0, maximum=30.0, jitter="none"))
    states: list[Any] = []
    conn.on_state(lambda old, new: states.append(str(new)))
    conn.start()
    wait_until(lambda: conn.next_retry_in is not None, 5)
    assert conn.state == "reconnecting"
    assert 25 < (conn.next_retry_in or 0) <= 30
    t0 = time.monotonic()
    conn.stop()
    assert time.monotonic() - t0 < 1.0
    assert states[-1] == "closed" and conn.state == "closed"
    assert conn.next_retry_in is None


def test_retry_now_cuts_the_backoff_wait_short(ws_server: MakeServer, make_conn: MakeConn) -> None:
    server = ws_server()
    server.refuse(503)
    conn = make_conn(server.url, backoff=Backoff(initial=30.0, maximum=30.0, jitter="none"))
    conn.start()
    wait_until(lambda: conn.next_retry_in is not None, 5)
    server.behave()
    conn.retry_now()
    conn.wait_for_state("connected", timeout=5)
    assert len(server.handshakes()) == 2


@pytest.mark.parametrize(
    ("options", "word"),
    [
        ({"heartbeat_interval": 0}, "heartbeat_interval"),
        ({"heartbeat_timeout": -1}, "heartbeat_timeout"),
        ({"open_timeout": 0}, "open_timeout"),
        ({"max_message_size": 0}, "max_message_size"),
        ({"queue_limit": -5}, "queue_limit"),
        ({"overflow": "spill"}, "overflow"),
        ({"max_attempts": 0}, "max_attempts"),
    ],
)
def test_bad_options_are_refused_with_an_error_naming_them(options: dict[str, Any], word: str) -> None:
    with pytest.raises(ValueError) as info:
        Connection("ws://127.0.0.1:9/ws", **options)
    assert word in str(info.value)


def test_bad_urls_are_refused_without_echoing_credentials() -> None:
    with pytest.raises(ValueError) as info:
        Connection("http://user:hunter2@127.0.0.1/ws")
    assert "ws://" in str(info.value) and "hunter2" not in str(info.value)


def test_unserialisable_payload_fails_at_the_call(make_conn: MakeConn) -> None:
    conn = make_conn("ws://127.0.0.1:9/ws")
    with pytest.raises(TypeError):
        conn.send("x", object())
    assert conn.stats()["queued"] == 0


def test_stop_is_idempotent_and_final(ws_server: MakeServer) -> None:
    server = ws_server()
    conn = Connection(server.url).start()
    conn.wait_for_state("connected", timeout=5)
    conn.stop()
    conn.stop()
    assert conn.state == "closed"
    with pytest.raises(RuntimeError):
        conn.start()
    with pytest.raises(RuntimeError):
        conn.connect()


def io_barrier() -> None:
    """Return once every callback already handed to the I/O loop has run (the loop is FIFO)."""
    from rt_widgets.iothread import run_sync

    async def noop() -> None:
        return None

    run_sync(noop(), timeout=5)


def test_repeated_control_calls_never_leave_two_links_open(
    ws_server: MakeServer, make_conn: MakeConn
) -> None:
    server = ws_server()
    conn = make_conn(server.url, backoff=Backoff(initial=0.01, maximum=0.02))
    conn.start()
    conn.start()
    conn.wait_for_state("connected", timeout=5)
    wait_until(lambda: server.open_connections == 1, 5)
    threads = [threading.Thread(target=lambda: [conn.reconnect() for _ in range(20)]) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    io_barrier()
    wait_until(lambda: conn.state == "connected" and server.open_connections == 1, 10,
               message=lambda: f"{conn.state}, {server.open_connections} links open")
    assert_stays(lambda: server.open_connections <= 1, 0.3)
    after_reconnects = server.connection_count
    assert after_reconnects >= 2, "reconnect() must replace the link"
    conn.disconnect()
    for _ in range(10):
        conn.connect()
    io_barrier()
    wait_until(lambda: conn.state == "connected" and server.open_connections == 1, 10,
               message=lambda: f"{conn.state}, {server.open_connections} links open")
    assert_stays(lambda: server.open_connections <= 1, 0.3)
    print(f"\n60 reconnect() calls from 3 threads, then disconnect() and 10 connect(): "
          f"{server.connection_count} links made, {server.open_connections} open")
    assert server.connection_count > after_reconnects
    assert conn.send("still", 1).wait(5) == "sent"

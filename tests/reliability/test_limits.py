"""Size limits: a frame exactly at max_message_size passes, one byte more is refused, and a 100 MB frame
is refused from its header without the process ever holding it."""

from __future__ import annotations

import resource
import threading
from collections.abc import Callable
from typing import Any

from rt_widgets import Backoff, Connection, ConnectionState
from tests._servers import WsServer
from tests.conftest import wait_until

MakeServer = Callable[..., WsServer]
MakeConn = Callable[..., Connection]

LIMIT = 4096


def frame_of_size(size: int) -> str:
    head, tail = '{"type": "big", "payload": "', '"}'
    frame = head + "a" * (size - len(head) - len(tail)) + tail
    assert len(frame.encode()) == size
    return frame


def rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def max_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class Links:
    def __init__(self, conn: Connection) -> None:
        self.connected = 0
        self.reconnecting_stats: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._conn = conn
        conn.on_state(self)

    def __call__(self, old: ConnectionState, new: ConnectionState) -> None:
        with self._lock:
            if new == "connected":
                self.connected += 1
            elif new == "reconnecting":
                self.reconnecting_stats.append(self._conn.stats())


def test_frame_exactly_at_the_limit_is_delivered(ws_server: MakeServer, make_conn: MakeConn) -> None:
    server = ws_server()
    conn = make_conn(server.url, max_message_size=LIMIT)
    got: list[Any] = []
    conn.on("big", got.append)
    conn.start()
    conn.wait_for_state("connected", timeout=5)
    server.send(frame_of_size(LIMIT))
    wait_until(lambda: got, 5)
    assert len(got[0]) == LIMIT - len('{"type": "big", "payload": ""}')
    print(f"\nframe of exactly max_message_size={LIMIT} bytes delivered")
    stats = conn.stats()
    assert stats["decode_errors"] == 0 and stats["reconnects"] == 0


def test_frame_one_byte_over_the_limit_is_refused_and_counted(
    ws_server: MakeServer, make_conn: MakeConn, record_property: Callable[[str, object], None]
) -> None:
    server = ws_server()
    conn = make_conn(server.url, max_message_size=LIMIT, backoff=Backoff(initial=0.01, maximum=0.05))
    links = Links(conn)
    got: list[Any] = []
    conn.on("big", got.append)
    conn.start()
    conn.wait_for_state("connected", timeout=5)
    server.send(frame_of_size(LIMIT + 1))
    wait_until(lambda: links.connected == 2, 5, message=lambda: str(conn.stats()))
    stats = conn.stats()
    print(f"\none byte over: {links.reconnecting_stats[0]['last_error']!r}")
    assert got == []
    assert stats["decode_errors"] == 1
    assert stats["last_close_code"] == 1009
    assert stats["reconnects"] == 1
    assert "max_message_size" in (links.reconnecting_stats[0]["last_error"] or "")
    record_property("oversize_error", links.reconnecting_stats[0]["last_error"])


def test_hundred_megabyte_frame_is_refused_without_buffering_it(
    ws_server: MakeServer, make_conn: MakeConn, record_property: Callable[[str, object], None]
) -> None:
    server = ws_server()
    conn = make_conn(server.url, backoff=Backoff(initial=0.01, maximum=0.05))  # default 1 MiB limit
    links = Links(conn)
    conn.start()
    conn.wait_for_state("connected", timeout=5)
    rss_before, max_before = rss_bytes(), max_rss_bytes()
    written = server.send_declared_frame(100 * 1000 * 1000)
    wait_until(lambda: links.connected == 2, 10, message=lambda: str(conn.stats()))
    rss_growth = rss_bytes() - rss_before
    max_growth = max_rss_bytes() - max_before
    print(
        f"\n100 MB frame: server got {written / 1e6:.1f} MB out before the client closed; "
        f"RSS growth {rss_growth / 1e6:.1f} MB, peak RSS growth {max_growth / 1e6:.1f} MB"
    )
    record_property("bytes_written_before_close", written)
    record_property("peak_rss_growth_mb", round(max_growth / 1e6, 1))
    stats = conn.stats()
    assert stats["decode_errors"] == 1
    assert stats["last_close_code"] == 1009
    assert max_growth < 50 * 1000 * 1000
    assert rss_growth < 50 * 1000 * 1000
    # The link is usable again.
    assert conn.send("after", 1).wait(5) == "sent"
    wait_until(lambda: server.messages("after"), 5)

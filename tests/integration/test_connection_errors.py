"""Bad input and refusals against real servers: bad frames, oversized frames, handshake statuses,
close codes, `should_reconnect`, per-attempt headers, and a generic RFC 6455 server."""

from __future__ import annotations

import email.utils
import itertools
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from rt_widgets import Backoff, Connection, ConnectionState
from tests._servers import WsServer
from tests.conftest import assert_stays, wait_until
from tests.servers.node_ws import node_ws_server

MakeServer = Callable[..., WsServer]
MakeConn = Callable[..., Connection]

FAST = Backoff(initial=0.01, maximum=0.05)


class States:
    def __init__(self, conn: Connection) -> None:
        self.news: list[str] = []
        self._lock = threading.Lock()
        conn.on_state(self)

    def __call__(self, old: ConnectionState, new: ConnectionState) -> None:
        with self._lock:
            self.news.append(str(new))


def started(make_conn: MakeConn, url: str, **options: Any) -> tuple[Connection, States, list[Any]]:
    conn = make_conn(url, **options)
    states = States(conn)
    goods: list[Any] = []
    conn.on("good", goods.append)
    conn.start()
    return conn, states, goods


# --- bad frames ---------------------------------------------------------------------------------

BAD_FRAMES: list[tuple[str, str | bytes, int, list[Any]]] = [
    ("invalid-json", "{this is not json", 1, []),
    ("truncated-json", '{"type": "good", "payload": ', 1, []),
    ("json-number", "42", 1, []),
    ("json-string", '"just text"', 1, []),
    ("json-null", "null", 1, []),
    ("object-without-type", '{"payload": {"a": 1}}', 1, []),
    ("type-not-a-string", '{"type": 17, "payload": 1}', 1, []),
    (
        "batch-with-bad-elements",
        '[{"type": "good", "payload": "b1"}, 5, {"payload": 2}, "x", {"type": "good", "payload": "b2"}]',
        3,
        ["b1", "b2"],
    ),
    ("binary-not-utf8", b"\xff\xfe\xfa{", 1, []),
    ("binary-utf8-json", '{"type": "good", "payload": "bin-ünï"}'.encode(), 0, ["bin-ünï"]),
]


@pytest.mark.parametrize(
    ("frame", "errors", "delivered"),
    [pytest.param(f, e, d, id=name) for name, f, e, d in BAD_FRAMES],
)
def test_bad_frame_is_counted_and_the_link_stays_up(
    ws_server: MakeServer, make_conn: MakeConn, frame: str | bytes, errors: int, delivered: list[Any]
) -> None:
    server = ws_server()
    conn, _, goods = started(make_conn, server.url, messages="envelope")
    conn.wait_for_state("connected", timeout=5)
    server.send(frame, {"type": "good", "payload": "after"})
    wait_until(lambda: "after" in goods, 5, message=lambda: f"goods={goods} stats={conn.stats()}")
    stats = conn.stats()
    assert goods == [*delivered, "after"], "good messages still arrive, in order"
    assert stats["decode_errors"] == errors
    if errors:
        assert isinstance(stats["last_error"], str) and stats["last_error"]
        assert conn.last_error == stats["last_error"]
    assert stats["reconnects"] == 0
    assert conn.state == "connected"
    assert server.connection_count == 1


def test_oversized_frame_is_refused_counted_and_the_link_reconnects(
    ws_server: MakeServer, make_conn: MakeConn
) -> None:
    server = ws_server()
    conn, states, goods = started(make_conn, server.url, max_message_size=1000, backoff=FAST)
    at_drop: list[dict[str, Any]] = []
    conn.on_state(lambda old, new: at_drop.append(conn.stats()) if new == "reconnecting" else None)
    conn.wait_for_state("connected", timeout=5)
    server.send({"type": "good", "payload": "x" * 2000})
    wait_until(lambda: states.news.count("connected") == 2, 5, message=lambda: str(conn.stats()))
    stats = conn.stats()
    assert goods == []
    assert stats["decode_errors"] == 1
    assert stats["last_close_code"] == 1009
    assert stats["reconnects"] == 1
    # While the link is down, the error says why.
    error = at_drop[0]["last_error"] or ""
    assert "max_message_size" in error or "1009" in error, at_drop[0]
    server.send({"type": "good", "payload": "small"})
    wait_until(lambda: goods == ["small"], 5)


# --- handshake statuses -------------------------------------------------------------------------


@pytest.mark.parametrize("status", [401, 403, 404])
def test_terminal_handshake_status_stops_after_one_attempt(
    ws_server: MakeServer, make_conn: MakeConn, status: int
) -> None:
    server = ws_server()
    server.refuse(status)
    conn, states, _ = started(make_conn, server.url, backoff=FAST)
    wait_until(lambda: "disconnected" in states.news, 5, message=lambda: str(states.news))
    assert_stays(lambda: len(server.handshakes()) == 1, 0.4,
                 message=lambda: f"{len(server.handshakes())} attempts")
    assert conn.state == "disconnected"
    assert str(status) in (conn.last_error or "")
    assert conn.stats()["last_error"] == conn.last_error
    assert conn.next_retry_in is None


@pytest.mark.parametrize("status", [500, 503])
def test_server_error_status_is_retried(
    ws_server: MakeServer, make_conn: MakeConn, status: int
) -> None:
    server = ws_server()
    server.refuse(status)
    conn, states, _ = started(make_conn, server.url, backoff=FAST)
    wait_until(lambda: len(server.handshakes()) >= 4, 5)
    assert conn.state == "reconnecting"
    assert str(status) in (conn.last_error or "")
    assert conn.attempt >= 3
    server.behave()
    conn.wait_for_state("connected", timeout=5)
    assert "disconnected" not in states.news


@pytest.mark.parametrize("status", [503, 429])
def test_retry_after_is_honoured(ws_server: MakeServer, make_conn: MakeConn, status: int) -> None:
    server = ws_server()
    server.refuse(status, {"Retry-After": "1"})
    conn, _, _ = started(make_conn, server.url, backoff=FAST)
    wait_until(lambda: len(server.handshakes()) >= 1, 5)
    wait_until(lambda: conn.next_retry_in is not None, 2)
    assert 0 < (conn.next_retry_in or 0) <= 1.05
    wait_until(lambda: len(server.handshakes()) >= 2, 5)
    times = [a.time for a in server.handshakes()]
    gap = times[1] - times[0]
    print(f"\n{status} with Retry-After: 1 -> next attempt after {gap:.3f} s (backoff alone: <= 0.01 s)")
    assert gap >= 0.95
    assert conn.state == "reconnecting"


def test_retry_after_as_an_http_date_is_honoured(ws_server: MakeServer, make_conn: MakeConn) -> None:
    server = ws_server()
    when = email.utils.formatdate(time.time() + 2, usegmt=True)
    server.refuse(503, {"Retry-After": when})
    conn, _, _ = started(make_conn, server.url, backoff=FAST)
    wait_until(lambda: len(server.handshakes()) >= 2, 6)
    times = [a.time for a in server.handshakes()]
    print(f"\nRetry-After: {when} -> next attempt after {times[1] - times[0]:.3f} s")
    # The date has one-second resolution: the wait is between one and two seconds.
    assert times[1] - times[0] >= 0.9
    assert conn.state == "reconnecting"


def test_should_reconnect_can_retry_a_terminal_status(
    ws_server: MakeServer, make_conn: MakeConn
) -> None:
    server = ws_server()
    server.refuse(401)
    errors: list[Any] = []

    def always(error: Any) -> bool:
        errors.append(error)
        return True

    conn, states, _ = started(make_conn, server.url, backoff=FAST, should_reconnect=always)
    wait_until(lambda: len(server.handshakes()) >= 3, 5)
    assert "disconnected" not in states.news
    assert conn.state == "reconnecting"
    assert "401" in str(errors[0])


def test_should_reconnect_can_stop_on_a_retryable_status(
    ws_server: MakeServer, make_conn: MakeConn
) -> None:
    server = ws_server()
    server.refuse(503)
    conn, states, _ = started(make_conn, server.url, backoff=FAST, should_reconnect=lambda e: False)
    wait_until(lambda: "disconnected" in states.news, 5)
    assert_stays(lambda: len(server.handshakes()) == 1, 0.3)
    assert "503" in (conn.last_error or "")


# --- close codes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [1008, 4000, 4001, 4999])
def test_terminal_close_code_stops_retrying(
    ws_server: MakeServer, make_conn: MakeConn, code: int
) -> None:
    server = ws_server()
    server.close_on_connect(code, "go away")
    conn, states, _ = started(make_conn, server.url, backoff=FAST)
    wait_until(lambda: "disconnected" in states.news, 5, message=lambda: str(states.news))
    assert_stays(lambda: server.connection_count == 1, 0.4)
    assert conn.state == "disconnected"
    assert str(code) in (conn.last_error or "")
    assert conn.stats()["last_close_code"] == code


@pytest.mark.parametrize("code", [1001, 1011, 1012, 1013, 3000])
def test_retryable_close_code_reconnects(
    ws_server: MakeServer, make_conn: MakeConn, code: int
) -> None:
    server = ws_server()
    server.close_on_connect(code)
    conn, states, _ = started(make_conn, server.url, backoff=FAST)
    wait_until(lambda: server.connection_count >= 3, 5)
    assert "disconnected" not in states.news
    assert conn.stats()["last_close_code"] == code
    server.behave()
    wait_until(lambda: conn.state == "connected" and server.open_connections == 1, 5)


def test_should_reconnect_overrides_a_terminal_close_code(
    ws_server: MakeServer, make_conn: MakeConn
) -> None:
    server = ws_server()
    server.close_on_connect(4001)
    _, states, _ = started(make_conn, server.url, backoff=FAST, should_reconnect=lambda e: True)
    wait_until(lambda: server.connection_count >= 3, 5)
    assert "disconnected" not in states.news


# --- headers ------------------------------------------------------------------------------------


def test_static_headers_reach_the_server(ws_server: MakeServer, make_conn: MakeConn) -> None:
    server = ws_server()
    conn, _, _ = started(make_conn, server.url, headers={"X-Api-Key": "k1"})
    conn.wait_for_state("connected", timeout=5)
    assert server.handshakes()[0].headers.get("X-Api-Key") == "k1"


def test_headers_callable_is_evaluated_on_every_attempt(
    ws_server: MakeServer, make_conn: MakeConn
) -> None:
    server = ws_server()
    server.refuse(503)
    counter = itertools.count(1)

    def fresh_token() -> dict[str, str]:
        return {"Authorization": f"Bearer token-{next(counter)}"}

    conn, _, _ = started(make_conn, server.url, headers=fresh_token, backoff=FAST)
    wait_until(lambda: len(server.handshakes()) >= 3, 5)
    server.behave()
    conn.wait_for_state("connected", timeout=5)
    tokens = [a.headers.get("Authorization") for a in server.handshakes()]
    numbers = [int(t.rsplit("-", 1)[1]) for t in tokens if t]
    print(f"\ntokens seen by the server: {tokens}")
    assert len(numbers) == len(tokens) >= 4
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers), "a new token per attempt"


# --- a generic RFC 6455 server --------------------------------------------------------------------


def test_server_that_ignores_the_application_ping_is_kept_alive_by_protocol_pongs(
    ws_server: MakeServer, make_conn: MakeConn
) -> None:
    """A plain `websockets` server that never answers {"type": "ping"} and sends nothing at all:
    only WebSocket protocol pongs come back, and they must be enough."""
    server = ws_server(answer_pings=False)
    conn, _, _ = started(make_conn, server.url, heartbeat_interval=0.2, heartbeat_timeout=0.3)
    conn.wait_for_state("connected", timeout=5)
    assert_stays(lambda: conn.stats()["reconnects"] == 0 and conn.state == "connected", 3.0,
                 message=lambda: str(conn.stats()))
    print(f"\nsilent generic server: {server.pings} unanswered app pings, "
          f"{server.protocol_pings} protocol pings, latency {conn.latency_ms} ms")
    assert server.protocol_pings >= 8
    assert server.connection_count == 1
    assert conn.latency_ms is not None, "protocol pongs measure the round trip too"


def test_node_ws_server_keeps_the_link_up_on_protocol_pongs(make_conn: MakeConn) -> None:
    with node_ws_server() as url:
        conn, states, _ = started(make_conn, url, heartbeat_interval=0.2, heartbeat_timeout=0.3)
        echoes: list[Any] = []
        conn.on("echo", echoes.append)
        conn.wait_for_state("connected", timeout=10)
        assert_stays(lambda: conn.stats()["reconnects"] == 0 and conn.state == "connected", 3.0,
                     message=lambda: str(conn.stats()))
        conn.send("hello", {"n": 1})
        wait_until(lambda: echoes, 5)
        assert echoes[0]["type"] == "hello" and echoes[0]["payload"] == {"n": 1}
        assert states.news == ["connecting", "connected"]
        assert conn.stats()["decode_errors"] == 0
        conn.stop()


def test_demo_feed_drop_is_survived(make_conn: MakeConn) -> None:
    from rt_widgets.demo import DemoServer

    with DemoServer(port=0, rate=50, seed=1) as feed:
        conn, states, _ = started(make_conn, feed.url, backoff=FAST)
        types: set[str] = set()
        conn.on("*", lambda m: types.add(m.type))
        conn.wait_for_state("connected", timeout=5)
        wait_until(lambda: len(types) >= 2, 5, message=lambda: str(types))
        feed.drop_clients()
        wait_until(lambda: states.news.count("connected") == 2, 5, message=lambda: str(states.news))
        assert conn.stats()["last_close_code"] == 1012
        assert conn.stats()["reconnects"] == 1
        assert conn.stats()["decode_errors"] == 0
        conn.stop()


def test_max_attempts_gives_up_and_connect_starts_over(
    ws_server: MakeServer, make_conn: MakeConn
) -> None:
    server = ws_server()
    server.refuse(503)
    conn, states, _ = started(make_conn, server.url, backoff=FAST, max_attempts=3)
    wait_until(lambda: "disconnected" in states.news, 5, message=lambda: str(states.news))
    assert_stays(lambda: len(server.handshakes()) == 3, 0.3)
    assert "503" in (conn.last_error or "")
    server.behave()
    conn.connect()
    conn.wait_for_state("connected", timeout=5)
    assert len(server.handshakes()) == 4


def test_disconnect_while_retrying_stops_the_retries(
    ws_server: MakeServer, make_conn: MakeConn
) -> None:
    server = ws_server()
    server.refuse(503)
    conn, states, _ = started(make_conn, server.url, backoff=FAST)
    wait_until(lambda: len(server.handshakes()) >= 2, 5)
    conn.disconnect()
    wait_until(lambda: states.news[-1:] == ["disconnected"], 5, message=lambda: str(states.news))
    wait_until(lambda: conn.state == "disconnected", 5)
    seen = len(server.handshakes())
    assert_stays(lambda: len(server.handshakes()) == seen, 0.3)
    assert conn.next_retry_in is None


def test_normal_closure_by_the_server_is_retried(ws_server: MakeServer, make_conn: MakeConn) -> None:
    server = ws_server()
    conn, states, _ = started(make_conn, server.url, backoff=FAST)
    conn.wait_for_state("connected", timeout=5)
    server.close_all(1000, "bye")
    wait_until(lambda: states.news.count("connected") == 2, 5, message=lambda: str(states.news))
    assert conn.stats()["last_close_code"] == 1000


def test_half_open_link_is_detected_with_protocol_pings_only(
    ws_server: MakeServer, make_conn: MakeConn
) -> None:
    server = ws_server()
    conn, states, _ = started(make_conn, server.url, heartbeat_interval=0.2, heartbeat_timeout=0.3,
                              heartbeat_message=None, backoff=FAST)
    conn.wait_for_state("connected", timeout=5)
    wait_until(lambda: conn.latency_ms is not None, 5)
    silenced = time.monotonic()
    server.stop_reading()
    wait_until(lambda: "reconnecting" in states.news, 5)
    took = time.monotonic() - silenced
    print(f"\nheartbeat_message=None: half-open detected after {took:.3f} s")
    assert took <= 0.2 + 0.3 + 0.5
    assert server.pings == 0, "no application ping when heartbeat_message=None"
    assert server.protocol_pings >= 1

"""The protocol layer end to end on a real loopback server: what each ``messages=`` mode makes of
frames, that sends go out exactly as given, and the heartbeat rules on feeds that are not ours."""

from __future__ import annotations

import threading
from typing import Any

import orjson
import pytest

from rt_widgets import Connection, Message
from rt_widgets.protocols.fields import Fields
from tests._servers import WsServer
from tests.conftest import wait_until

MakeServer = Any
MakeConn = Any


def collect(conn: Connection) -> list[Message]:
    seen: list[Message] = []
    lock = threading.Lock()

    def add(message: Message) -> None:
        with lock:
            seen.append(message)

    conn.on("*", add)
    return seen


def started(make_conn: MakeConn, server: WsServer, **options: Any) -> tuple[Connection, list[Message]]:
    conn: Connection = make_conn(server.url, **options)
    seen = collect(conn)
    conn.start()
    conn.wait_for_state("connected", timeout=5)
    return conn, seen


BINANCE = {"stream": "btcusdt@trade",
           "data": {"e": "trade", "E": 1672515782136, "s": "BNBBTC", "t": 12345, "p": "0.001"}}
KRAKEN_V1 = [0, [["5541.20000", "0.15850568", "1534614057.321597", "s", "l", ""]], "trade", "XBT/USD"]


def test_auto_reads_envelopes_foreign_objects_batches_text_and_binary(
    ws_server: MakeServer, make_conn: MakeConn
) -> None:
    server = ws_server()
    conn, seen = started(make_conn, server)
    server.send(
        {"type": "tick", "payload": {"n": 1}},
        BINANCE,
        [{"ev": "T", "sym": "AAPL", "p": 192.31}, {"ev": "Q", "sym": "AAPL"}],
        KRAKEN_V1,
        "not json at all",
        b"\xff\xfe binary",
        42,
        {"no": "type field"},
    )
    wait_until(lambda: len(seen) == 9, 5, message=lambda: f"{seen} {conn.stats()}")
    assert [(m.type, m.payload) for m in seen] == [
        ("tick", {"n": 1}),
        ("btcusdt@trade", BINANCE),  # "stream" comes before the nested type
        ("T", {"ev": "T", "sym": "AAPL", "p": 192.31}),
        ("Q", {"ev": "Q", "sym": "AAPL"}),
        ("message", KRAKEN_V1),
        ("text", "not json at all"),
        ("binary", b"\xff\xfe binary"),
        ("message", 42),
        ("message", {"no": "type field"}),
    ]
    stats = conn.stats()
    assert stats["decode_errors"] == 0 and stats["messages_in"] == 9


def test_the_same_frames_under_envelope_are_decode_errors(
    ws_server: MakeServer, make_conn: MakeConn
) -> None:
    server = ws_server()
    conn, seen = started(make_conn, server, messages="envelope")
    server.send(BINANCE, "not json at all", {"type": "tick", "payload": 1})
    wait_until(lambda: seen, 5)
    assert [(m.type, m.payload) for m in seen] == [("tick", 1)]
    wait_until(lambda: conn.stats()["decode_errors"] == 2, 5, message=lambda: str(conn.stats()))


def test_fields_reads_a_combined_stream_with_its_own_timestamps(
    ws_server: MakeServer, make_conn: MakeConn
) -> None:
    server = ws_server()
    conn, seen = started(
        make_conn, server,
        messages=Fields(type="data.e", payload="data", timestamp="data.E", time_unit="ms"))
    server.send(BINANCE, {"result": None, "id": 1})
    wait_until(lambda: len(seen) == 2, 5)
    trade, reply = seen
    assert (trade.type, trade.payload, trade.timestamp) == ("trade", BINANCE["data"], 1672515782.136)
    assert (reply.type, reply.payload) == ("message", None)
    assert conn.stats()["unmatched"] == 1 and conn.stats()["decode_errors"] == 0


def test_fields_rows_action_and_sequence_gaps(ws_server: MakeServer, make_conn: MakeConn) -> None:
    server = ws_server()
    conn, seen = started(make_conn, server, messages=Fields(
        type="table", rows="data", action="action", seq="seq"))
    server.send(
        {"table": "book", "action": "partial", "seq": 1, "data": [{"id": 1}, {"id": 2}]},
        {"table": "book", "action": "delete", "seq": 2, "data": [{"id": 1}]},
        {"table": "book", "action": "insert", "seq": 5, "data": [{"id": 3}]},
    )
    wait_until(lambda: len(seen) == 4, 5)
    assert [(m.type, m.payload, m.action, m.seq) for m in seen] == [
        ("book", {"id": 1}, "partial", 1), ("book", {"id": 2}, "partial", 1),
        ("book", {"id": 1}, "delete", 2), ("book", {"id": 3}, "insert", 5),
    ]
    assert conn.stats()["gaps"] == 2


def test_a_raising_messages_function_loses_that_frame_only(
    ws_server: MakeServer, make_conn: MakeConn
) -> None:
    def decode(value: Any) -> list[tuple[str, Any]]:
        if value == "bad":
            raise ValueError("cannot read this one")
        return [(value[2], value[1])] if isinstance(value, list) else [("other", value)]

    server = ws_server()
    conn, seen = started(make_conn, server, messages=decode)
    server.send(KRAKEN_V1, "bad", {"event": "heartbeat"})
    wait_until(lambda: len(seen) == 2, 5)
    assert [m.type for m in seen] == ["trade", "other"]
    assert conn.stats()["handler_errors"] == 1 and conn.state == "connected"


@pytest.mark.parametrize("value", [
    {"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": 1},
    [{"op": "subscribe"}, 2],
    "ping",
    b"\x00\x01raw",
], ids=["dict", "list", "text", "binary"])
def test_send_and_subscribe_send_a_value_exactly_as_given(
    ws_server: MakeServer, make_conn: MakeConn, value: Any
) -> None:
    server = ws_server(answer_pings=False)
    conn, _ = started(make_conn, server)
    conn.subscribe(value)
    assert conn.send(value).wait(5) == "sent"
    expected = value if isinstance(value, str | bytes) else orjson.dumps(value).decode()
    wait_until(lambda: server.raw_frames.count(expected) == 2, 5, message=lambda: str(server.raw_frames))
    conn.reconnect()  # the subscription is replayed, unchanged, on the next link
    wait_until(lambda: server.raw_frames.count(expected) == 3, 5, message=lambda: str(server.raw_frames))


def test_send_type_payload_builds_the_envelope(ws_server: MakeServer, make_conn: MakeConn) -> None:
    server = ws_server()
    conn, _ = started(make_conn, server)
    assert conn.send("command", {"id": 7}).wait(5) == "sent"
    wait_until(lambda: server.messages("command"), 5)
    (sent,) = server.messages("command")
    assert sent["payload"] == {"id": 7} and isinstance(sent["timestamp"], str)


def test_send_refuses_what_it_cannot_send_and_keeps_what_it_queued(make_conn: MakeConn) -> None:
    conn: Connection = make_conn("ws://127.0.0.1:9/unused")
    kept = conn.send({"ok": 1})
    with pytest.raises(TypeError, match="dict or list"):
        conn.send(3.5)
    with pytest.raises(TypeError, match="JSON-serialisable"):
        conn.send({"x": object()})
    with pytest.raises(ValueError, match="non-empty string type"):
        conn.send("", {"x": 1})
    assert conn.stats()["queued"] == 1 and not kept.done


def test_no_unsolicited_application_ping_to_a_foreign_feed_but_latency_is_known(
    ws_server: MakeServer, make_conn: MakeConn
) -> None:
    server = ws_server()
    conn, _ = started(make_conn, server, heartbeat_interval=0.05, heartbeat_timeout=1.0)
    server.send(BINANCE)
    wait_until(lambda: server.protocol_pings >= 5, 5)
    assert server.pings == 0, "an application ping went to a feed that never spoke the envelope"
    assert conn.latency_ms is not None and conn.state == "connected"


def test_the_envelope_ping_starts_once_the_feed_speaks_the_envelope(
    ws_server: MakeServer, make_conn: MakeConn
) -> None:
    server = ws_server()
    conn, _ = started(make_conn, server, heartbeat_interval=0.05, heartbeat_timeout=1.0)
    server.send({"type": "hello", "payload": None})
    wait_until(lambda: server.pings >= 2, 5, message=lambda: str(conn.stats()))
    assert server.messages("pong") == []  # pongs answer pings; they are not dispatched


@pytest.mark.parametrize("ping", ["ping", {"op": "ping"}], ids=["text", "dict"])
def test_a_users_heartbeat_message_is_sent_as_given_when_the_feed_is_idle(
    ws_server: MakeServer, make_conn: MakeConn, ping: Any
) -> None:
    server = ws_server(answer_pings=False)
    started(make_conn, server, heartbeat_interval=0.05, heartbeat_timeout=1.0, heartbeat_message=ping)
    expected = ping if isinstance(ping, str) else orjson.dumps(ping).decode()
    wait_until(lambda: server.raw_frames.count(expected) >= 2, 5, message=lambda: str(server.raw_frames))

"""MQTT 3.1.1 over WebSocket against PyPI's amqtt broker (its own process and environment), through
the public `Connection(url, protocol=MQTT(...))`; paho-mqtt is the second client."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection

from rt_widgets import Connection, Message
from rt_widgets.backoff import Backoff
from rt_widgets.protocols import MQTT
from rt_widgets.protocols.mqtt import PINGREQ_PACKET, encode_length, publish_packet
from tests._servers import ServerLoop
from tests.conftest import wait_until
from tests.integration._brokers import AmqttBroker, MqttPeer, read_until, scripted

FAST = Backoff(initial=0.05, maximum=0.5, jitter="none")
USERS = {"alice": "s3cret-pass"}


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Callable[..., AmqttBroker]]:
    brokers: list[AmqttBroker] = []

    def factory(users: dict[str, str] | None = None) -> AmqttBroker:
        made = AmqttBroker(tmp_path, users, name=f"amqtt{len(brokers)}")
        brokers.append(made)  # killed at the end even if it fails to start
        return made.start()

    yield factory
    for made in brokers:
        made.kill()


@pytest.fixture
def peers() -> Iterator[Callable[..., MqttPeer]]:
    made: list[MqttPeer] = []

    def factory(port: int, **options: Any) -> MqttPeer:
        peer = MqttPeer(port, **options)
        made.append(peer)
        return peer

    yield factory
    for peer in made:
        peer.close()


def started(make_conn: Any, url: str, protocol: MQTT,
            **options: Any) -> tuple[Connection, list[Message]]:
    """A connection, started and connected, and the messages it receives from the start."""
    conn: Connection = make_conn(url, protocol=protocol, **options)
    seen: list[Message] = []
    lock = threading.Lock()

    def add(message: Message) -> None:
        with lock:
            seen.append(message)

    conn.on("*", add)
    conn.start()
    conn.wait_for_state("connected", timeout=15)
    return conn, seen


def test_subscribes_and_receives_typed_messages(
    broker: Callable[..., AmqttBroker], peers: Callable[..., MqttPeer], make_conn: Any
) -> None:
    server = broker()
    conn, seen = started(make_conn, server.ws_url, MQTT(["sensors/#", "alerts"], qos=1))
    peer = peers(server.port)
    peer.publish("sensors/t1", b'{"celsius": 21.5}', qos=1)
    peer.publish("alerts", b"door open")
    peer.publish("sensors/raw", b"\xff\xfe")
    peer.publish("sensors/empty", b"")
    peer.publish("elsewhere", b"{}")  # not subscribed
    wait_until(lambda: len(seen) == 4, 5, message=lambda: f"{seen} {conn.stats()}")
    assert [(m.type, m.payload) for m in seen] == [
        ("sensors/t1", {"celsius": 21.5}),
        ("alerts", "door open"),
        ("sensors/raw", b"\xff\xfe"),
        ("sensors/empty", ""),
    ]
    assert seen[0].id is not None  # a QoS 1 delivery carries its packet id
    stats = conn.stats()
    assert stats["messages_in"] == 4 and stats["decode_errors"] == 0
    assert stats["url"] == server.ws_url and stats["latency_ms"] is not None


def test_send_publishes_to_a_second_client(
    broker: Callable[..., AmqttBroker], peers: Callable[..., MqttPeer], make_conn: Any
) -> None:
    server = broker()
    peer = peers(server.port)
    peer.subscribe("cmd/#")
    conn, _ = started(make_conn, server.ws_url, MQTT("unused"))
    assert conn.send("cmd/light", {"on": True, "level": 0.5}).wait(5) == "sent"
    assert conn.send("cmd/raw", b"\x00\x01binary").wait(5) == "sent"
    assert conn.send(publish_packet("cmd/by-hand", b"hi")).wait(5) == "sent"  # a raw packet
    wait_until(lambda: len(peer.received) == 3, 5, message=lambda: str(peer.received))
    assert [(t, p) for t, p, _ in peer.received] == [
        ("cmd/light", b'{"on":true,"level":0.5}'),
        ("cmd/raw", b"\x00\x01binary"),
        ("cmd/by-hand", b"hi"),
    ]
    with pytest.raises(TypeError, match="only bytes"):
        conn.send({"not": "a publish"})
    with pytest.raises(ValueError, match="wildcard"):
        conn.send("cmd/#", 1)


def test_a_restarted_broker_gets_the_handshake_and_subscriptions_then_the_queued_sends_in_order(
    broker: Callable[..., AmqttBroker], peers: Callable[..., MqttPeer], make_conn: Any
) -> None:
    server = broker()
    # The client subscribes to what it publishes (an MQTT 3.1.1 broker sends a client its own
    # messages): each queued send comes back only if the SUBSCRIBE reached the broker before it.
    conn, seen = started(make_conn, server.ws_url, MQTT("orders/#"), backoff=FAST)
    conn.subscribe("extra/+")
    server.kill()
    wait_until(lambda: conn.state == "reconnecting", 5)
    handles = [conn.send("orders/new", {"n": n}) for n in range(30)]
    assert conn.stats()["queued"] == 30
    server.start()
    wait_until(lambda: len(seen) == 30, 15, message=lambda: f"{len(seen)} {conn.stats()}")
    assert [m.payload["n"] for m in seen] == list(range(30))
    assert all(h.state == "sent" for h in handles)
    stats = conn.stats()
    assert stats["reconnects"] == 1 and stats["queued"] == 0 and stats["decode_errors"] == 0
    # The user's subscribe() was replayed too.
    peers(server.port).publish("extra/x", b"1")
    wait_until(lambda: seen[-1].type == "extra/x", 5)


def test_the_keepalive_holds_an_idle_link_and_a_busy_one(
    server_loop: ServerLoop, make_conn: Any
) -> None:
    # A strict broker, as the standard has it (amqtt's ignores its read timeouts): it closes a
    # client it hears nothing from for 1.5 x keepalive. Idle, PINGREQ goes out after
    # heartbeat_interval; busy with inbound messages (never idle, so the heartbeat never pings),
    # every keepalive / 2.
    keepalive = 2
    pings: list[tuple[float, str]] = []
    phase = ["idle"]
    done = asyncio.Event()

    async def strict_broker(ws: ServerConnection) -> None:
        await read_until(ws, b"MQTT")
        await ws.send(b"\x20\x02\x00\x00")
        await read_until(ws, b"busy/#")
        await ws.send(b"\x90\x03\x00\x01\x00")

        async def read() -> None:
            while True:
                try:
                    async with asyncio.timeout(1.5 * keepalive):
                        frame = await ws.recv()
                except TimeoutError:
                    await ws.close(1002, "keepalive timeout")
                    return
                if frame == PINGREQ_PACKET:
                    pings.append((time.monotonic(), phase[0]))
                    await ws.send(b"\xd0\x00")

        reader = asyncio.ensure_future(read())
        await asyncio.sleep(4.0)  # idle
        phase[0] = "busy"
        end = time.monotonic() + 4.0
        n = 0
        while time.monotonic() < end and not reader.done():
            await ws.send(publish_packet("busy/x", b"%d" % n))
            n += 1
            await asyncio.sleep(0.02)
        done.set()
        await reader

    with scripted(server_loop, strict_broker, subprotocols=("mqtt",)) as server:
        conn, seen = started(make_conn, server.url, MQTT("busy/#", keepalive=keepalive),
                             heartbeat_interval=0.5)
        wait_until(done.is_set, 15)
        stats = conn.stats()
        assert conn.state == "connected" and stats["reconnects"] == 0, stats
        assert server.connections == 1
        assert len(seen) > 100
        assert len([t for t, p in pings if p == "idle"]) >= 4, pings  # every 0.5 s of silence
        busy = [t for t, p in pings if p == "busy"]
        assert len(busy) >= 3, pings  # every keepalive / 2 = 1 s over 4 s
        assert all(b - a < 1.5 * keepalive for a, b in itertools.pairwise(busy)), busy


def test_the_keepalive_holds_an_idle_link_with_the_heartbeat_off(
    server_loop: ServerLoop, make_conn: Any
) -> None:
    # heartbeat_interval=None turns the Connection's heartbeat off, but the broker still closes a
    # client silent for 1.5 x keepalive: PINGREQ goes out every keepalive / 2 of idleness anyway.
    keepalive = 2
    pings: list[float] = []
    done = asyncio.Event()
    closed: list[str] = []

    async def strict_broker(ws: ServerConnection) -> None:
        await read_until(ws, b"MQTT")
        await ws.send(b"\x20\x02\x00\x00")
        await read_until(ws, b"idle/#")
        await ws.send(b"\x90\x03\x00\x01\x00")
        end = time.monotonic() + 5.0
        while time.monotonic() < end:
            try:
                async with asyncio.timeout(1.5 * keepalive):
                    frame = await ws.recv()
            except TimeoutError:
                closed.append("keepalive timeout")
                await ws.close(1002, "keepalive timeout")
                break
            if frame == PINGREQ_PACKET:
                pings.append(time.monotonic())
                await ws.send(b"\xd0\x00")
        done.set()
        await ws.wait_closed()

    with scripted(server_loop, strict_broker, subprotocols=("mqtt",)) as server:
        conn, _ = started(make_conn, server.url, MQTT("idle/#", keepalive=keepalive),
                          heartbeat_interval=None)
        wait_until(done.is_set, 15)
        assert not closed, closed
        assert conn.state == "connected" and conn.stats()["reconnects"] == 0, conn.stats()
        assert server.connections == 1
        assert len(pings) >= 3, pings  # every keepalive / 2 = 1 s of silence over 5 s
        assert all(b - a < 1.5 * keepalive for a, b in itertools.pairwise(pings)), pings


def test_a_silent_broker_is_detected_dead_by_the_keepalive(
    broker: Callable[..., AmqttBroker], make_conn: Any
) -> None:
    server = broker()
    # The heartbeat alone would take 5 s after its ping; the MQTT keepalive (nothing from the
    # broker for 1.5 x keepalive) decides first.
    conn, _ = started(make_conn, server.ws_url, MQTT("x", keepalive=1), heartbeat_interval=0.4,
                      heartbeat_timeout=5.0, backoff=FAST)
    server.pause()  # SIGSTOP: the socket stays open, nothing answers a PINGREQ
    try:
        stopped = time.monotonic()
        wait_until(lambda: conn.state != "connected", 5)
        detected = time.monotonic() - stopped
        assert "keepalive timeout" in (conn.last_error or ""), conn.last_error
        print(f"\nMQTT: a silent broker detected dead after {detected:.2f} s (keepalive 1 s)")
        assert detected < 3.0
    finally:
        server.resume()
    wait_until(lambda: conn.state == "connected", 15)
    assert conn.stats()["reconnects"] == 1


@pytest.mark.parametrize("credentials", [
    {"username": "alice", "password": "wrong-password"},
    {"username": "mallory", "password": "s3cret-pass"},
    {},
])
def test_rejected_credentials_stop_retrying_with_the_reason(
    broker: Callable[..., AmqttBroker], make_conn: Any, credentials: dict[str, str]
) -> None:
    server = broker(USERS)
    conn = make_conn(server.ws_url, protocol=MQTT("x", **credentials), backoff=FAST)
    conn.start()
    # A new connection is disconnected too: wait for the attempt's end.
    wait_until(lambda: conn.state == "disconnected" and conn.last_error, 15,
               message=lambda: str(conn.stats()))
    stats = conn.stats()
    assert stats["last_error"] == "MQTT CONNACK: not authorized (5)"
    assert stats["attempt"] == 1 and stats["reconnects"] == 0
    assert "wrong-password" not in repr(stats) and "wrong-password" not in repr(conn)
    good, _ = started(make_conn, server.ws_url, MQTT("x", username="alice", password="s3cret-pass"))
    assert good.stats()["last_error"] is None


def test_malformed_packets_are_counted_never_fatal(server_loop: ServerLoop, make_conn: Any) -> None:
    connack = b"\x20\x02\x00\x00"
    suback = b"\x90\x03\x00\x01\x00"
    big = 2 << 20
    bad_frames: list[bytes | str] = [
        b"\x30\x05\x00\x09abc",                       # a topic longer than its packet: dropped
        b"\x36\x03\x00\x01a",                         # QoS 3: dropped
        b"\x82\x02\x00\x01",                          # a SUBSCRIBE from the broker: unexpected
        b"\x20\x02\x00\x00",                          # a second CONNACK: unexpected
        b"\x30\xff\xff\xff\xff\x01",                  # a length over four bytes: frame skipped
        b"\x00\x00" + publish_packet("lost", b"x"),   # packet type 0: the rest of the frame too
        b"\x30" + encode_length(big) + b"\x00\x01z" + b"x" * (big - 3),  # over max_packet: skipped
        publish_packet("good/1", b"okay") + publish_packet("good/2", b"42")[:4],  # split...
        publish_packet("good/2", b"42")[4:],          # ...across frames
        "text frame",                                 # a text frame: skipped whole
        publish_packet("good/3", b"[3]"),
    ]

    async def script(ws: ServerConnection) -> None:
        await read_until(ws, b"MQTT")  # CONNECT
        await ws.send(connack)
        await read_until(ws, b"#")  # SUBSCRIBE to "#"
        await ws.send(suback)
        for frame in bad_frames:
            await ws.send(frame)

    with scripted(server_loop, script, subprotocols=("mqtt",)) as server:
        conn, seen = started(make_conn, server.url, MQTT("#"), max_message_size=4 << 20)
        wait_until(lambda: [m.type for m in seen] == ["good/1", "good/2", "good/3"], 5,
                   message=lambda: f"{seen} {conn.stats()}")
        assert [m.payload for m in seen] == ["okay", 42, [3]]
        stats = conn.stats()
        assert stats["decode_errors"] == 8, stats
        assert conn.state == "connected" and stats["reconnects"] == 0
        assert server.connections == 1


def test_a_refused_subscription_is_reported(server_loop: ServerLoop, make_conn: Any) -> None:
    async def script(ws: ServerConnection) -> None:
        await read_until(ws, b"MQTT")
        await ws.send(b"\x20\x02\x00\x00")
        await read_until(ws, b"secret/#")
        await ws.send(b"\x90\x04\x00\x01\x00\x80")  # the second topic refused

    with scripted(server_loop, script, subprotocols=("mqtt",)) as server:
        conn, _ = started(make_conn, server.url, MQTT(["open/#", "secret/#"]))
        wait_until(lambda: "refused" in (conn.last_error or ""), 5)
        assert conn.last_error == "MQTT SUBACK: the broker refused the subscription to 'secret/#' (0x80)"
        assert conn.state == "connected"

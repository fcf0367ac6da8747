"""The MQTT codec and protocol with no socket: packets as the 3.1.1 standard spells them, the
handshake, packets split across frames or sharing one, QoS, the keepalive, bounds and errors."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rt_widgets.dispatch import Dispatcher
from rt_widgets.link import Outgoing
from rt_widgets.protocol import Message
from rt_widgets.protocols import MQTT
from rt_widgets.protocols.mqtt import (
    MAX_REMAINING_LENGTH,
    PINGREQ_PACKET,
    connect_packet,
    decode_length,
    encode_length,
    publish_packet,
    subscribe_packet,
)
from tests.unit.test_nats_protocol import FakeHost

CONNACK_OK = b"\x20\x02\x00\x00"
SUBACK_OK = b"\x90\x03\x00\x01\x00"


def bound(protocol: MQTT) -> tuple[FakeHost, list[Message]]:
    host = FakeHost()
    seen: list[Message] = []
    dispatcher = Dispatcher()
    dispatcher.on("*", seen.append)
    protocol.bind(host, dispatcher)
    protocol.link_opened()
    return host, seen


def connected(protocol: MQTT) -> tuple[FakeHost, list[Message]]:
    host, seen = bound(protocol)
    protocol.handshake()
    protocol.receive(CONNACK_OK + SUBACK_OK, False)
    assert host.readies == 1
    host.replies.clear()
    return host, seen


# -------------------------------------------------------------------------------------- codec


@pytest.mark.parametrize(("value", "encoded"), [
    (0, b"\x00"), (127, b"\x7f"), (128, b"\x80\x01"), (16_383, b"\xff\x7f"),
    (16_384, b"\x80\x80\x01"), (2_097_151, b"\xff\xff\x7f"), (2_097_152, b"\x80\x80\x80\x01"),
    (MAX_REMAINING_LENGTH, b"\xff\xff\xff\x7f"),
])
def test_remaining_length_as_the_standard_tabulates_it(value: int, encoded: bytes) -> None:
    assert encode_length(value) == encoded  # MQTT 3.1.1, table 2.4
    assert decode_length(b"\x30" + encoded, 1) == (value, 1 + len(encoded))
    assert decode_length(b"\x30" + encoded[:-1], 1) is None


def test_remaining_length_bounds() -> None:
    with pytest.raises(ValueError):
        encode_length(MAX_REMAINING_LENGTH + 1)
    with pytest.raises(ValueError):
        encode_length(-1)
    with pytest.raises(ValueError, match="four bytes"):
        decode_length(b"\x30\xff\xff\xff\xff\x01", 1)


@given(st.integers(min_value=0, max_value=MAX_REMAINING_LENGTH))
def test_remaining_length_round_trips(value: int) -> None:
    encoded = encode_length(value)
    assert decode_length(encoded, 0) == (value, len(encoded))


def test_connect_packet_bytes() -> None:
    assert connect_packet("c", 30) == b"\x10\x0d\x00\x04MQTT\x04\x02\x00\x1e\x00\x01c"
    # user name and password flags, in that order after the client id
    assert connect_packet("c", 0, "u", "p") == (
        b"\x10\x13\x00\x04MQTT\x04\xc2\x00\x00\x00\x01c\x00\x01u\x00\x01p")


def test_subscribe_and_publish_packet_bytes() -> None:
    assert subscribe_packet(1, [("a/#", 1)]) == b"\x82\x08\x00\x01\x00\x03a/#\x01"
    assert publish_packet("a/b", b"hi") == b"\x30\x07\x00\x03a/bhi"
    assert publish_packet("a", b"x", qos=1, packet_id=10) == b"\x32\x06\x00\x01a\x00\x0ax"
    with pytest.raises(ValueError, match="packet id"):
        publish_packet("a", b"x", qos=1)


# ---------------------------------------------------------------------------------- handshake


def test_connect_then_connack_then_subscribe_then_connected() -> None:
    mqtt = MQTT(["sensors/#", "alerts"], qos=1, client_id="me", keepalive=20)
    host, _ = bound(mqtt)
    assert mqtt.needs_ack and mqtt.subprotocols == ("mqtt",)
    (frame,) = mqtt.handshake()
    assert frame == Outgoing(connect_packet("me", 20), text=False)
    mqtt.receive(CONNACK_OK, False)
    assert host.idle_timeout == 30.0, "1.5 x keepalive"
    assert host.replies == [Outgoing(subscribe_packet(1, [("sensors/#", 1), ("alerts", 1)]), text=False)]
    assert host.readies == 0, "connected once the broker holds the subscriptions"
    mqtt.receive(b"\x90\x04\x00\x01\x01\x01", False)
    assert host.readies == 1 and host.decode_errors == []


def test_with_no_topics_connack_is_enough() -> None:
    mqtt = MQTT([])
    host, _ = bound(mqtt)
    mqtt.handshake()
    mqtt.receive(CONNACK_OK, False)
    assert host.readies == 1 and host.replies == []


@pytest.mark.parametrize(("code", "text", "terminal"), [
    (1, "MQTT CONNACK: unacceptable protocol version (1)", True),
    (2, "MQTT CONNACK: client identifier rejected (2)", True),
    (3, "MQTT CONNACK: server unavailable (3)", False),
    (4, "MQTT CONNACK: bad user name or password (4)", True),
    (5, "MQTT CONNACK: not authorized (5)", True),
    (77, "MQTT CONNACK: refused (77)", False),
])
def test_a_refused_connack_names_the_reason(code: int, text: str, terminal: bool) -> None:
    mqtt = MQTT("x", username="u", password="p")
    host, _ = bound(mqtt)
    mqtt.handshake()
    mqtt.receive(bytes((0x20, 2, 0, code)), False)
    (error,) = host.failures
    assert (error.message, error.terminal) == (text, terminal)
    assert host.readies == 0


def test_a_refused_topic_is_reported_after_connecting() -> None:
    mqtt = MQTT(["open", "secret"])
    host, _ = bound(mqtt)
    mqtt.handshake()
    mqtt.receive(CONNACK_OK + b"\x90\x04\x00\x01\x00\x80", False)
    assert host.readies == 1 and mqtt.errors == 1
    assert host.decode_errors == ["MQTT SUBACK: the broker refused the subscription to 'secret' (0x80)"]


def test_the_client_id_is_random_per_object_and_kept_across_links() -> None:
    a, b = MQTT("x"), MQTT("x")
    assert a.client_id != b.client_id and len(a.client_id) == 23 and a.client_id.isalnum()
    first = a.handshake()[0].data
    a.link_opened()
    assert a.handshake()[0].data == first


def test_credentials_are_secrets_and_never_in_repr() -> None:
    mqtt = MQTT("x", username="alice", password="pw-123")
    assert mqtt.secret_values() == ("alice", "pw-123")
    assert "pw-123" not in repr(mqtt) and "pw-123" not in mqtt.describe()
    with pytest.raises(ValueError, match="needs a username"):
        MQTT("x", password="p")


@pytest.mark.parametrize(("args", "options"), [
    (("a/#/b",), {}), (("a+",), {}), (("",), {}), (("x", 2), {}), (("x",), {"keepalive": -1}),
    (("x",), {"keepalive": 70_000}),
])
def test_bad_arguments_are_refused(args: tuple[Any, ...], options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        MQTT(*args, **options)


# ----------------------------------------------------------------------------------- messages


STREAM = (
    publish_packet("sensors/t1", b'{"c": 21.5}')
    + publish_packet("sensors/t2", b"hi")
    + b"\xd0\x00"  # PINGRESP
    + publish_packet("sensors/bin", b"\xff\xfe", qos=1, packet_id=7)
    + publish_packet("sensors/empty", b"")
    + publish_packet("sensors/big", b"[" + b"1," * 100 + b"1]")
)
EXPECTED = [
    ("sensors/t1", {"c": 21.5}),
    ("sensors/t2", "hi"),
    ("sensors/bin", b"\xff\xfe"),
    ("sensors/empty", ""),
    ("sensors/big", [1] * 101),
]


def test_one_frame_with_many_packets() -> None:
    mqtt = MQTT("#")
    host, seen = connected(mqtt)
    assert mqtt.receive(STREAM, False) == len(EXPECTED)
    assert [(m.type, m.payload) for m in seen] == EXPECTED
    assert host.replies == [Outgoing(b"\x40\x02\x00\x07", text=False)]  # PUBACK 7
    assert seen[2].id == 7 and mqtt.decode_errors == 0


def test_packets_split_at_every_byte() -> None:
    mqtt = MQTT("#")
    _, seen = connected(mqtt)
    assert sum(mqtt.receive(STREAM[i:i + 1], False) for i in range(len(STREAM))) == len(EXPECTED)
    assert [(m.type, m.payload) for m in seen] == EXPECTED


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=12))
def test_packets_split_anywhere(cuts: list[int]) -> None:
    mqtt = MQTT("#")
    _, seen = connected(mqtt)
    points = [0, *sorted(cuts), len(STREAM)]
    kinds = (bytes, bytearray, memoryview)
    for i, (a, b) in enumerate(itertools.pairwise(points)):
        mqtt.receive(kinds[i % 3](STREAM[a:b]), False)
    assert [(m.type, m.payload) for m in seen] == EXPECTED and mqtt.decode_errors == 0


def test_qos2_is_delivered_once_and_completed() -> None:
    mqtt = MQTT("#")
    host, seen = connected(mqtt)
    packet = publish_packet("q2", b"1", qos=2, packet_id=9)
    mqtt.receive(packet, False)
    mqtt.receive(bytes((packet[0] | 0x08,)) + packet[1:], False)  # a DUP redelivery
    assert [m.payload for m in seen] == [1]
    assert host.replies == [Outgoing(b"\x50\x02\x00\x09", text=False)] * 2  # PUBREC
    mqtt.receive(b"\x62\x02\x00\x09", False)  # PUBREL
    assert host.replies[-1] == Outgoing(b"\x70\x02\x00\x09", text=False)  # PUBCOMP
    mqtt.receive(packet, False)
    assert len(seen) == 2, "after PUBREL the id is free again"


def test_pingresp_answers_the_pings_in_order() -> None:
    mqtt = MQTT("x")
    host, _ = bound(mqtt)
    assert mqtt.ping() is None, "no ping before connected"
    mqtt.handshake()
    mqtt.receive(CONNACK_OK + SUBACK_OK, False)
    first, second = mqtt.ping(), mqtt.ping()
    assert first is not None and second is not None
    assert first[0] == Outgoing(PINGREQ_PACKET, text=False) and first[1] != second[1]
    mqtt.receive(b"\xd0\x00\xd0\x00", False)
    assert host.pongs == [first[1], second[1]]


def test_a_busy_link_still_sends_pingreq_every_half_keepalive() -> None:
    now = [100.0]
    mqtt = MQTT("#", keepalive=10)
    mqtt._clock = lambda: now[0]
    host, seen = connected(mqtt)
    for _ in range(30):  # a message every second for 30 s: the link is never idle
        now[0] += 1.0
        mqtt.receive(publish_packet("t", b"1"), False)
    pings = [r for r in host.replies if r.data == PINGREQ_PACKET]
    assert len(pings) == 6 and len(seen) == 30
    mqtt.receive(b"\xd0\x00" * 6, False)
    assert host.pongs == [], "these pings were not the heartbeat's: no latency from them"


def test_heartbeat_message_may_only_turn_the_ping_off() -> None:
    mqtt = MQTT("x")
    with pytest.raises(TypeError, match="only be None"):
        mqtt.set_heartbeat("ping")
    mqtt.set_heartbeat(None)
    connected(mqtt)
    assert mqtt.ping() is None


# ------------------------------------------------------------------------------ errors, bounds


def test_malformed_packets_are_counted_and_skipped() -> None:
    mqtt = MQTT("#")
    host, seen = connected(mqtt)
    frames = [
        b"\x30\x05\x00\x09abc",           # a topic longer than its packet
        b"\x36\x03\x00\x01a",             # QoS 3
        b"\x30\x03\x00\x01\xff",          # a topic that is not UTF-8
        b"\x82\x02\x00\x01",              # SUBSCRIBE from the broker
        CONNACK_OK,                       # a second CONNACK
        b"\x30\xff\xff\xff\xff\x01" + publish_packet("lost", b"1"),  # the frame is lost
        b"\xf0\x00" + publish_packet("lost", b"2"),  # type 15: the frame is lost
        publish_packet("ok", b"3"),
    ]
    for frame in frames:
        mqtt.receive(frame, False)
    assert [(m.type, m.payload) for m in seen] == [("ok", 3)]
    assert mqtt.decode_errors == 7 and host.failures == []


def test_a_text_frame_is_skipped_whole() -> None:
    mqtt = MQTT("#")
    _, seen = connected(mqtt)
    mqtt.receive(publish_packet("a", b"1")[:3], False)
    mqtt.receive(b"text", True)
    mqtt.receive(publish_packet("a", b"1")[3:], False)
    assert [m.payload for m in seen] == [1] and mqtt.decode_errors == 1


def test_a_packet_over_max_packet_is_skipped_without_buffering() -> None:
    mqtt = MQTT("#", max_packet=1000)
    _, seen = connected(mqtt)
    size = 50_000
    mqtt.receive(b"\x30" + encode_length(size), False)
    for _ in range(size // 500):
        mqtt.receive(b"z" * 500, False)
        assert len(mqtt._buf) == 0
    mqtt.receive(publish_packet("ok", b"1"), False)
    assert mqtt.decode_errors == 1 and [m.payload for m in seen] == [1]


def test_a_packet_arriving_in_pieces_is_buffered_up_to_its_size_only() -> None:
    mqtt = MQTT("#")
    _, seen = connected(mqtt)
    packet = publish_packet("p", b"y" * 10_000)
    for i in range(0, len(packet), 97):
        mqtt.receive(packet[i:i + 97], False)
        assert len(mqtt._buf) <= len(packet)
    assert seen[0].payload == "y" * 10_000


# -------------------------------------------------------------------------------------- sends


def test_send_publishes_at_qos0() -> None:
    mqtt = MQTT("x")
    message, frame = mqtt.encode("cmd/light", {"on": True})
    assert frame == Outgoing(publish_packet("cmd/light", b'{"on":true}'), text=False)
    assert message == {"topic": "cmd/light", "payload": {"on": True}}
    assert mqtt.encode("raw", b"\x00")[1].data == publish_packet("raw", b"\x00")
    assert mqtt.encode(b"\xc0\x00")[1] == Outgoing(b"\xc0\x00", text=False)
    with pytest.raises(TypeError, match="only bytes"):
        mqtt.encode({"a": 1})
    with pytest.raises(ValueError, match="wildcard"):
        mqtt.encode("a/+", 1)


def test_subscribe_makes_a_subscribe_with_an_id_of_its_own() -> None:
    mqtt = MQTT("x", qos=1)
    assert mqtt.subscription("a/#").data == subscribe_packet(2, [("a/#", 1)])
    assert mqtt.subscription("b", 0).data == subscribe_packet(3, [("b", 0)])
    assert mqtt.subscription(b"\x82raw").data == b"\x82raw"
    with pytest.raises(ValueError):
        mqtt.subscription("a/#/b")

"""The SocketIO codec without sockets: the URL, the Engine.IO/Socket.IO handshake, events, binary
events, acks, the frames it sends, and its packet codec checked against python-socketio's own."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
import socketio.packet as sio_packet

from rt_widgets import Message
from rt_widgets.dispatch import Dispatcher
from rt_widgets.errors import LinkError
from rt_widgets.link import Outgoing
from rt_widgets.protocols import SocketIO
from rt_widgets.protocols.socketio import SocketIOPacket, decode_packet, encode_packet

OPEN = b'0{"sid":"abc","upgrades":[],"pingInterval":300,"pingTimeout":200,"maxPayload":1000000}'


class FakeHost:
    def __init__(self) -> None:
        self.replies: list[str | bytes] = []
        self.ready_calls = 0
        self.failures: list[LinkError] = []
        self.errors: list[str] = []
        self.idle: list[float | None] = []

    def on_app_pong(self, key: str | None) -> None:
        raise AssertionError("SocketIO has no application ping")

    def reply(self, frame: Outgoing) -> None:
        assert frame.text
        self.replies.append(frame.data)

    def learn_urls(self, urls: Sequence[str]) -> None:
        raise AssertionError("SocketIO learns no URL")

    def on_decode_error(self, text: str) -> None:
        self.errors.append(text)

    def ready(self) -> None:
        self.ready_calls += 1

    def fail(self, error: LinkError) -> None:
        self.failures.append(error)

    def set_idle_timeout(self, seconds: float | None) -> None:
        self.idle.append(seconds)


def bound(protocol: SocketIO) -> tuple[SocketIO, FakeHost, list[Message]]:
    host = FakeHost()
    protocol.bind(host, Dispatcher())
    seen: list[Message] = []
    protocol.dispatcher.on("*", seen.append)
    protocol.link_opened()
    return protocol, host, seen


def connected(protocol: SocketIO) -> tuple[SocketIO, FakeHost, list[Message]]:
    sio, host, seen = bound(protocol)
    sio.receive(OPEN)
    prefix = "" if sio.namespace == "/" else sio.namespace + ","
    sio.receive(f'40{prefix}{{"sid":"nsp-sid"}}'.encode())
    host.replies.clear()
    return sio, host, seen


@pytest.mark.parametrize(("given", "opened"), [
    ("ws://h:5000", "ws://h:5000/socket.io/?EIO=4&transport=websocket"),
    ("ws://h:5000/", "ws://h:5000/socket.io/?EIO=4&transport=websocket"),
    ("wss://h/?token=x", "wss://h/socket.io/?token=x&EIO=4&transport=websocket"),
    ("ws://h:1/custom/io/", "ws://h:1/custom/io/?EIO=4&transport=websocket"),
    ("ws://h:1/io?EIO=4&transport=websocket&a=1", "ws://h:1/io?EIO=4&transport=websocket&a=1"),
])
def test_the_url_gets_the_engineio_path_unless_it_has_its_own(given: str, opened: str) -> None:
    assert SocketIO().url(given) == opened


def test_the_open_packet_sets_the_keepalive_and_the_connect_answers_it() -> None:
    sio, host, _ = bound(SocketIO(auth={"token": "s3cret-token"}))
    assert sio.needs_ack and sio.handshake() == () and sio.ping() is None
    assert sio.receive(OPEN) == 0
    assert host.idle == [0.5] and sio.sid == "abc"
    assert host.replies == ['40{"token":"s3cret-token"}'] and host.ready_calls == 0
    sio.receive(b'40{"sid":"nsp-sid"}')
    assert host.ready_calls == 1 and sio.connected and sio.sid == "nsp-sid"
    sio.receive(b'40{"sid":"again"}')
    assert host.ready_calls == 1
    assert sio.secret_values() == ["s3cret-token"] and "s3cret" not in sio.describe()


def test_a_namespace_connects_with_its_prefix_and_ignores_the_others() -> None:
    sio, host, seen = bound(SocketIO("/chat"))
    sio.receive(OPEN)
    assert host.replies == ["40/chat,"]
    sio.receive(b'40{"sid":"x"}')  # the default namespace's: not ours
    assert host.ready_calls == 0
    sio.receive(b'40/chat,{"sid":"y"}')
    assert host.ready_calls == 1
    assert sio.receive(b'42["news",1]') == 0 and sio.receive(b'42/chat,["news",2]') == 1
    assert [(m.type, m.payload) for m in seen] == [("news", 2)]
    assert sio.encode("say", "hi")[1].data == '42/chat,["say","hi"]'


def test_events_give_their_name_as_type_and_their_argument_as_payload() -> None:
    sio, host, seen = connected(SocketIO())
    assert sio.receive(b'42["none"]') == 1
    assert sio.receive(b'42["one",{"a":1}]') == 1
    assert sio.receive(b'42["two",1,"b"]') == 1
    assert sio.receive(memoryview(b'42["view",[1]]')) == 1
    assert [(m.type, m.payload) for m in seen] == [("none", None), ("one", {"a": 1}),
                                                   ("two", [1, "b"]), ("view", [1])]
    assert not host.replies and sio.decode_errors == 0


def test_an_event_asking_for_an_ack_is_acknowledged() -> None:
    sio, host, seen = connected(SocketIO())
    sio.receive(b'4217["question",{"q":1}]')
    assert seen[-1] == Message("question", {"q": 1}, None, None, 17)
    assert host.replies == ["4317[]"]
    ns, ns_host, _ = connected(SocketIO("/chat"))
    ns.receive(b'42/chat,5["question"]')
    assert ns_host.replies == ["43/chat,5[]"]


def test_the_server_ping_is_answered() -> None:
    sio, host, _ = connected(SocketIO())
    sio.receive(b"2")
    assert host.replies == ["3"]


def test_binary_events_are_rebuilt_from_their_attachments() -> None:
    sio, _, seen = connected(SocketIO())
    assert sio.receive(b'452-["blob",{"a":{"_placeholder":true,"num":0},"b":[{"_placeholder":true,'
                       b'"num":1}]}]') == 0
    assert sio.receive(b"\x00\x01", text=False) == 0
    assert sio.receive(b"\x02", text=False) == 1
    assert [(m.type, m.payload) for m in seen] == [("blob", {"a": b"\x00\x01", "b": [b"\x02"]})]
    assert sio.decode_errors == 0


def test_connect_error_fails_the_link_for_good_with_the_server_message() -> None:
    sio, host, _ = bound(SocketIO())
    sio.receive(OPEN)
    sio.receive(b'44{"message":"invalid token"}')
    (error,) = host.failures
    assert error.terminal and host.ready_calls == 0
    assert error.message == "Socket.IO connection to namespace '/' refused by the server: invalid token"


def test_a_close_or_a_disconnect_from_the_server_drops_the_link_to_be_retried() -> None:
    sio, host, _ = connected(SocketIO())
    sio.receive(b"41")
    sio.receive(b"1")
    assert [(e.terminal, e.message) for e in host.failures] == [
        (False, "the server disconnected namespace '/' (Socket.IO DISCONNECT)"),
        (False, "the server closed the Engine.IO session (CLOSE packet)")]


def test_send_emits_and_send_value_is_sent_as_given() -> None:
    sio = SocketIO()
    assert sio.encode("order", {"qty": 2}) == (["order", {"qty": 2}], Outgoing('42["order",{"qty":2}]'))
    assert sio.encode("many", (1, 2))[1].data == '42["many",1,2]'
    assert sio.encode("bare", None)[1].data == '42["bare"]'
    assert sio.encode("list", [1, 2])[1].data == '42["list",[1,2]]'
    assert sio.encode('42["raw",1]')[1] == Outgoing('42["raw",1]')
    assert sio.subscription("join", {"room": "a"}) == Outgoing('42["join",{"room":"a"}]')
    with pytest.raises(ValueError, match="reserved"):
        sio.encode("connect", {})
    with pytest.raises(ValueError, match="binary"):
        sio.encode("blob", {"b": b"x"})
    with pytest.raises(TypeError, match="JSON-serialisable"):
        sio.encode("bad", object())


@pytest.mark.parametrize("data", [
    b"", b"9", b"4", b"49", b'42not json', b'42[]', b'42[1, 2]', b'42{"a":1}', b"4x", b'45["a"]',
    b'0not json', b'0{"pingInterval":-1,"pingTimeout":5}',
])
def test_malformed_frames_are_decode_errors_never_exceptions(data: bytes) -> None:
    sio, host, seen = connected(SocketIO())
    assert sio.receive(data) == 0
    assert sio.decode_errors == 1 and len(host.errors) == 1 and host.errors[0].startswith("Socket.IO")
    assert not seen and not host.failures


def test_unannounced_or_cut_short_attachments_are_decode_errors() -> None:
    sio, _, seen = connected(SocketIO())
    sio.receive(b"\x00", text=False)
    sio.receive(b'451-["blob",{"_placeholder":true,"num":0}]')
    sio.receive(b'42["next",1]')  # the attachment never came
    sio.receive(b'451-["blob",{"_placeholder":true,"num":3}]')
    sio.receive(b"\x00", text=False)  # a placeholder beyond the attachments
    assert sio.decode_errors == 3
    assert [(m.type, m.payload) for m in seen] == [("next", 1)]


# The codec against python-socketio's own packet classes: the same packets either way.
PACKETS = [
    (sio_packet.CONNECT, None, None, None),
    (sio_packet.CONNECT, "/chat", None, {"token": "x"}),
    (sio_packet.CONNECT, None, None, {"sid": "abc"}),
    (sio_packet.DISCONNECT, "/chat", None, None),
    (sio_packet.EVENT, None, None, ["msg", {"a": [1, 2.5, None, True]}]),
    (sio_packet.EVENT, "/chat", 12, ["msg", "hé", 3]),
    (sio_packet.EVENT, None, 0, ["zero"]),
    (sio_packet.ACK, None, 7, [1]),
    (sio_packet.ACK, "/chat", 8, []),
    (sio_packet.CONNECT_ERROR, None, None, {"message": "invalid token", "data": {"x": 1}}),
    (sio_packet.EVENT, "/a?x=1", None, ["q"]),
]


@pytest.mark.parametrize(("kind", "namespace", "id", "data"), PACKETS)
def test_the_codec_agrees_with_python_socketio(kind: int, namespace: str | None, id: int | None,
                                               data: Any) -> None:
    theirs = sio_packet.Packet(kind, data=data, namespace=namespace, id=id)
    encoded = theirs.encode()
    assert isinstance(encoded, str)
    ours = decode_packet(encoded.encode())
    reference = sio_packet.Packet(encoded_packet=encoded)
    assert (ours.type, ours.namespace, ours.id, ours.data) == (
        reference.packet_type, reference.namespace or "/", reference.id, reference.data)
    if "?" not in (namespace or ""):
        # The same packet back (orjson writes UTF-8 where json escapes: "é" rather than "\\u00e9").
        again = encode_packet(ours)
        assert again[0] == "4"
        back = sio_packet.Packet(encoded_packet=again[1:])
        assert (back.packet_type, back.namespace, back.id, back.data) == (
            reference.packet_type, reference.namespace, reference.id, reference.data)
        if data is None or all(ord(c) < 128 for c in str(data)):
            assert again == "4" + encoded


def test_binary_packets_agree_with_python_socketio() -> None:
    theirs = sio_packet.Packet(sio_packet.EVENT, data=["blob", {"b": b"\x00\x01"}, b"\x02"],
                               namespace="/chat", id=3)
    head, *attachments = theirs.encode()
    ours = decode_packet(head.encode())
    assert (ours.type, ours.namespace, ours.id, ours.attachments) == (
        sio_packet.BINARY_EVENT, "/chat", 3, len(attachments))
    sio, _, seen = connected(SocketIO("/chat"))
    sio.receive(b"4" + head.encode())
    for attachment in attachments:
        sio.receive(attachment, text=False)
    assert seen[-1] == Message("blob", [{"b": b"\x00\x01"}, b"\x02"], None, None, 3)
    assert encode_packet(SocketIOPacket(sio_packet.BINARY_EVENT, "/", None, ["x"], 1)) == '451-["x"]'

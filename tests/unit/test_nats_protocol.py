"""The NATS protocol with no socket: the handshake, the byte-stream parser (lines and payloads split
across frames or sharing one), its bounds, errors, pings and what sends become."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rt_widgets.dispatch import Dispatcher
from rt_widgets.errors import LinkError
from rt_widgets.link import Outgoing
from rt_widgets.protocol import Message
from rt_widgets.protocols import NATS
from rt_widgets.protocols.nats import DEFAULT_MAX_PAYLOAD, MAX_LINE

INFO = b'INFO {"server_id":"x","max_payload":4096,"headers":true,' \
       b'"connect_urls":["127.0.0.1:4001","[::1]:4002"]}\r\n'


class FakeHost:
    """Records what the protocol asks of its link."""

    def __init__(self) -> None:
        self.replies: list[Outgoing] = []
        self.learned: list[str] = []
        self.pongs: list[str | None] = []
        self.decode_errors: list[str] = []
        self.failures: list[LinkError] = []
        self.readies = 0
        self.idle_timeout: float | None = None
        self.keepalive: float | None = None

    def on_app_pong(self, key: str | None) -> None:
        self.pongs.append(key)

    def reply(self, frame: Outgoing) -> None:
        self.replies.append(frame)

    def learn_urls(self, urls: Sequence[str]) -> None:
        self.learned.extend(u for u in urls if u not in self.learned)

    def on_decode_error(self, text: str) -> None:
        self.decode_errors.append(text)

    def ready(self) -> None:
        self.readies += 1

    def fail(self, error: LinkError) -> None:
        self.failures.append(error)

    def set_idle_timeout(self, seconds: float | None) -> None:
        self.idle_timeout = seconds

    def set_keepalive(self, seconds: float | None) -> None:
        self.keepalive = seconds


def bound(protocol: NATS) -> tuple[FakeHost, list[Message]]:
    host = FakeHost()
    seen: list[Message] = []
    dispatcher = Dispatcher()
    dispatcher.on("*", seen.append)
    protocol.bind(host, dispatcher)
    protocol.link_opened()
    return host, seen


def connected(protocol: NATS) -> tuple[FakeHost, list[Message]]:
    host, seen = bound(protocol)
    protocol.receive(INFO, False)
    protocol.receive(b"PONG\r\n", False)
    assert host.readies == 1
    host.replies.clear()
    return host, seen


# ---------------------------------------------------------------------------------- handshake


def test_info_is_answered_with_connect_the_subscriptions_and_a_ping() -> None:
    nats = NATS(["sensors.>", "alerts"], queue="workers", user="alice", password="pw")
    host, _ = bound(nats)
    assert nats.handshake() == () and nats.needs_ack
    assert nats.receive(INFO, False) == 0
    (frame,) = host.replies
    assert frame.text is False and isinstance(frame.data, bytes)
    lines = frame.data.split(b"\r\n")
    assert lines[0].startswith(b"CONNECT ")
    options = orjson.loads(lines[0][len(b"CONNECT "):])
    assert options["verbose"] is False and options["pedantic"] is False
    assert options["protocol"] == 1 and options["headers"] is True and options["no_responders"]
    assert (options["user"], options["pass"]) == ("alice", "pw")
    assert lines[1:] == [b"SUB sensors.> workers 1", b"SUB alerts workers 2", b"PING", b""]
    assert host.readies == 0  # not before the server answers the PING
    nats.receive(b"PONG\r\n", False)
    assert host.readies == 1
    assert nats.max_payload == 4096
    assert host.learned == ["ws://127.0.0.1:4001", "ws://[::1]:4002"]


def test_a_token_goes_as_auth_token_and_every_credential_is_a_secret() -> None:
    nats = NATS("x", token="t0k")
    host, _ = bound(nats)
    nats.receive(INFO, False)
    options = orjson.loads(bytes(host.replies[0].data).split(b"\r\n")[0][8:])
    assert options["auth_token"] == "t0k" and "user" not in options
    assert nats.secret_values() == ("t0k",)
    assert NATS("x", user="u", password="p").secret_values() == ("u", "p")
    assert "secret-pw" not in repr(NATS("x", user="u", password="secret-pw"))
    assert "t0k" not in nats.describe()


def test_learned_urls_take_the_scheme_of_the_url_in_use() -> None:
    nats = NATS("x")
    host, _ = bound(nats)
    assert nats.url("wss://a.example:443/nats") == "wss://a.example:443/nats"
    nats.receive(b'INFO {"connect_urls":["10.0.0.2:443"],"ws_connect_urls":["wss://b:443"]}\r\n', False)
    assert host.learned == ["wss://10.0.0.2:443", "wss://b:443"]


def test_a_later_info_adds_urls_without_a_second_connect() -> None:
    nats = NATS("x")
    host, _ = connected(nats)
    nats.receive(b'INFO {"connect_urls":["127.0.0.1:4003"]}\r\n', False)
    assert host.replies == [] and "ws://127.0.0.1:4003" in host.learned


def test_ok_accepts_the_connect_of_a_verbose_server() -> None:
    nats = NATS("x")
    host, _ = bound(nats)
    nats.receive(INFO, False)
    nats.receive(b"+OK\r\n+OK\r\nPONG\r\n", False)
    assert host.readies == 1


def test_each_link_starts_afresh() -> None:
    nats = NATS("x")
    host, seen = connected(nats)
    nats.receive(b"MSG x 1 5\r\nhel", False)  # cut by the link's end
    nats.link_opened()
    nats.receive(INFO, False)
    assert len(host.replies) == 1, "a new link's INFO gets its own CONNECT"
    nats.receive(b"PONG\r\nMSG x 1 2\r\nok\r\n", False)
    assert host.readies == 2 and [m.payload for m in seen] == ["ok"]


@pytest.mark.parametrize(("args", "error"), [
    ((["bad subject"],), ValueError),
    (([""],), ValueError),
    (("x", "bad queue"), ValueError),
])
def test_bad_subjects_and_queues_are_refused(args: tuple[Any, ...], error: type[Exception]) -> None:
    with pytest.raises(error):
        NATS(*args)


def test_credentials_are_checked() -> None:
    with pytest.raises(ValueError, match="not both"):
        NATS("x", user="u", password="p", token="t")
    with pytest.raises(ValueError, match="needs a user"):
        NATS("x", password="p")


# ----------------------------------------------------------------------------------- messages


STREAM = (
    b"MSG sensors.t1 1 11\r\n{\"c\": 21.5}\r\n"
    b"MSG sensors.t2 1 reply.to 2\r\nhi\r\n"
    b"PING\r\n"
    b"HMSG sensors.h 1 30 33\r\nNATS/1.0\r\nNats-Msg-Id: abc\r\n\r\n[1]\r\n"
    b"HMSG sensors.none 1 16 16\r\nNATS/1.0 503\r\n\r\n\r\n"
    b"MSG sensors.bin 1 2\r\n\xff\xfe\r\n"
    b"MSG sensors.empty 1 0\r\n\r\n"
    b"msg sensors.lower 1 1\r\n7\r\n"
)
EXPECTED = [
    ("sensors.t1", {"c": 21.5}, None),
    ("sensors.t2", "hi", None),
    ("sensors.h", [1], "abc"),
    ("sensors.bin", b"\xff\xfe", None),
    ("sensors.empty", "", None),
    ("sensors.lower", 7, None),
]


def test_one_frame_with_many_messages() -> None:
    nats = NATS(">")
    host, seen = connected(nats)
    assert nats.receive(STREAM, False) == len(EXPECTED)
    assert [(m.type, m.payload, m.id) for m in seen] == EXPECTED
    assert host.replies == [Outgoing(b"PONG\r\n", text=False)]
    assert nats.decode_errors == 0


def test_the_stream_split_at_every_byte() -> None:
    nats = NATS(">")
    _, seen = connected(nats)
    total = sum(nats.receive(STREAM[i:i + 1], False) for i in range(len(STREAM)))
    assert total == len(EXPECTED)
    assert [(m.type, m.payload, m.id) for m in seen] == EXPECTED


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=12))
def test_the_stream_split_anywhere(cuts: list[int]) -> None:
    nats = NATS(">")
    _, seen = connected(nats)
    points = [0, *sorted(cuts), len(STREAM)]
    chunks = [STREAM[a:b] for a, b in itertools.pairwise(points)]
    kinds = (bytes, bytearray, memoryview)
    for i, chunk in enumerate(chunks):
        nats.receive(kinds[i % 3](chunk), False)
    assert [(m.type, m.payload, m.id) for m in seen] == EXPECTED
    assert nats.decode_errors == 0


def test_server_pings_are_answered_and_app_pings_matched_in_order() -> None:
    nats = NATS("x")
    host, _ = bound(nats)
    assert nats.ping() is None, "no application ping before the server accepted CONNECT"
    nats.receive(INFO, False)
    nats.receive(b"PONG\r\n", False)
    first, second = nats.ping(), nats.ping()
    assert first is not None and second is not None
    assert first[0] == Outgoing(b"PING\r\n", text=False) and first[1] != second[1]
    nats.receive(b"PING\r\nPONG\r\nPONG\r\n", False)
    assert host.replies[-1] == Outgoing(b"PONG\r\n", text=False)
    assert host.pongs == [first[1], second[1]]


def test_heartbeat_message_may_only_turn_the_ping_off() -> None:
    nats = NATS("x")
    with pytest.raises(TypeError, match="only be None"):
        nats.set_heartbeat({"type": "ping"})
    nats.set_heartbeat(None)
    connected(nats)
    assert nats.ping() is None


# ------------------------------------------------------------------------------------- errors


def test_authorization_violation_is_terminal_and_named() -> None:
    nats = NATS("x", user="u", password="p")
    host, _ = bound(nats)
    nats.receive(INFO, False)
    nats.receive(b"-ERR 'Authorization Violation'\r\n", False)
    (error,) = host.failures
    assert error.terminal and error.message == "NATS: Authorization Violation"
    assert host.readies == 0 and nats.errors == 1


def test_a_permissions_violation_is_reported_and_the_link_kept() -> None:
    nats = NATS("x")
    host, _ = connected(nats)
    nats.receive(b"-ERR 'Permissions Violation for Subscription to \"secret\"'\r\n", False)
    assert host.failures == [] and nats.errors == 1
    assert host.decode_errors == ['NATS: Permissions Violation for Subscription to "secret"']
    assert nats.decode_errors == 0, "a server's error is not a decode error"


@pytest.mark.parametrize("text", ["Stale Connection", "Slow Consumer", "Maximum Payload Violation",
                                  "Unknown Protocol Operation"])
def test_other_server_errors_end_the_link_and_are_retried(text: str) -> None:
    nats = NATS("x")
    host, _ = connected(nats)
    nats.receive(f"-ERR '{text}'\r\n".encode(), False)
    (error,) = host.failures
    assert not error.terminal and error.message == f"NATS: {text}"


def test_malformed_input_is_counted_and_skipped() -> None:
    nats = NATS(">")
    host, seen = connected(nats)
    frames = [
        b"WHAT IS THIS\r\n",
        b"MSG a 1\r\n",                  # no size
        b"MSG a 1 -3\r\n",               # a negative size
        b"MSG a 1 2\r\nabc\r\nMSG b 1 1\r\nz\r\n",  # no CRLF after the payload ("c": a bad line)
        b"HMSG a 1 9 3\r\n",             # headers longer than the message
        b"INFO [1]\r\n",                 # not an object
        b"MSG ok 1 2\r\nok\r\n",
    ]
    for frame in frames:
        nats.receive(frame, False)
    assert [m.type for m in seen] == ["b", "ok"]
    assert nats.decode_errors == 7 and len(host.decode_errors) == 7, host.decode_errors
    assert host.failures == []


# ------------------------------------------------------------------------------------- bounds


def test_an_overlong_line_is_one_decode_error_and_reading_resumes_after_it() -> None:
    nats = NATS(">")
    _, seen = connected(nats)
    for _ in range(5):
        nats.receive(b"x" * (MAX_LINE // 2), False)
        assert len(nats._buf) <= MAX_LINE + 1, "the buffer stays bounded"
    nats.receive(b"still the same line\r\nMSG ok 1 1\r\n1\r\n", False)
    assert nats.decode_errors == 1 and [m.payload for m in seen] == [1]


def test_a_long_line_in_one_frame_is_refused_too() -> None:
    nats = NATS(">")
    _, seen = connected(nats)
    nats.receive(b"MSG " + b"s" * MAX_LINE + b" 1 1\r\nx\r\nMSG ok 1 1\r\n2\r\n", False)
    assert nats.decode_errors >= 1 and seen[-1].payload == 2


def test_a_payload_over_max_payload_is_skipped_without_buffering() -> None:
    nats = NATS(">")
    _, seen = connected(nats)  # INFO said max_payload 4096
    size = 100_000
    nats.receive(b"MSG big 1 %d\r\n" % size, False)
    for _ in range(size // 1000):
        nats.receive(b"y" * 1000, False)
        assert len(nats._buf) == 0
    nats.receive(b"\r\nMSG ok 1 2\r\n42\r\n", False)
    assert nats.decode_errors == 1 and [m.payload for m in seen] == [42]


def test_a_message_arriving_in_pieces_is_parsed_once_whole() -> None:
    nats = NATS(">")
    _, seen = connected(nats)
    body = b"z" * 4000
    nats.receive(b"MSG piece 1 4000\r\n", False)
    for i in range(0, 4000, 100):
        assert nats.receive(body[i:i + 100], False) == 0
    assert nats.receive(b"\r\n", False) == 1
    assert seen[0].payload == body.decode()


def test_max_payload_defaults_until_info() -> None:
    assert NATS("x").max_payload == DEFAULT_MAX_PAYLOAD


# ---------------------------------------------------------------------------------------- sends


def test_send_builds_a_pub() -> None:
    nats = NATS("x")
    message, frame = nats.encode("cmd.light", {"on": True})
    assert frame == Outgoing(b'PUB cmd.light 11\r\n{"on":true}\r\n', text=False)
    assert message == {"subject": "cmd.light", "payload": {"on": True}}
    _, raw = nats.encode("cmd.raw", b"\x00\x01")
    assert raw.data == b"PUB cmd.raw 2\r\n\x00\x01\r\n"
    _, text = nats.encode("cmd.text", "hello")
    assert text.data == b'PUB cmd.text 7\r\n"hello"\r\n'


def test_send_of_bytes_alone_is_raw_protocol_and_other_values_are_refused() -> None:
    nats = NATS("x")
    assert nats.encode(b"PING\r\n")[1] == Outgoing(b"PING\r\n", text=False)
    for value in ({"a": 1}, "text", [1]):
        with pytest.raises(TypeError, match="only bytes"):
            nats.encode(value)
    with pytest.raises(ValueError, match="whitespace"):
        nats.encode("a b", 1)
    with pytest.raises(TypeError, match="JSON"):
        nats.encode("a", object())


def test_send_over_max_payload_is_refused() -> None:
    nats = NATS("x")
    connected(nats)
    with pytest.raises(ValueError, match="max_payload"):
        nats.encode("big", b"x" * 5000)


def test_subscribe_makes_a_sub_with_a_sid_of_its_own() -> None:
    nats = NATS(["a", "b"])
    assert nats.subscription("c.*") == Outgoing(b"SUB c.* 3\r\n", text=False)
    assert nats.subscription("d", "group") == Outgoing(b"SUB d group 4\r\n", text=False)
    assert nats.subscription(b"SUB raw 99\r\n") == Outgoing(b"SUB raw 99\r\n", text=False)
    with pytest.raises(ValueError):
        nats.subscription("bad subject")

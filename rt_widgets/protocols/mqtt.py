"""MQTT 3.1.1 over WebSocket (subprotocol ``mqtt``), as a pure, sans-I/O protocol, with the small
codec it needs.

MQTT over WebSocket is a byte stream in binary frames: a packet may span frames and one frame may
hold several packets. :class:`MQTT`, on every (re)connect:

1. sends ``CONNECT`` (protocol level 4, clean session, the client id, keepalive, credentials);
2. on ``CONNACK`` 0 (accepted), sends one ``SUBSCRIBE`` for all its topics and is ``connected`` once
   the ``SUBACK`` arrives (the broker holds the subscriptions by then); then the user's
   ``subscribe(...)`` replays and the queued sends go out. ``CONNACK`` 4 (bad user name or password)
   and 5 (not authorized), 1 (protocol version) and 2 (client id rejected) stop retrying with an
   error naming the reason (``"MQTT CONNACK: not authorized (5)"``); 3 (server unavailable) is
   retried. A refused topic in the ``SUBACK`` (``0x80``) is counted in :attr:`MQTT.errors` and shown
   as ``last_error``.

Messages: each ``PUBLISH`` is one message, type = the topic, payload = the JSON body, or its text
when it is not JSON (``bytes`` when it is not UTF-8 either; an empty body is ``""``);
``Message.id`` is the packet id of a QoS 1/2 publish. QoS 1 is acknowledged with ``PUBACK``; QoS 2
with ``PUBREC``/``PUBCOMP``, delivered once per packet id.

Keepalive: the application ping is ``PINGREQ`` (its ``PINGRESP`` proves liveness and gives the
latency); it goes out when the link has been idle for ``heartbeat_interval`` (``keepalive / 2``
with ``heartbeat_interval=None``: the broker needs it all the same), and also every
``keepalive / 2`` seconds on a link busy with inbound messages, since the broker wants a packet
from the client within 1.5 x keepalive. The link is dead when nothing arrives for 1.5 x
``keepalive`` (set ``keepalive`` above ``heartbeat_interval``: the default 30 s is three times
the default interval).

Sending: ``send(topic, payload)`` publishes at QoS 0, the payload as JSON, or as it is when it is
``bytes``; delivery is that of the outbox: sent once, when the link is up. ``send(value)`` with
``bytes`` writes those bytes as they are (a raw MQTT packet); other values raise ``TypeError``, as
MQTT travels in binary frames. ``subscribe(topic)`` or ``subscribe(topic, qos)`` adds a
subscription replayed on every link.

Anything the codec cannot read is a decode error: counted, reported, never fatal. A packet whose
body is malformed (a topic longer than the packet, QoS 3, an unexpected packet type) is dropped;
a fixed header that cannot be read (packet type 0 or 15, a length over four bytes) loses the rest
of the frame, and reading resumes at the next one; a packet over ``max_packet`` bytes is skipped
without being buffered; a text frame is skipped whole (MQTT travels in binary frames).

>>> from rt_widgets.dispatch import Dispatcher
>>> mqtt = MQTT(["sensors/#"])
>>> mqtt.bind(None, Dispatcher())  # type: ignore[arg-type]
>>> seen = []
>>> _ = mqtt.dispatcher.on("*", lambda m: seen.append((m.type, m.payload)))
>>> frame = publish_packet("sensors/t1", b'{"c": 21.5}') + publish_packet("sensors/t2", b"hi")
>>> mqtt.receive(frame[:7], False), mqtt.receive(frame[7:], False), seen
(0, 2, [('sensors/t1', {'c': 21.5}), ('sensors/t2', 'hi')])
"""

from __future__ import annotations

import secrets
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Final

import orjson

from ..errors import LinkError
from ..link import Outgoing
from ..protocol import Message
from .base import NO_PAYLOAD, ByteStream, Payload

__all__ = [
    "MQTT",
    "SUBPROTOCOL",
    "connect_packet",
    "decode_length",
    "encode_length",
    "publish_packet",
    "subscribe_packet",
]

SUBPROTOCOL: Final = "mqtt"

# Packet types (MQTT 3.1.1, section 2.2.1).
CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT = 8, 9, 10, 11, 12, 13, 14

#: The largest remaining length MQTT can express (four length bytes).
MAX_REMAINING_LENGTH: Final = 268_435_455
PINGREQ_PACKET: Final = b"\xc0\x00"
DISCONNECT_PACKET: Final = b"\xe0\x00"

_CONNACK_REASONS: Final = {
    1: "unacceptable protocol version",
    2: "client identifier rejected",
    3: "server unavailable",
    4: "bad user name or password",
    5: "not authorized",
}
_TERMINAL_CONNACK: Final = frozenset({1, 2, 4, 5})
_SUBSCRIBE_ID: Final = 1  # the packet id of the adapter's own SUBSCRIBE
_MAX_TOPICS_CACHED: Final = 4096
_MAX_QOS2_PENDING: Final = 1024


# ------------------------------------------------------------------------------------- codec


def encode_length(n: int) -> bytes:
    """The remaining-length field: 7 bits a byte, least significant first, high bit = more.

    >>> encode_length(0), encode_length(127), encode_length(128), encode_length(16_383)
    (b'\\x00', b'\\x7f', b'\\x80\\x01', b'\\xff\\x7f')
    """
    if not 0 <= n <= MAX_REMAINING_LENGTH:
        raise ValueError(f"an MQTT packet's remaining length is 0..{MAX_REMAINING_LENGTH}, got {n}")
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | 0x80 if n else byte)
        if not n:
            return bytes(out)


def decode_length(data: bytes, pos: int) -> tuple[int, int] | None:
    """The remaining length starting at ``data[pos]`` and the position after it; ``None`` when the
    field is not all there yet. Raises ``ValueError`` when it runs over four bytes.

    >>> decode_length(b"\\x30\\x80\\x01", 1), decode_length(b"\\x30\\x80", 1)
    ((128, 3), None)
    """
    value = 0
    shift = 0
    size = len(data)
    while True:
        if pos >= size:
            return None
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift >= 28:
            raise ValueError("an MQTT remaining length runs over four bytes")


def _packet(first: int, body: bytes) -> bytes:
    return bytes((first,)) + encode_length(len(body)) + body


def _string(value: str | bytes, what: str) -> bytes:
    raw = value.encode() if isinstance(value, str) else bytes(value)
    if len(raw) > 0xFFFF:
        raise ValueError(f"an MQTT {what} is at most 65535 bytes, got {len(raw)}")
    return len(raw).to_bytes(2, "big") + raw


def connect_packet(client_id: str, keepalive: int, username: str | None = None,
                   password: str | None = None, clean_session: bool = True) -> bytes:
    """``CONNECT`` for MQTT 3.1.1 (protocol name ``MQTT``, level 4)."""
    flags = 0x02 if clean_session else 0
    payload = _string(client_id, "client id")
    if username is not None:
        flags |= 0x80
        payload += _string(username, "user name")
    if password is not None:
        flags |= 0x40
        payload += _string(password, "password")
    header = _string("MQTT", "protocol name") + bytes((4, flags)) + keepalive.to_bytes(2, "big")
    return _packet(CONNECT << 4, header + payload)


def subscribe_packet(packet_id: int, topics: Sequence[tuple[str, int]]) -> bytes:
    """``SUBSCRIBE`` for ``(topic filter, qos)`` pairs."""
    body = packet_id.to_bytes(2, "big") + b"".join(
        _string(topic, "topic filter") + bytes((qos,)) for topic, qos in topics)
    return _packet(SUBSCRIBE << 4 | 0x02, body)


def publish_packet(topic: str, payload: bytes, qos: int = 0, retain: bool = False,
                   packet_id: int | None = None, dup: bool = False) -> bytes:
    """``PUBLISH`` (a QoS 1/2 publish needs its ``packet_id``)."""
    first = PUBLISH << 4 | qos << 1 | (0x08 if dup else 0) | (0x01 if retain else 0)
    head = _string(topic, "topic")
    if qos:
        if packet_id is None:
            raise ValueError("an MQTT publish at QoS 1 or 2 needs a packet id")
        head += packet_id.to_bytes(2, "big")
    return _packet(first, head + payload)


def _ack(kind: int, packet_id: int, flags: int = 0) -> bytes:
    return bytes((kind << 4 | flags, 2)) + packet_id.to_bytes(2, "big")


# ---------------------------------------------------------------------------------- helpers


def _check_topic(topic: object, *, filter: bool) -> str:
    what = "topic filter" if filter else "topic"
    if not isinstance(topic, str) or not topic or "\0" in topic or len(topic.encode()) > 0xFFFF:
        raise ValueError(f"an MQTT {what} is a non-empty string of at most 65535 bytes with no NUL, "
                         f"got {topic!r}")
    if not filter and ("+" in topic or "#" in topic):
        raise ValueError(f"an MQTT topic to publish to has no wildcard (+ or #), got {topic!r}")
    if filter:
        levels = topic.split("/")
        for i, level in enumerate(levels):
            if ("#" in level and (level != "#" or i != len(levels) - 1)) or ("+" in level and level != "+"):
                raise ValueError(f"an MQTT topic filter has '+' as a whole level and '#' only as the "
                                 f"last level, got {topic!r}")
    return topic


def _check_qos(qos: object) -> int:
    if qos not in (0, 1) or isinstance(qos, bool):
        raise ValueError(f"MQTT qos is 0 or 1, got {qos!r}")
    assert isinstance(qos, int)
    return qos


def _payload_of(body: bytes) -> Any:
    """The JSON value of a body, or its text, or (not UTF-8) its bytes."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        try:
            return body.decode()
        except UnicodeDecodeError:
            return body


class MQTT(ByteStream):
    """MQTT 3.1.1 over WebSocket; see the module docstring.

    ``topics``: one topic filter or several (``+`` and ``#`` wildcards allowed), subscribed at
    ``qos`` (0 or 1) on every link. ``client_id``: a fixed id, or ``None`` for a random one kept for
    the life of this object (23 characters, letters and digits, as every broker accepts).
    ``username`` and ``password``: the broker's credentials, masked in every text the connection
    shows. ``keepalive``: seconds, sent in ``CONNECT`` (0: none); see the module docstring.
    ``max_packet``: the largest packet accepted, in bytes.
    """

    subprotocols = (SUBPROTOCOL,)
    needs_ack = True

    def __init__(
        self,
        topics: str | Sequence[str],
        qos: int = 0,
        *,
        client_id: str | None = None,
        username: str | None = None,
        password: str | None = None,
        keepalive: int = 30,
        max_packet: int = 1 << 20,
    ) -> None:
        super().__init__()
        if isinstance(topics, str):
            topics = [topics]
        self.topics: tuple[str, ...] = tuple(_check_topic(t, filter=True) for t in topics)
        self.qos = _check_qos(qos)
        if password is not None and username is None:
            raise ValueError("an MQTT password needs a username (MQTT 3.1.1, section 3.1.2.9)")
        for value, what in ((client_id, "client_id"), (username, "username"), (password, "password")):
            if value is not None and not isinstance(value, str):
                raise TypeError(f"MQTT {what} must be a str, got {type(value).__name__}")
        if isinstance(keepalive, bool) or not isinstance(keepalive, int) or not 0 <= keepalive <= 0xFFFF:
            raise ValueError(f"MQTT keepalive is a whole number of seconds in 0..65535, got {keepalive!r}")
        if not isinstance(max_packet, int) or max_packet < 2:
            raise ValueError(f"max_packet must be an int >= 2, got {max_packet!r}")
        self.client_id = client_id if client_id is not None else "rtw" + secrets.token_hex(10)
        self._username = username
        self._password = password
        self.keepalive = keepalive
        self.max_packet = max_packet
        #: Subscriptions the broker refused (each also shown as ``last_error``).
        self.errors = 0
        self._clock: Callable[[], float] = time.monotonic
        self._next_packet_id = _SUBSCRIBE_ID + 1
        self._subscribed: dict[int, tuple[str, ...]] = {}  # packet id -> its topics, for SUBACKs
        if self.topics:
            self._subscribed[_SUBSCRIBE_ID] = self.topics
        self._topic_cache: dict[bytes, str] = {}
        self._pings_seq = 0
        self._no_ping = False
        self.link_opened()

    def __repr__(self) -> str:
        auth = ", username=..." if self._username is not None else ""
        return f"MQTT({list(self.topics)!r}, qos={self.qos}, keepalive={self.keepalive}{auth})"

    def describe(self) -> str:
        return repr(self)

    # ------------------------------------------------------------------------- link lifecycle

    def link_opened(self) -> None:
        super().link_opened()  # the stream's tail, _need and _skip
        self._accepted = False  # CONNACK 0 seen on this link
        self._ready = False
        self._pongs: deque[str | None] = deque()  # what each PINGREQ in flight waits for
        self._qos2: dict[int, None] = {}  # QoS 2 packet ids delivered, waiting for their PUBREL
        self._last_ping = self._clock()

    def secret_values(self) -> Sequence[str]:
        return tuple(v for v in (self._username, self._password) if v)

    def handshake(self) -> Sequence[Outgoing]:
        self._last_ping = self._clock()
        packet = connect_packet(self.client_id, self.keepalive, self._username, self._password)
        return (Outgoing(packet, text=False),)

    def set_heartbeat(self, spec: Any) -> None:
        """``heartbeat_message=None`` turns ``PINGREQ`` off (WebSocket pings still run; with
        ``keepalive`` above 0 the broker then drops an idle link): MQTT has no other ping."""
        if spec is not None:
            raise TypeError("MQTT sends PINGREQ as its application ping; heartbeat_message may only "
                            f"be None (no application ping), got {spec!r}")
        self._no_ping = True

    def ping(self) -> tuple[Outgoing, str | None] | None:
        if self._no_ping or not self._ready:
            return None
        self._pings_seq += 1
        key = f"mqtt-ping-{self._pings_seq}"
        self._pongs.append(key)
        self._last_ping = self._clock()
        return Outgoing(PINGREQ_PACKET, text=False), key

    # ------------------------------------------------------------------------------- sending

    def encode(self, type_or_value: Any, payload: Any = NO_PAYLOAD) -> tuple[Any, Outgoing]:
        if payload is NO_PAYLOAD:
            if isinstance(type_or_value, bytes | bytearray | memoryview):
                return type_or_value, Outgoing(bytes(type_or_value), text=False)
            raise TypeError(
                "MQTT: send(topic, payload) publishes; send(value) takes only bytes (a raw MQTT "
                f"packet, sent as it is), got {type(type_or_value).__name__}")
        topic = _check_topic(type_or_value, filter=False)
        if isinstance(payload, bytes | bytearray | memoryview):
            body = bytes(payload)
        else:
            try:
                body = orjson.dumps(payload)
            except TypeError as exc:
                raise TypeError(f"MQTT payload is not JSON-serialisable: {exc}") from None
        packet = publish_packet(topic, body)
        if len(packet) > MAX_REMAINING_LENGTH:
            raise ValueError(f"an MQTT packet is at most {MAX_REMAINING_LENGTH} bytes")
        return {"topic": topic, "payload": payload}, Outgoing(packet, text=False)

    def subscription(self, type_or_value: Any, payload: Any = NO_PAYLOAD) -> Outgoing:
        """``subscribe(topic)`` / ``subscribe(topic, qos)``: a ``SUBSCRIBE`` of its own;
        ``subscribe(bytes)``: those bytes as they are."""
        if payload is NO_PAYLOAD and isinstance(type_or_value, bytes | bytearray | memoryview):
            return Outgoing(bytes(type_or_value), text=False)
        topic = _check_topic(type_or_value, filter=True)
        qos = self.qos if payload is NO_PAYLOAD else _check_qos(payload)
        packet_id = self._next_packet_id
        self._next_packet_id = packet_id + 1 if packet_id < 0xFFFF else _SUBSCRIBE_ID + 1
        self._subscribed[packet_id] = (topic,)
        return Outgoing(subscribe_packet(packet_id, [(topic, qos)]), text=False)

    # ----------------------------------------------------------------------------- receiving

    def receive(self, data: Payload, text: bool = True) -> int:
        if text:
            # MQTT travels in binary frames only (MQTT 3.1.1, section 6); read as part of the
            # stream, a text frame would throw every later packet off.
            self._decode_error("MQTT: a text frame (MQTT uses binary frames); skipped")
            return 0
        count = self.feed(data)
        if (self._ready and self.keepalive and not self._no_ping
                and self._clock() - self._last_ping >= self.keepalive / 2):
            # Busy with inbound traffic, the link never looks idle to the heartbeat: the broker
            # still needs a packet from us within its keepalive.
            self._last_ping = self._clock()
            self._pongs.append(None)
            if self.host is not None:
                self.host.reply(Outgoing(PINGREQ_PACKET, text=False))
        return count

    def parse(self, data: bytes) -> tuple[int, int]:
        """Handle every whole packet of ``data``; return how many messages were delivered and
        where the unread tail (a partial packet) starts."""
        count = 0
        pos = 0
        size = len(data)
        self._need = 0
        while pos < size:
            first = data[pos]
            kind = first >> 4
            try:
                field = decode_length(data, pos + 1)
            except ValueError as exc:
                self._decode_error(f"MQTT: {exc}; the rest of the frame is skipped")
                return count, size
            if kind == 0 or kind == 15:
                self._decode_error(f"MQTT: packet type {kind} is not MQTT 3.1.1; the rest of the "
                                   "frame is skipped")
                return count, size
            if field is None:
                self._need = size - pos + 1
                return count, pos
            length, start = field
            stop = start + length
            if length > self.max_packet:
                self._decode_error(f"MQTT: a packet of {length} bytes is over max_packet "
                                   f"({self.max_packet}); skipped")
                if stop > size:
                    self._skip = stop - size
                    return count, size
                pos = stop
                continue
            if stop > size:
                self._need = stop - pos
                return count, pos
            pos = stop
            if kind == PUBLISH:
                count += self._publish(first & 0x0F, data[start:stop])
            else:
                self._control(kind, first & 0x0F, data[start:stop])
        return count, pos

    def _publish(self, flags: int, body: bytes) -> int:
        qos = (flags >> 1) & 0x03
        size = len(body)
        topic_end = 2 + (body[0] << 8 | body[1]) if size >= 2 else size + 1
        head = topic_end + (2 if qos else 0)
        if qos == 3 or head > size:
            self._decode_error(f"MQTT: malformed PUBLISH ({'QoS 3' if qos == 3 else 'truncated'})")
            return 0
        raw = body[2:topic_end]
        topic = self._topic_cache.get(raw)
        if topic is None:
            try:
                topic = raw.decode()
            except UnicodeDecodeError:
                self._decode_error(f"MQTT: a PUBLISH topic is not UTF-8: {raw[:200]!r}")
                return 0
            if len(self._topic_cache) >= _MAX_TOPICS_CACHED:
                self._topic_cache.clear()
            self._topic_cache[raw] = topic
        if not qos:
            self.dispatcher.dispatch(Message(topic, _payload_of(body[head:])))
            return 1
        packet_id = body[topic_end] << 8 | body[topic_end + 1]
        host = self.host
        if qos == 1:
            if host is not None:
                host.reply(Outgoing(_ack(PUBACK, packet_id), text=False))
        else:
            if host is not None:
                host.reply(Outgoing(_ack(PUBREC, packet_id), text=False))
            if packet_id in self._qos2:
                return 0  # a redelivery of a message already delivered
            if len(self._qos2) >= _MAX_QOS2_PENDING:
                self._qos2.pop(next(iter(self._qos2)))
            self._qos2[packet_id] = None
        self.dispatcher.dispatch(Message(topic, _payload_of(body[head:]), id=packet_id))
        return 1

    def _control(self, kind: int, flags: int, body: bytes) -> None:
        host = self.host
        if kind == PINGRESP:
            waiting = self._pongs.popleft() if self._pongs else None
            if host is not None and waiting is not None:
                host.on_app_pong(waiting)
        elif kind == CONNACK and len(body) == 2 and not self._accepted:
            self._connack(body[1])
        elif kind == SUBACK and len(body) >= 3:
            self._suback(body[0] << 8 | body[1], body[2:])
        elif kind in (PUBACK, PUBCOMP, UNSUBACK) and len(body) == 2:
            pass  # acknowledgements of what the user sent as raw packets
        elif kind == PUBREC and len(body) == 2:
            if host is not None:
                host.reply(Outgoing(_ack(PUBREL, body[0] << 8 | body[1], 0x02), text=False))
        elif kind == PUBREL and len(body) == 2:
            packet_id = body[0] << 8 | body[1]
            self._qos2.pop(packet_id, None)
            if host is not None:
                host.reply(Outgoing(_ack(PUBCOMP, packet_id), text=False))
        else:
            self._decode_error(f"MQTT: unexpected packet type {kind} with {len(body)} bytes from "
                               "the broker")

    def _connack(self, code: int) -> None:
        host = self.host
        if code != 0:
            reason = _CONNACK_REASONS.get(code, "refused")
            if host is not None:
                host.fail(LinkError(f"MQTT CONNACK: {reason} ({code})",
                                    terminal=code in _TERMINAL_CONNACK))
            return
        self._accepted = True
        if host is None:
            return
        if self.keepalive:
            host.set_idle_timeout(1.5 * self.keepalive)
            if not self._no_ping:
                # The broker drops a client silent for 1.5 x keepalive: PINGREQ on an idle link
                # even with the Connection's heartbeat off.
                host.set_keepalive(self.keepalive / 2)
        if self.topics:
            topics = [(topic, self.qos) for topic in self.topics]
            host.reply(Outgoing(subscribe_packet(_SUBSCRIBE_ID, topics), text=False))
        else:
            self._ready = True
            host.ready()

    def _suback(self, packet_id: int, codes: bytes) -> None:
        if packet_id == _SUBSCRIBE_ID and self._accepted and not self._ready:
            # Connected first (which clears last_error), then any refusal is reported.
            self._ready = True
            if self.host is not None:
                self.host.ready()
        topics = self._subscribed.get(packet_id, ())
        for i, code in enumerate(codes):
            if code == 0x80:
                self.errors += 1
                topic = topics[i] if i < len(topics) else "?"
                if self.host is not None:
                    self.host.on_decode_error(f"MQTT SUBACK: the broker refused the subscription "
                                              f"to {topic!r} (0x80)")

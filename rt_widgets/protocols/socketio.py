"""Socket.IO 5 over Engine.IO 4, websocket transport only, as a pure, sans-I/O protocol.

On every (re)connect the server speaks first: Engine.IO's open packet ``0{"sid", "pingInterval",
"pingTimeout", ...}``. Its ``pingInterval + pingTimeout`` becomes the link's dead-link rule (nothing
from the server for that long: the link is dead), and the namespace CONNECT goes out (``40``, or
``40{auth}``, or ``40/ns,{auth}``). The server's ``40{"sid"}`` for the namespace makes the link
``connected`` (then the user's ``subscribe(...)`` replays, then queued sends); its
``44{"message"}`` (CONNECT_ERROR: a connect handler refused the auth, an unknown namespace) stops
retrying with the server's message. The server pings (``2``), the client answers (``3``): no
application ping of its own.

- Events ``42["event", arg...]`` (``42/ns,[...]`` in a namespace): type = the event name, payload =
  its argument (None with none, a list with several), ``Message.id`` = the ack id when the server
  asked for an acknowledgement, which is sent at once (``43<id>[]``, as python-socketio's client
  does for a handler that returns nothing).
- Binary events (``45<n>-[...]`` followed by ``n`` binary frames) are rebuilt: each placeholder
  becomes the ``bytes`` of its attachment.
- Engine.IO CLOSE (``1``) and a Socket.IO DISCONNECT (``41``) from the server drop the link, to be
  reconnected (a server that shuts down says goodbye this way).
- Packets of other namespaces and acks are ignored. Anything else (an unknown packet type, an event
  that is not an array starting with a string name, JSON that does not parse, an attachment nobody
  announced) is a decode error: counted, reported, never fatal.

``send(event, data)`` emits (``42["event", data]``): ``data`` None sends no argument, a tuple several
(as python-socketio's ``emit``); sending binary data is not supported (one send is one frame).
``send(value)`` sends a str, bytes, dict or list exactly as given (``conn.send('42["x",1]')``).

Given ``ws://host:port`` (no path, or ``/``), the URL opened is
``ws://host:port/socket.io/?EIO=4&transport=websocket``; a URL with a path of its own keeps it, and
gets ``EIO=4`` and ``transport=websocket`` added to its query if they are missing.

The codec is a small one of its own: python-socketio's and python-engineio's ``Packet`` classes
are pure and would fit, but would make python-socketio (and python-engineio, bidict,
simple-websocket, wsproto, h11) a dependency of the core for some sixty lines, and they parse with
the standard ``json`` module from ``str``; this one reads the frame's bytes with orjson. The tests
check it packet for packet against those classes.

>>> from rt_widgets.dispatch import Dispatcher
>>> sio = SocketIO(auth={"token": "t0ken"})
>>> sio.url("ws://127.0.0.1:5000")
'ws://127.0.0.1:5000/socket.io/?EIO=4&transport=websocket'
>>> sio.bind(None, Dispatcher())  # type: ignore[arg-type]
>>> seen = []
>>> _ = sio.dispatcher.on("*", lambda m: seen.append((m.type, m.payload)))
>>> sio.receive(b'42["price",{"sym":"BTC","p":1.5}]'), sio.receive(b'42["pair",1,2]'), seen
(1, 1, [('price', {'sym': 'BTC', 'p': 1.5}), ('pair', [1, 2])])
>>> sio.encode("order", {"qty": 2})[1].data
'42["order",{"qty":2}]'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson

from ..errors import LinkError
from ..link import Outgoing
from ..protocol import Message
from .base import NO_PAYLOAD, FrameProtocol, Payload

__all__ = ["ENGINEIO_PATH", "SocketIO", "SocketIOPacket", "decode_packet", "encode_packet"]

ENGINEIO_PATH: Final = "/socket.io/"
# Engine.IO packet types (the first character of a text frame).
EIO_OPEN, EIO_CLOSE, EIO_PING, EIO_PONG, EIO_MESSAGE, EIO_UPGRADE, EIO_NOOP = b"0123456"
# Socket.IO packet types (the character after Engine.IO's "4").
CONNECT, DISCONNECT, EVENT, ACK, CONNECT_ERROR, BINARY_EVENT, BINARY_ACK = range(7)
RESERVED_EVENTS: Final = frozenset(
    {"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"})
# The defaults of python-socketio and the Node server, for an open packet that omits them (ms).
_PING_INTERVAL = 25_000
_PING_TIMEOUT = 20_000
_MAX_ATTACHMENTS = 10  # python-socketio's own limit


class SocketIOPacket:
    """One decoded Socket.IO packet: ``type`` (0-6), ``namespace`` ("/" by default), ack ``id``,
    ``data`` (the parsed JSON, or None) and, for binary packets, how many ``attachments`` follow."""

    __slots__ = ("attachments", "data", "id", "namespace", "type")

    def __init__(self, type: int, namespace: str = "/", id: int | None = None, data: Any = None,
                 attachments: int = 0) -> None:
        self.type = type
        self.namespace = namespace
        self.id = id
        self.data = data
        self.attachments = attachments

    def __repr__(self) -> str:
        return (f"SocketIOPacket(type={self.type}, namespace={self.namespace!r}, id={self.id!r}, "
                f"data={self.data!r}, attachments={self.attachments})")


def decode_packet(body: bytes | memoryview) -> SocketIOPacket:
    """Decode a Socket.IO packet (an Engine.IO message without its leading ``4``):
    ``<type>[<attachments>-][<namespace>,][<id>][<json>]``. Raises ``ValueError`` on a malformed one.

    >>> p = decode_packet(b'2/chat,17["msg","hi"]')
    >>> p.type, p.namespace, p.id, p.data
    (2, '/chat', 17, ['msg', 'hi'])
    """
    view = memoryview(body)
    n = len(view)
    if n == 0 or not 0x30 <= view[0] <= 0x36:
        raise ValueError(f"unknown Socket.IO packet type {bytes(view[:1])!r}")
    kind = view[0] - 0x30
    i = 1
    attachments = 0
    if kind in (BINARY_EVENT, BINARY_ACK):
        dash = bytes(view[1 : 1 + _MAX_ATTACHMENTS + 2]).find(b"-")
        digits = bytes(view[1 : 1 + dash]) if dash > 0 else b""
        if not digits.isdigit():
            raise ValueError("a binary Socket.IO packet must give its attachment count ('51-...')")
        attachments = int(digits)
        if attachments > _MAX_ATTACHMENTS:
            raise ValueError(f"too many attachments ({attachments})")
        i = 2 + dash
    namespace = "/"
    if i < n and view[i] == 0x2F:  # "/"
        comma = bytes(view[i:]).find(b",")
        end = n if comma == -1 else i + comma
        namespace = bytes(view[i:end]).decode("utf-8", "replace").split("?", 1)[0]
        i = end + 1
    id = None
    start = i
    while i < n and 0x30 <= view[i] <= 0x39 and i - start < 20:
        i += 1
    if i > start:
        id = int(bytes(view[start:i]))
    data = None
    if i < n:
        try:
            data = orjson.loads(view[i:])
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"Socket.IO packet data is not valid JSON: {exc}") from None
    return SocketIOPacket(kind, namespace, id, data, attachments)


def encode_packet(packet: SocketIOPacket) -> str:
    """Encode a Socket.IO packet, Engine.IO's ``4`` included (what a text frame carries).

    >>> encode_packet(SocketIOPacket(EVENT, "/chat", 3, ["msg", "hi"]))
    '42/chat,3["msg","hi"]'
    """
    out = [str(EIO_MESSAGE - 0x30), str(packet.type)]
    if packet.type in (BINARY_EVENT, BINARY_ACK):
        out.append(f"{packet.attachments}-")
    if packet.namespace != "/":
        out.append(packet.namespace + ",")
    if packet.id is not None:
        out.append(str(packet.id))
    if packet.data is not None:
        out.append(orjson.dumps(packet.data).decode())
    return "".join(out)


def _rebuild(value: Any, attachments: list[bytes]) -> Any:
    """``value`` with each ``{"_placeholder": true, "num": i}`` replaced by attachment ``i``."""
    if type(value) is list:
        return [_rebuild(v, attachments) for v in value]
    if type(value) is dict:
        num = value.get("num")
        if value.get("_placeholder") is True and type(num) is int:
            if not 0 <= num < len(attachments):
                raise ValueError(f"placeholder {num} has no attachment ({len(attachments)} received)")
            return attachments[num]
        return {k: _rebuild(v, attachments) for k, v in value.items()}
    return value


def _has_binary(value: Any) -> bool:
    if isinstance(value, bytes | bytearray | memoryview):
        return True
    if isinstance(value, list | tuple):
        return any(_has_binary(v) for v in value)
    if isinstance(value, dict):
        return any(_has_binary(v) for v in value.values())
    return False


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return []


class SocketIO(FrameProtocol):
    """A Socket.IO 5 client over the websocket transport; see the module docstring.

    ``namespace``: the namespace to join ("/" by default, else "/name"); ``auth``: the CONNECT
    payload the server's connect handler reads (a dict; its strings are masked in every text).

    >>> from rt_widgets import Connection  # doctest: +SKIP
    >>> conn = Connection("ws://127.0.0.1:5000", protocol=SocketIO(auth={"token": "..."}))  # doctest: +SKIP
    >>> conn.on("price", print); conn.send("subscribe", {"room": "BTC"})  # doctest: +SKIP
    """

    needs_ack = True

    def __init__(self, namespace: str = "/", auth: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        if not isinstance(namespace, str) or not namespace.startswith("/") or "," in namespace:
            raise ValueError(f"namespace must be '/' or '/name' (no comma), got {namespace!r}")
        if auth is not None and not isinstance(auth, Mapping):
            raise TypeError(f"auth must be a dict or None, got {type(auth)!r}")
        self.namespace = namespace
        self._auth = dict(auth) if auth is not None else None
        try:
            self._connect = Outgoing(encode_packet(SocketIOPacket(CONNECT, namespace, None, self._auth)))
        except TypeError as exc:
            raise TypeError(f"auth must be JSON-serialisable: {exc}") from None
        # What starts an event of this namespace, Engine.IO's "4" included: b'42' or b'42/ns,'.
        self._event_prefix = b"42" if namespace == "/" else b"42" + namespace.encode() + b","
        self._prefix = "42" if namespace == "/" else f"42{namespace},"
        self.sid: str | None = None  # Engine.IO's session id on the current link
        self.ping_interval: float | None = None  # seconds, from the open packet
        self.ping_timeout: float | None = None
        self.connected = False  # the namespace CONNECT was answered on the current link
        self._binary: SocketIOPacket | None = None  # a binary event waiting for its attachments
        self._attachments: list[bytes] = []

    # ------------------------------------------------------------------ configuration

    def url(self, url: str) -> str:
        parts = urlsplit(url)
        path = parts.path if parts.path not in ("", "/") else ENGINEIO_PATH
        query = parse_qsl(parts.query, keep_blank_values=True)
        names = {name for name, _ in query}
        query += [(k, v) for k, v in (("EIO", "4"), ("transport", "websocket")) if k not in names]
        return urlunsplit((parts.scheme, parts.netloc, path, urlencode(query), parts.fragment))

    def link_opened(self) -> None:
        self.sid = None
        self.connected = False
        self._binary = None
        self._attachments = []

    def secret_values(self) -> Sequence[str]:
        return _strings(self._auth)

    def describe(self) -> str:
        auth = "" if self._auth is None else ", auth=<set>"
        return f"SocketIO(namespace={self.namespace!r}{auth})"

    # ------------------------------------------------------------------ sending

    def encode(self, type_or_value: Any, payload: Any = NO_PAYLOAD) -> tuple[Any, Outgoing]:
        """``send(event, data)`` emits ``event`` with ``data`` (None: no argument; a tuple: several);
        ``send(value)`` sends the value as it is."""
        if payload is NO_PAYLOAD:
            return super().encode(type_or_value)
        event = type_or_value
        if not isinstance(event, str) or not event:
            raise ValueError(f"send(event, data) needs a non-empty string event name, got {event!r}")
        if event in RESERVED_EVENTS:
            raise ValueError(f"{event!r} is a reserved Socket.IO event name: choose another")
        args = [] if payload is None else list(payload) if isinstance(payload, tuple) else [payload]
        if _has_binary(args):
            raise ValueError("sending binary data over Socket.IO is not supported (one send is one "
                             "frame, a binary event needs several): send it base64-encoded")
        message = [event, *args]
        try:
            body = orjson.dumps(message).decode()
        except TypeError as exc:
            raise TypeError(f"Socket.IO event data must be JSON-serialisable: {exc}") from None
        return message, Outgoing(self._prefix + body)

    # ------------------------------------------------------------------ receiving

    def receive(self, data: Payload, text: bool = True) -> int:
        if not text:
            return self._attachment(bytes(data))
        if self._binary is not None:
            self._binary = None
            self._decode_error("Socket.IO: a binary event's attachments were cut short by a text frame")
        prefix = self._event_prefix
        if data[: len(prefix)] == prefix and data[len(prefix) : len(prefix) + 1] == b"[":
            # The hot path: an event of our namespace with no ack id.
            try:
                value = orjson.loads(memoryview(data)[len(prefix) :])
            except orjson.JSONDecodeError as exc:
                self._decode_error(f"Socket.IO: event data is not valid JSON: {exc}")
                return 0
            return self._event(value, None)
        if not data:
            self._decode_error("Socket.IO: empty frame")
            return 0
        kind = data[0]
        if kind == EIO_MESSAGE:
            return self._packet(memoryview(data)[1:])
        if kind == EIO_PING:
            self._reply(Outgoing("3" + bytes(data[1:]).decode("utf-8", "replace")))
        elif kind == EIO_OPEN:
            self._open(bytes(data[1:]))
        elif kind == EIO_CLOSE:
            self._fail("the server closed the Engine.IO session (CLOSE packet)")
        elif kind not in (EIO_PONG, EIO_NOOP, EIO_UPGRADE):
            self._decode_error(f"Socket.IO: unknown Engine.IO packet type {bytes(data[:1])!r}")
        return 0

    def _open(self, body: bytes) -> None:
        try:
            info = orjson.loads(body)
        except orjson.JSONDecodeError:
            info = None
        if type(info) is not dict:
            self._decode_error(f"Socket.IO: the Engine.IO open packet is not a JSON object: {body[:80]!r}")
            info = {}
        sid = info.get("sid")
        self.sid = sid if type(sid) is str else None
        interval = info.get("pingInterval", _PING_INTERVAL)
        timeout = info.get("pingTimeout", _PING_TIMEOUT)
        if not (type(interval) in (int, float) and type(timeout) in (int, float)
                and interval > 0 and timeout > 0):
            self._decode_error(
                f"Socket.IO: the open packet's pingInterval/pingTimeout are not positive numbers: {info!r}")
            interval, timeout = _PING_INTERVAL, _PING_TIMEOUT
        self.ping_interval, self.ping_timeout = interval / 1000, timeout / 1000
        if self.host is not None:
            self.host.set_idle_timeout(self.ping_interval + self.ping_timeout)
        if not self.connected:
            self._reply(self._connect)

    def _packet(self, body: memoryview) -> int:
        try:
            packet = decode_packet(body)
        except ValueError as exc:
            self._decode_error(f"Socket.IO: {exc}")
            return 0
        if packet.namespace != self.namespace:
            return 0  # another namespace's: not ours to read
        kind = packet.type
        if kind == EVENT:
            return self._event(packet.data, packet.id)
        if kind == BINARY_EVENT:
            self._binary = packet
            self._attachments = []
            if packet.attachments == 0:
                return self._attachment(None)
            return 0
        if kind == CONNECT:
            if not self.connected:
                self.connected = True
                if type(packet.data) is dict and type(packet.data.get("sid")) is str:
                    self.sid = packet.data["sid"]
                if self.host is not None:
                    self.host.ready()
        elif kind == CONNECT_ERROR:
            data = packet.data
            text = data.get("message") if type(data) is dict else data
            self._fail(f"Socket.IO connection to namespace {self.namespace!r} refused by the server: "
                       f"{text if text else 'no reason given'}", terminal=True)
        elif kind == DISCONNECT:
            self._fail(f"the server disconnected namespace {self.namespace!r} (Socket.IO DISCONNECT)")
        # ACK and BINARY_ACK: answers to acks this client never asks for.
        return 0

    def _attachment(self, data: bytes | None) -> int:
        packet = self._binary
        if packet is None:
            self._decode_error("Socket.IO: a binary frame that no binary event announced")
            return 0
        if data is not None:
            self._attachments.append(data)
        if len(self._attachments) < packet.attachments:
            return 0
        self._binary = None
        if packet.type != BINARY_EVENT:
            return 0
        try:
            value = _rebuild(packet.data, self._attachments)
        except ValueError as exc:
            self._decode_error(f"Socket.IO: {exc}")
            return 0
        return self._event(value, packet.id)

    def _event(self, value: Any, ack: int | None) -> int:
        if type(value) is not list or not value or type(value[0]) is not str:
            self._decode_error(
                f"Socket.IO: an event must be an array starting with its name, got {str(value)[:80]}")
            return 0
        n = len(value)
        payload = value[1] if n == 2 else None if n == 1 else value[1:]
        if ack is not None:
            self._reply(Outgoing(f"{self._prefix[:1]}3{self._prefix[2:]}{ack}[]"))
        self.dispatcher.dispatch(Message(value[0], payload, None, None, ack))
        return 1

    def _fail(self, text: str, terminal: bool = False) -> None:
        if self.host is not None:
            self.host.fail(LinkError(text, terminal=terminal))

    def _reply(self, frame: Outgoing) -> None:
        if self.host is not None:
            self.host.reply(frame)


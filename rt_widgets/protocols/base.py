"""The protocol interface: how frames become messages and sends become frames.

A protocol is pure, sans-I/O code. The driver hands it each data frame (:meth:`FrameProtocol.receive`)
and it delivers the messages it finds to the :class:`~rt_widgets.dispatch.Dispatcher`; it builds the
frames for ``send()`` and ``subscribe()``, the frames to send on every (re)connect
(:meth:`~FrameProtocol.handshake`) and its application heartbeat (:meth:`~FrameProtocol.ping`).
Through its :class:`Host` (the link core) it reports the answers to its pings, sends frames back
(such as pongs) and adds URLs to the failover rotation. It counts its own decode errors.

The driver knows no message format: a new format or subprotocol is a new subclass here.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum
from typing import Any, Final, Protocol

import orjson

from ..dispatch import Dispatcher
from ..errors import LinkError
from ..link import Outgoing
from ..protocol import make_message, now_iso

__all__ = ["NO_PAYLOAD", "AppPing", "ByteStream", "FrameProtocol", "Host", "Payload", "raw_frame"]

Payload = bytes | bytearray | memoryview


class _NoPayload(Enum):
    NO_PAYLOAD = "NO_PAYLOAD"


#: ``send(value)`` as opposed to ``send(type, payload)``: no payload was given.
NO_PAYLOAD: Final = _NoPayload.NO_PAYLOAD


def raw_frame(value: Any) -> Outgoing:
    """The frame of ``send(value)``: a dict or list as JSON text, a str as text, bytes as binary,
    exactly as given (no field added)."""
    if isinstance(value, bytes | bytearray | memoryview):
        return Outgoing(bytes(value), text=False)
    if isinstance(value, str):
        return Outgoing(value)
    if isinstance(value, dict | list | tuple):
        try:
            return Outgoing(orjson.dumps(value))
        except TypeError as exc:
            raise TypeError(f"message is not JSON-serialisable: {exc}") from None
    raise TypeError(
        "send() takes (type, payload), or one value to send as it is: a dict or list (sent as "
        f"JSON text), a str (a text frame) or bytes (a binary frame); got {value!r}"
    )


class Host(Protocol):
    """What a protocol may ask of the link it runs on."""

    def on_app_pong(self, key: str | None) -> None: ...

    def reply(self, frame: Outgoing) -> None: ...

    def learn_urls(self, urls: Sequence[str]) -> None: ...

    def on_decode_error(self, text: str) -> None: ...

    def ready(self) -> None: ...

    def fail(self, error: LinkError) -> None: ...

    def set_idle_timeout(self, seconds: float | None) -> None: ...

    def set_keepalive(self, seconds: float | None) -> None: ...


class FrameProtocol:
    """The base of every protocol. Subclasses override :meth:`receive` and :meth:`encode`, and
    the others where the protocol has a handshake, subscriptions or a heartbeat of its own.

    ``subprotocols``: the WebSocket subprotocols to offer in the opening handshake.
    """

    subprotocols: tuple[str, ...] = ()
    #: Whether the link is ``connected`` only once the protocol's own handshake is answered: the
    #: protocol calls ``host.ready()`` (subscriptions and queued sends wait until then).
    needs_ack: bool = False
    #: Whether its messages may carry an ``action`` (``Fields(action=...)``): tables then read
    #: each ``Message`` to apply it, where other feeds' rows take the faster payload path.
    sets_actions: bool = False
    #: The application ping sent when the user gives no ``heartbeat_message`` (None: none).
    default_ping: Any = None

    def __init__(self) -> None:
        self.decode_errors = 0
        self.gaps = 0
        self.unmatched = 0  # messages given the default type: their type path was missing
        # Errors the server reported on a link that stays up (a GraphQL error, a NATS -ERR, a
        # refused MQTT subscription): ``stats()["server_errors"]``.
        self.errors = 0
        self.host: Host | None = None
        self.dispatcher = Dispatcher()
        self._ping = None if self.default_ping is None else AppPing(self.default_ping)
        self._explicit_ping = False

    def set_heartbeat(self, spec: Any) -> None:
        """Use the user's ``heartbeat_message`` (see :class:`AppPing`; ``None``: no application
        ping) instead of the protocol's own; it is always sent."""
        self._ping = None if spec is None else AppPing(spec)
        self._explicit_ping = True

    def bind(self, host: Host, dispatcher: Dispatcher) -> None:
        """Attach to a link: called once by the connection, before any frame."""
        self.host = host
        self.dispatcher = dispatcher

    def url(self, url: str) -> str:
        """The URL to open for ``url`` as the user gave it (an adapter may add a path)."""
        return url

    def receive(self, data: Payload, text: bool = True) -> int:
        """Decode one data frame (``text``: a text frame, whose UTF-8 bytes ``data`` holds), deliver
        its messages and return how many there were. Never raises because of the frame's content."""
        raise NotImplementedError

    def message(self, type: str, payload: Any) -> Any:
        """What ``send(type, payload)`` sends, as a JSON value (default: the envelope, stamped)."""
        return make_message(type, payload)

    def encode(self, type_or_value: Any, payload: Any = NO_PAYLOAD) -> tuple[Any, Outgoing]:
        """What ``send(...)`` sends: a description for the ``SendHandle`` and the frame.
        ``send(value)`` sends the value as it is (:func:`raw_frame`); ``send(type, payload)`` the
        protocol's :meth:`message`. Raises ``TypeError``/``ValueError`` on bad input."""
        if payload is NO_PAYLOAD:
            return type_or_value, raw_frame(type_or_value)
        if not isinstance(type_or_value, str) or not type_or_value:
            raise ValueError(
                f"send(type, payload) needs a non-empty string type, got {type_or_value!r}")
        message = self.message(type_or_value, payload)
        return message, raw_frame(message)

    def subscription(self, type_or_value: Any, payload: Any = NO_PAYLOAD) -> Outgoing:
        """The frame ``subscribe(...)`` replays on every (re)connect (same forms as ``send``;
        ``subscribe(type, payload)`` carries no timestamp)."""
        message, frame = self.encode(type_or_value, payload)
        if payload is not NO_PAYLOAD and isinstance(message, dict) and "timestamp" in message:
            message = {k: v for k, v in message.items() if k != "timestamp"}
            return raw_frame(message)
        return frame

    def handshake(self) -> Sequence[Outgoing]:
        """Frames to send first on every (re)connect, before subscriptions and queued sends."""
        return ()

    def ping(self) -> tuple[Outgoing, str | None] | None:
        """An application ping and the key its answer will carry, or ``None`` (no such ping)."""
        return None if self._ping is None else self._ping()

    def link_opened(self) -> None:
        """A new link is up: reset per-link state."""

    def describe(self) -> str:
        """How this protocol was set up, for a recording's header (no credential: it is scrubbed)."""
        return repr(self)

    def secret_values(self) -> Sequence[str]:
        """Credentials this protocol sends (an auth payload's token): masked in every text."""
        return ()

    def closed(self, error: LinkError) -> LinkError:
        """How this protocol reads the server's close of a link (``error`` as the driver built it
        from the close code and reason): the same error, or one reworded with what a code of the
        protocol's own means, or reclassified (``terminal``). Default: unchanged."""
        return error

    def _decode_error(self, text: str, count: int = 1) -> None:
        self.decode_errors += count
        if self.host is not None:
            self.host.on_decode_error(text)

    def _report(self, text: str) -> None:
        """Show a problem the server reported that ends one operation, not the link (a GraphQL
        ``error``), as the connection's ``last_error``; not counted as a decode error."""
        if self.host is not None:
            self.host.on_decode_error(text)


class AppPing:
    """An application ping as the user or a protocol describes it: a dict with a string ``type``
    (an envelope ping: a ``timestamp`` is added to each one and the pong echoing it gives the
    latency), any other dict (sent as JSON, unchanged), or a str (sent as a text frame)."""

    __slots__ = ("_frame", "_message")

    def __init__(self, spec: Any) -> None:
        if isinstance(spec, dict) and isinstance(spec.get("type"), str):
            self._message: dict[str, Any] | None = dict(spec)
            self._frame: Outgoing | None = None
        elif isinstance(spec, dict | str):
            self._message = None
            self._frame = raw_frame(spec)
        else:
            raise TypeError(
                "heartbeat_message must be a dict (sent as JSON), a str (sent as a text frame) "
                f"or None (no application ping), got {spec!r}")

    def __call__(self) -> tuple[Outgoing, str | None]:
        if self._frame is not None:
            return self._frame, None
        assert self._message is not None
        ping = dict(self._message)
        stamp = ping.setdefault("timestamp", now_iso())
        return raw_frame(ping), stamp if isinstance(stamp, str) else None


class ByteStream(FrameProtocol):
    """A protocol whose frames are pieces of one byte stream (NATS, MQTT): an item may span
    frames and a frame may hold several. :meth:`feed` keeps the unread tail between frames and
    calls :meth:`parse` on whole data only; ``parse`` sets ``_need`` (the length the kept tail
    must reach before it is worth parsing again) and ``_skip`` (bytes of an oversized item still
    to discard, never buffered)."""

    def link_opened(self) -> None:
        self._buf = bytearray()
        self._need = 0
        self._skip = 0

    def parse(self, data: bytes) -> tuple[int, int]:
        """Handle every whole item of ``data``; return how many messages were delivered and
        where the unread tail (a partial item) starts."""
        raise NotImplementedError

    def feed(self, data: Payload) -> int:
        """Add one frame's bytes to the stream; returns the messages delivered."""
        if self._skip:  # the rest of an oversized item
            if len(data) <= self._skip:
                self._skip -= len(data)
                return 0
            data = memoryview(data)[self._skip:]
            self._skip = 0
        if self._buf:
            self._buf += data
            if len(self._buf) < self._need:
                return 0  # an item still arriving: parse it once it is whole
            data = bytes(self._buf)
        elif type(data) is not bytes:
            data = bytes(data)
        count, rest = self.parse(data)
        if rest >= len(data):
            if self._buf:
                self._buf = bytearray()
        else:
            self._buf = bytearray(data[rest:])
        return count

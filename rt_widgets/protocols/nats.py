"""NATS over WebSocket (a ``nats-server`` ``websocket`` listener), as a pure, sans-I/O protocol.

The server speaks the NATS client protocol as a byte stream in binary frames: a control line may
be split across frames, and one frame may hold many messages. :class:`NATS` parses that stream
with a bounded buffer and, on every (re)connect:

1. waits for the server's ``INFO {...}`` (its ``max_payload`` bounds what is accepted and sent; its
   ``connect_urls`` / ``ws_connect_urls``, the cluster's other WebSocket listeners, join the
   failover rotation as ``ws://host:port``, with the scheme of the URL in use);
2. answers ``CONNECT {...}`` (``verbose`` off, ``headers`` and ``no_responders`` on, the
   credentials), one ``SUB subject [queue] sid`` per subject, and ``PING``;
3. is ``connected`` once the ``PONG`` (or a ``+OK``) answers that ``PING``: by then the server has
   accepted the credentials and holds the subscriptions. Then the user's ``subscribe(...)`` replays
   and the queued sends go out.

Messages: ``MSG`` and ``HMSG`` become one message each, type = the subject, payload = the JSON body,
or its text when it is not JSON (``bytes`` when it is not UTF-8 either; an empty body is ``""``).
For ``HMSG`` the headers are parsed and left out, except ``Nats-Msg-Id``, which becomes
``Message.id``; a status-only message (``NATS/1.0 503`` no responders, ``100`` idle heartbeat) is
not delivered.

Keepalive: the server's ``PING`` is answered with ``PONG``; the application ping is ``PING``, and
its ``PONG`` proves liveness and gives the latency.

Errors: ``-ERR 'Authorization Violation'`` (and the authentication expired/revoked errors) stop
retrying, the error naming the reason (``"NATS: Authorization Violation"``); a permissions
violation is counted in :attr:`NATS.errors` and shown as ``last_error`` (the link stays up); any
other ``-ERR`` ends the link, as the server does, and is retried. Anything the parser cannot read (an
unknown operation, a line over :data:`MAX_LINE` bytes, a payload over ``max_payload``, a payload not
followed by CRLF) is a decode error: counted, reported, never fatal; the parser skips what it could
not read and carries on with the next line.

Sending: ``send(subject, payload)`` publishes: ``PUB subject <n>`` with the payload as JSON, or as it
is when it is ``bytes`` (``send("raw.x", b"\\x00\\x01")``). ``send(value)`` with ``bytes`` writes
those bytes as they are (raw NATS protocol: ``conn.send(b"PUB a 2\\r\\nhi\\r\\n")``); other values
raise ``TypeError``, as a NATS server only reads binary frames. ``subscribe(subject)`` or
``subscribe(subject, queue)`` adds a subscription (its own sid) replayed on every link.

>>> from rt_widgets.dispatch import Dispatcher
>>> nats = NATS(["sensors.>"])
>>> nats.bind(None, Dispatcher())  # type: ignore[arg-type]
>>> seen = []
>>> _ = nats.dispatcher.on("*", lambda m: seen.append((m.type, m.payload)))
>>> nats.receive(b'MSG sensors.t1 1 11\\r\\n{"c": 21.5}\\r\\nMSG sens', False)
1
>>> nats.receive(b'ors.t2 1 2\\r\\nhi\\r\\n', False), seen
(1, [('sensors.t1', {'c': 21.5}), ('sensors.t2', 'hi')])
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any, Final
from urllib.parse import urlsplit

import orjson

from ..errors import LinkError
from ..link import Outgoing
from ..protocol import Message
from .base import NO_PAYLOAD, ByteStream, Payload

__all__ = ["MAX_LINE", "NATS"]

#: The longest control line accepted (an ``INFO`` listing a large cluster stays well under it).
MAX_LINE: Final = 64 * 1024
#: ``max_payload`` until the server's ``INFO`` says otherwise (nats-server's default).
DEFAULT_MAX_PAYLOAD: Final = 1 << 20

_CRLF: Final = b"\r\n"
_PING: Final = Outgoing(b"PING\r\n", text=False)
_PONG: Final = Outgoing(b"PONG\r\n", text=False)
_CONNECT_PING: Final = "connect"  # what the handshake's PING is waiting for
_TERMINAL_ERRORS: Final = ("authorization violation", "authentication expired",
                           "authentication revoked", "account authentication expired")
_REPORTED_ERRORS: Final = ("permissions violation",)
_MAX_SUBJECTS_CACHED: Final = 4096


def _client_version() -> str:
    from .. import __version__  # here, not at the top: the package imports this module

    return __version__


def _check_subject(subject: object, what: str = "subject") -> str:
    if not isinstance(subject, str) or not subject or any(c in subject for c in " \t\r\n"):
        raise ValueError(f"a NATS {what} is a non-empty string with no whitespace, got {subject!r}")
    return subject


def _check_queue(queue: object) -> str | None:
    if queue is None:
        return None
    return _check_subject(queue, "queue group")


def _payload_of(body: Payload) -> Any:
    """The JSON value of a body, or its text, or (not UTF-8) its bytes."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        try:
            return bytes(body).decode()
        except UnicodeDecodeError:
            return bytes(body)


class NATS(ByteStream):
    """NATS over WebSocket; see the module docstring.

    ``subjects``: one subject or several (wildcards ``*`` and ``>`` allowed), each subscribed with
    its own sid on every link; ``queue``: a queue group for all of them (the server delivers each
    message to one member of the group). Credentials: ``user`` and ``password``, or ``token``;
    they are masked in every text the connection shows. ``name`` is the client name the server
    shows in its monitoring.
    """

    needs_ack = True

    def __init__(
        self,
        subjects: str | Sequence[str],
        queue: str | None = None,
        *,
        user: str | None = None,
        password: str | None = None,
        token: str | None = None,
        name: str = "rt_widgets",
    ) -> None:
        super().__init__()
        if isinstance(subjects, str):
            subjects = [subjects]
        self.subjects: tuple[str, ...] = tuple(_check_subject(s) for s in subjects)
        self.queue = _check_queue(queue)
        if token is not None and (user is not None or password is not None):
            raise ValueError("give NATS either user and password, or token, not both")
        if password is not None and user is None:
            raise ValueError("a NATS password needs a user")
        for value, what in ((user, "user"), (password, "password"), (token, "token")):
            if value is not None and not isinstance(value, str):
                raise TypeError(f"NATS {what} must be a str, got {type(value).__name__}")
        self._user = user
        self._password = password
        self._token = token
        self.name = name
        self._next_sid = len(self.subjects) + 1
        #: ``-ERR`` lines the server sent (each also shown as ``last_error``).
        self.errors = 0
        #: The server's latest ``INFO`` (on this link or the last one).
        self.server_info: dict[str, Any] = {}
        self.max_payload = DEFAULT_MAX_PAYLOAD
        self._scheme = "ws"
        self._subject_cache: dict[bytes, str] = {}
        self._pings_seq = 0
        self._no_ping = False
        self.link_opened()

    def __repr__(self) -> str:
        auth = ", user=..." if self._user is not None else ", token=..." if self._token else ""
        return f"NATS({list(self.subjects)!r}, queue={self.queue!r}{auth})"

    def describe(self) -> str:
        return repr(self)

    # ------------------------------------------------------------------------- link lifecycle

    def url(self, url: str) -> str:
        # The scheme of the URL being opened is the one the cluster's advertised URLs get.
        scheme = urlsplit(url).scheme.lower()
        if scheme in ("ws", "wss"):
            self._scheme = scheme
        return url

    def link_opened(self) -> None:
        super().link_opened()  # the stream's tail, _need and _skip
        self._skip_line = False  # discarding an overlong line up to its CRLF
        self._greeted = False  # this link's first INFO answered
        self._ready = False  # the server accepted CONNECT (the link is connected)
        self._pongs: deque[str | None] = deque()  # what each PING in flight is waiting for

    def secret_values(self) -> Sequence[str]:
        return tuple(v for v in (self._user, self._password, self._token) if v)

    def handshake(self) -> Sequence[Outgoing]:
        # NATS has the server speak first: CONNECT answers its INFO (see _on_info).
        return ()

    def connect_frame(self) -> bytes:
        """What answers a link's first ``INFO``: ``CONNECT``, the subscriptions and ``PING``."""
        options: dict[str, Any] = {
            "verbose": False, "pedantic": False, "tls_required": False, "name": self.name,
            "lang": "python", "version": _client_version(), "protocol": 1, "echo": True,
            "headers": bool(self.server_info.get("headers", True)), "no_responders": True,
        }
        if self._token is not None:
            options["auth_token"] = self._token
        if self._user is not None:
            options["user"] = self._user
            options["pass"] = self._password or ""
        parts = [b"CONNECT " + orjson.dumps(options) + _CRLF]
        queue = f" {self.queue}" if self.queue else ""
        for sid, subject in enumerate(self.subjects, 1):
            parts.append(f"SUB {subject}{queue} {sid}\r\n".encode())
        parts.append(b"PING\r\n")
        return b"".join(parts)

    def set_heartbeat(self, spec: Any) -> None:
        """``heartbeat_message=None`` turns the ``PING`` off (WebSocket pings still run); NATS
        has no other application ping, and a server reads no text frame."""
        if spec is not None:
            raise TypeError("NATS sends PING as its application ping; heartbeat_message may only "
                            f"be None (no application ping), got {spec!r}")
        self._no_ping = True

    def ping(self) -> tuple[Outgoing, str | None] | None:
        if self._no_ping or not self._ready:
            return None  # nothing but CONNECT may come first
        self._pings_seq += 1
        key = f"nats-ping-{self._pings_seq}"
        self._pongs.append(key)
        return _PING, key

    # ------------------------------------------------------------------------------- sending

    def encode(self, type_or_value: Any, payload: Any = NO_PAYLOAD) -> tuple[Any, Outgoing]:
        if payload is NO_PAYLOAD:
            if isinstance(type_or_value, bytes | bytearray | memoryview):
                return type_or_value, Outgoing(bytes(type_or_value), text=False)
            raise TypeError(
                "NATS: send(subject, payload) publishes; send(value) takes only bytes (raw NATS "
                f"protocol, sent as they are), got {type(type_or_value).__name__}")
        subject = _check_subject(type_or_value)
        if isinstance(payload, bytes | bytearray | memoryview):
            body = bytes(payload)
        else:
            try:
                body = orjson.dumps(payload)
            except TypeError as exc:
                raise TypeError(f"NATS payload is not JSON-serialisable: {exc}") from None
        if len(body) > self.max_payload:
            raise ValueError(f"NATS payload of {len(body)} bytes is over the server's max_payload "
                             f"of {self.max_payload} bytes")
        frame = b"PUB %s %d\r\n%s\r\n" % (subject.encode(), len(body), body)
        return {"subject": subject, "payload": payload}, Outgoing(frame, text=False)

    def subscription(self, type_or_value: Any, payload: Any = NO_PAYLOAD) -> Outgoing:
        """``subscribe(subject)`` / ``subscribe(subject, queue)``: a ``SUB`` with a sid of its own;
        ``subscribe(bytes)``: those bytes as they are."""
        if payload is NO_PAYLOAD and isinstance(type_or_value, bytes | bytearray | memoryview):
            return Outgoing(bytes(type_or_value), text=False)
        subject = _check_subject(type_or_value)
        queue = _check_queue(None if payload is NO_PAYLOAD else payload)
        sid = self._next_sid
        self._next_sid += 1
        line = f"SUB {subject} {queue} {sid}\r\n" if queue else f"SUB {subject} {sid}\r\n"
        return Outgoing(line.encode(), text=False)

    # ----------------------------------------------------------------------------- receiving

    def receive(self, data: Payload, text: bool = True) -> int:
        # The server sends binary frames; a text frame's bytes are read the same way.
        return self.feed(data)

    def parse(self, data: bytes) -> tuple[int, int]:
        """Deliver every whole message of ``data``; return how many, and where the unread tail
        starts (a partial line or message, kept for the next frame; ``_need`` says how many bytes
        it must reach before parsing is worth trying again)."""
        count = 0
        pos = 0
        size = len(data)
        find = data.find
        startswith = data.startswith
        dispatch = self.dispatcher.dispatch
        cache = self._subject_cache
        max_payload = self.max_payload
        self._need = 0
        while pos < size:
            end = find(_CRLF, pos)
            if end < 0:
                if size - pos > MAX_LINE:
                    if not self._skip_line:
                        self._decode_error(f"NATS: a protocol line over {MAX_LINE} bytes; skipped")
                    self._skip_line = True
                    return count, size
                self._need = size - pos + 1
                return count, pos
            if self._skip_line:  # the end of an overlong line: resume after it
                self._skip_line = False
                pos = end + 2
                continue
            if end - pos > MAX_LINE:
                self._decode_error(f"NATS: a protocol line over {MAX_LINE} bytes; skipped")
                pos = end + 2
                continue
            plain = startswith(b"MSG ", pos)
            if not (plain or startswith(b"HMSG ", pos)):
                line = data[pos:end]
                if line[:4].upper() in (b"MSG ", b"HMSG"):  # lower case: rare, but valid
                    plain = line[:4].upper() == b"MSG "
                else:
                    pos = end + 2
                    self._control(line)
                    continue
            # MSG <subject> <sid> [reply-to] <#bytes> / HMSG ... <#header bytes> <#total bytes>
            parts = data[pos + 4 if plain else pos + 5:end].split()
            header_size = 0
            try:
                if plain and 3 <= len(parts) <= 4:
                    total = int(parts[-1])
                elif not plain and 4 <= len(parts) <= 5:
                    header_size, total = int(parts[-2]), int(parts[-1])
                else:
                    total = -1
            except ValueError:
                total = -1
            if not 0 <= header_size <= total:
                self._decode_error(f"NATS: malformed message line {data[pos:end][:200]!r}")
                pos = end + 2
                continue
            start = end + 2
            if total > max_payload:
                self._decode_error(f"NATS: a message of {total} bytes is over max_payload "
                                   f"({max_payload}); skipped")
                pos = start + total + 2
                if pos > size:
                    self._skip = pos - size
                    return count, size
                continue
            stop = start + total
            if stop + 2 > size:
                self._need = stop + 2 - pos
                return count, pos
            if not startswith(_CRLF, stop):
                self._decode_error(
                    f"NATS: the payload of {data[pos:end][:200]!r} is not followed by CRLF")
                pos = stop
                continue
            pos = stop + 2
            raw = parts[0]
            subject = cache.get(raw)
            if subject is None:
                subject = raw.decode("utf-8", "replace")
                if len(cache) >= _MAX_SUBJECTS_CACHED:
                    cache.clear()
                cache[raw] = subject
            if header_size:
                msg_id, data_message = self._headers(data[start:start + header_size])
                if not data_message and total == header_size:
                    continue  # a status (no responders, idle heartbeat), not data
                dispatch(Message(subject, _payload_of(data[start + header_size:stop]), id=msg_id))
            else:
                dispatch(Message(subject, _payload_of(data[start:stop])))
            count += 1
        return count, pos

    def _headers(self, block: bytes) -> tuple[str | None, bool]:
        """The ``Nats-Msg-Id`` of a header block, and whether a message with no body is still
        data (``False`` for a status such as ``503``: no responders)."""
        lines = block.split(_CRLF)
        first = lines[0] if lines else b""
        if not first.startswith(b"NATS/"):
            self._decode_error(f"NATS: malformed message headers {first[:200]!r}")
        status = first.split()[1:2]
        msg_id: str | None = None
        for header in lines[1:]:
            key, sep, value = header.partition(b":")
            if sep and key.strip().lower() == b"nats-msg-id":
                msg_id = value.strip().decode("utf-8", "replace")
        return msg_id, not status

    def _control(self, line: bytes) -> None:
        op, _, rest = line.partition(b" ")
        op = op.upper()
        if op == b"PING":
            if self.host is not None:
                self.host.reply(_PONG)
        elif op == b"PONG":
            self._pong()
        elif op == b"INFO":
            self._on_info(rest)
        elif op == b"+OK":
            # Only a verbose server sends these; the first one accepts CONNECT.
            if self._greeted and not self._ready and self.host is not None:
                self._ready = True
                self.host.ready()
        elif op == b"-ERR":
            text = rest.strip()
            if len(text) >= 2 and text[:1] == text[-1:] == b"'":
                text = text[1:-1]
            self._on_error(text.decode("utf-8", "replace"))
        elif line:
            self._decode_error(f"NATS: unknown protocol line {line[:200]!r}")

    def _pong(self) -> None:
        waiting = self._pongs.popleft() if self._pongs else None
        if self.host is None:
            return
        if waiting == _CONNECT_PING:
            if not self._ready:
                self._ready = True
                self.host.ready()
        else:
            self.host.on_app_pong(waiting)

    def _on_info(self, body: bytes) -> None:
        try:
            info = orjson.loads(body)
        except orjson.JSONDecodeError:
            info = None
        if type(info) is not dict:
            self._decode_error(f"NATS: INFO is not a JSON object: {body[:200]!r}")
            return
        self.server_info = info
        max_payload = info.get("max_payload")
        if isinstance(max_payload, int) and max_payload > 0:
            self.max_payload = max_payload
        urls = [self._ws_url(u) for key in ("connect_urls", "ws_connect_urls")
                for u in (info.get(key) or ()) if isinstance(u, str) and u]
        if self.host is not None and urls:
            self.host.learn_urls(urls)
        if not self._greeted:
            self._greeted = True
            # The handshake's PING is answered first: it goes before any application ping.
            self._pongs.appendleft(_CONNECT_PING)
            if self.host is not None:
                self.host.reply(Outgoing(self.connect_frame(), text=False))

    def _ws_url(self, advertised: str) -> str:
        if "://" in advertised:
            return advertised
        return f"{self._scheme}://{advertised}"

    def _on_error(self, text: str) -> None:
        self.errors += 1
        message = f"NATS: {text}"
        lowered = text.lower()
        if self.host is None:
            return
        if any(reason in lowered for reason in _REPORTED_ERRORS):
            self.host.on_decode_error(message)
        else:
            # The server closes the link after any other error; the terminal ones name a
            # credentials problem that retrying cannot fix.
            terminal = any(reason in lowered for reason in _TERMINAL_ERRORS)
            self.host.fail(LinkError(message, terminal=terminal))

"""A websockets client connection that hands each received message to a callback.

``websockets``' ``recv()`` queues every frame, wakes a waiting coroutine through a future and resumes it
on the next turn of the loop: about a microsecond per message, a quarter of what receiving a small
message costs in all (``bench.ingest``). :class:`FrameConnection` calls ``sink(data, text)`` from the
protocol's ``data_received`` instead, as soon as a message is whole, so a fast feed is read, decoded and
dispatched with no queue in between; reading the socket waits while the sink runs, which is the
back-pressure. Control frames (ping, pong, close) are handled by ``websockets`` as usual.

Once the connection is open, :meth:`FrameConnection.data_received` also splits the common frames
itself: a whole, unfragmented, unmasked text or binary frame with no reserved bit and within the
size limit is handed over as a view of the received bytes (no copy, the bytes after it left where
they are), where ``websockets``' parser costs a few microseconds per frame in generators and
copies the rest of its buffer down after every frame it reads. Each control frame is handed to
``websockets`` whole, at a frame boundary, so its parser and state stay exact; anything else (a
fragment, a reserved bit, a frame over the limit, anything after a close frame) hands the stream to
``websockets`` from that frame on, which fails or closes the link as it always does. The opening
handshake's response is handed over up to its blank line, so the first frames after it are split
here too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.protocol import State

__all__ = ["FrameConnection", "Payload", "Sink", "frame_connection_factory"]

Payload = bytes | bytearray | memoryview
Sink = Callable[[Payload, bool], None]

logger = logging.getLogger("rt_widgets.connection")

_DATA = (Opcode.TEXT, Opcode.BINARY)
# First header bytes split here: FIN, no reserved bit, text (0x81) or binary (0x82); handed to
# websockets whole: FIN and close (0x88), ping (0x89), pong (0x8A).
_TEXT, _BINARY = 0x81, 0x82
_SPLIT = (_TEXT, _BINARY)
_CLOSE = 0x88
_CONTROL = frozenset((_CLOSE, 0x89, 0x8A))
# The opening handshake's response is split from what follows it when it ends within this many
# bytes (websockets allows far fewer header bytes); past it, websockets reads everything.
_MAX_HEAD = 1 << 16


class FrameConnection(ClientConnection):
    """``ClientConnection`` that delivers each complete data message (text or binary; bytes, or a
    memoryview of the bytes read: copy what outlives the call) to ``sink(data, text)`` from
    ``data_received``, in order (``text``: a text frame); ``recv()`` is not used. Fragmented
    messages are joined first (``websockets`` enforces ``max_size`` on the whole message). An
    exception from ``sink`` is logged and does not reach the protocol.

    Messages that arrive before :meth:`start_delivery` are held (and reading pauses until then), so
    the owner can finish setting up the link first; after :meth:`stop_delivery` they are dropped.
    """

    def __init__(self, protocol: ClientProtocol, *, sink: Sink, **kwargs: Any) -> None:
        super().__init__(protocol, **kwargs)
        self._sink: Sink | None = sink
        self._held: list[tuple[Payload, bool]] | None = []
        self._fragments: list[Payload] = []
        self._fragmented_text = True
        # The frame splitter: off once websockets reads the stream (see data_received).
        self._splitting = True
        self._head = b""  # the handshake response so far
        self._pieces: list[bytes] = []  # the start of a frame not yet whole, and its length so far
        self._have = 0
        self._need = 0  # that frame's whole length once its header is in (0: not yet)
        self._limit: int | None = None

    def start_delivery(self) -> None:
        """Deliver the held messages, then each one as it arrives."""
        held, self._held = self._held, None
        if held:
            for data, text in held:
                self._deliver(data, text)
            self.transport.resume_reading()

    def stop_delivery(self) -> None:
        """Drop every message from now on (the owner is done with this link)."""
        held, self._held = self._held, None
        self._sink = None
        if held:
            self.transport.resume_reading()  # so that a closing handshake can be read

    def data_received(self, data: bytes) -> None:
        if not self._splitting:
            super().data_received(data)
        elif self.protocol.state is State.CONNECTING:
            self._handshake(data)
        else:
            self._split(data)

    def _handshake(self, data: bytes) -> None:
        head = self._head + data
        end = head.find(b"\r\n\r\n")
        if end < 0:
            if len(head) > _MAX_HEAD:
                self._hand_over(head)
            else:
                self._head = head
            return
        self._head = b""
        end += 4
        super().data_received(head[:end])
        protocol = self.protocol
        if protocol.state is not State.OPEN or protocol.reader.buffer:
            self._hand_over(head[end:])  # no upgrade: websockets reads the rest (a body)
            return
        size, fragment = protocol.max_message_size, protocol.max_fragment_size
        self._limit = size if fragment is None else fragment if size is None else min(size, fragment)
        if end < len(head):
            self._split(head[end:])

    def _hand_over(self, data: bytes) -> None:
        """websockets reads the stream from ``data`` on."""
        self._splitting = False
        if data:
            super().data_received(data)

    def _split(self, data: bytes) -> None:
        pos = 0
        if self._pieces:
            have, need = self._have + len(data), self._need
            if have < need:
                self._pieces.append(data)
                self._have = have
                return
            if need:  # the frame begun earlier ends in data: join that frame alone
                pos = len(data) - (have - need)
                self._pieces.append(data[:pos])
            else:  # its header was cut: join it with all of data
                self._pieces.append(data)
                pos = len(data)
            whole = b"".join(self._pieces)
            self._pieces, self._have, self._need = [], 0, 0
            self._split_at(whole, 0)
            if pos == len(data):
                return
            if not self._splitting:
                super().data_received(data[pos:])
                return
        self._split_at(data, pos)

    def _split_at(self, data: bytes, pos: int) -> None:
        end = len(data)
        limit = self._limit
        view = memoryview(data)  # a frame is handed over as a view of the bytes read: no copy
        while end - pos >= 2:
            first = data[pos]
            length = data[pos + 1]  # a server's frames are not masked: bit 7 is clear
            start = pos + 2
            if length >= 126:
                if length == 126:
                    start += 2
                elif length == 127:
                    start += 8
                else:  # masked
                    self._hand_over(data[pos:])
                    return
                if start > end:
                    break
                length = int.from_bytes(data[pos + 2 : start], "big")
            stop = start + length
            if first in _SPLIT and (limit is None or length <= limit):
                if stop > end:
                    self._need = stop - pos
                    break
                self._deliver(view[start:stop], first == _TEXT)
            elif first in _CONTROL and length <= 125:
                if stop > end:
                    self._need = stop - pos
                    break
                super().data_received(data[pos:stop])
                if first == _CLOSE:
                    self._hand_over(data[stop:])
                    return
            else:
                self._hand_over(data[pos:])
                return
            pos = stop
            if not self._splitting:  # the sink stopped the link
                return
        if pos < end:
            rest = data[pos:] if pos else data
            self._pieces, self._have = [rest], len(rest)

    def process_event(self, event: Any) -> None:
        if type(event) is not Frame:  # the handshake response
            super().process_event(event)
            return
        opcode = event.opcode
        if opcode in _DATA:
            if event.fin:
                self._deliver(event.data, opcode is Opcode.TEXT)
            else:
                self._fragments = [event.data]
                self._fragmented_text = opcode is Opcode.TEXT
        elif opcode is Opcode.CONT:
            self._fragments.append(event.data)
            if event.fin:
                data = b"".join(self._fragments)
                self._fragments = []
                self._deliver(data, self._fragmented_text)
        else:
            super().process_event(event)

    def _deliver(self, data: Payload, text: bool) -> None:
        if self._held is not None:
            self._held.append((data, text))
            self.transport.pause_reading()
            return
        if self._sink is None:
            return
        try:
            self._sink(data, text)
        except Exception:
            # Raising into data_received would be fatal to the transport and lose the link.
            logger.exception("message handling failed")


def frame_connection_factory(sink: Sink) -> Callable[..., FrameConnection]:
    """What ``websockets.asyncio.client.connect(create_connection=...)`` calls to make the
    connection object, with ``sink`` bound."""

    def create(protocol: ClientProtocol, **kwargs: Any) -> FrameConnection:
        return FrameConnection(protocol, sink=sink, **kwargs)

    return create

"""A websockets client connection that hands each received message to a callback.

``websockets``' ``recv()`` queues every frame, wakes a waiting coroutine through a future and resumes it
on the next turn of the loop: about a microsecond per message, a quarter of what receiving a small
message costs in all (``bench.ingest``). :class:`FrameConnection` calls ``sink(data, text)`` from the
protocol's ``data_received`` instead, as soon as a message is whole, so a fast feed is read, decoded and
dispatched with no queue in between; reading the socket waits while the sink runs, which is the
back-pressure. Control frames (ping, pong, close) are handled by ``websockets`` as usual.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode

__all__ = ["FrameConnection", "Payload", "Sink", "frame_connection_factory"]

Payload = bytes | bytearray | memoryview
Sink = Callable[[Payload, bool], None]

logger = logging.getLogger("rt_widgets.connection")

_DATA = (Opcode.TEXT, Opcode.BINARY)


class FrameConnection(ClientConnection):
    """``ClientConnection`` that delivers each complete data message (text or binary, as bytes) to
    ``sink(data, text)`` from ``data_received``, in order (``text``: a text frame); ``recv()`` is
    not used. Fragmented messages are joined first (``websockets`` enforces ``max_size`` on the
    whole message). An exception from ``sink`` is logged and does not reach the protocol.

    Messages that arrive before :meth:`start_delivery` are held (and reading pauses until then), so
    the owner can finish setting up the link first; after :meth:`stop_delivery` they are dropped.
    """

    def __init__(self, protocol: ClientProtocol, *, sink: Sink, **kwargs: Any) -> None:
        super().__init__(protocol, **kwargs)
        self._sink: Sink | None = sink
        self._held: list[tuple[Payload, bool]] | None = []
        self._fragments: list[Payload] = []
        self._fragmented_text = True

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

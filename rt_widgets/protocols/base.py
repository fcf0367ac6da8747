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
from typing import Any, Protocol

from ..dispatch import Dispatcher
from ..link import Outgoing

__all__ = ["FrameProtocol", "Host", "Payload"]

Payload = bytes | bytearray | memoryview


class Host(Protocol):
    """What a protocol may ask of the link it runs on."""

    def on_app_pong(self, key: str | None) -> None: ...

    def reply(self, frame: Outgoing) -> None: ...

    def learn_urls(self, urls: Sequence[str]) -> None: ...

    def on_decode_error(self, text: str) -> None: ...


class FrameProtocol:
    """The base of every protocol. Subclasses override :meth:`receive` and :meth:`encode`, and
    the others where the protocol has a handshake, subscriptions or a heartbeat of its own.

    ``subprotocols``: the WebSocket subprotocols to offer in the opening handshake.
    """

    subprotocols: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.decode_errors = 0
        self.host: Host | None = None
        self.dispatcher = Dispatcher()

    def bind(self, host: Host, dispatcher: Dispatcher) -> None:
        """Attach to a link: called once by the connection, before any frame."""
        self.host = host
        self.dispatcher = dispatcher

    def url(self, url: str) -> str:
        """The URL to open for ``url`` as the user gave it (an adapter may add a path)."""
        return url

    def receive(self, data: Payload) -> int:
        """Decode one data frame (text frames arrive as UTF-8 bytes too), deliver its messages and
        return how many there were. Never raises because of the frame's content."""
        raise NotImplementedError

    def encode(self, type_or_value: Any, payload: Any = None) -> tuple[Any, Outgoing]:
        """What ``send(type_or_value, payload)`` sends: a description for the ``SendHandle`` (the
        message dict, say) and the frame. Raises ``TypeError``/``ValueError`` on bad input."""
        raise NotImplementedError

    def subscription(self, type_or_value: Any, payload: Any = None) -> Outgoing:
        """The frame ``subscribe(...)`` replays on every (re)connect."""
        return self.encode(type_or_value, payload)[1]

    def handshake(self) -> Sequence[Outgoing]:
        """Frames to send first on every (re)connect, before subscriptions and queued sends."""
        return ()

    def ping(self) -> tuple[Outgoing, str | None] | None:
        """An application ping and the key its answer will carry, or ``None`` (no such ping)."""
        return None

    def link_opened(self) -> None:
        """A new link is up: reset per-link state."""

    def _decode_error(self, text: str, count: int = 1) -> None:
        self.decode_errors += count
        if self.host is not None:
            self.host.on_decode_error(text)

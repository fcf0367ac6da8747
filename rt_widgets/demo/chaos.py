"""The demo feed's misbehaviours, and the hooks tests and demos call to inject faults.

- `Chaos`: which misbehaviours are in force (a frozen value; ``DemoServer.chaos``).
- `ChaosDriver`: performs them on the feed's event loop: refuses handshakes, mutes links as a
  half-open link is silent, drops every link on a period or on demand, pushes raw frames.
- `ChaosHooks`: the fault-injection part of `DemoServer`'s public API (``set_chaos``,
  ``drop_clients``, ``broadcast_raw``), safe from any thread.

The server asks the driver at a few points only: on each handshake (`refusal`), on each new link and
each frame read (`silence_if_muted`), before each write (`unmuted`), and whether to produce at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import logging
from collections.abc import Callable, Coroutine
from typing import Any, Final, TypeVar

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Response

__all__ = ["UNSET", "Chaos", "ChaosDriver", "ChaosHooks"]

logger = logging.getLogger("rt_widgets.demo")

T = TypeVar("T")


class _Unset(enum.Enum):
    UNSET = enum.auto()


#: "Leave this misbehaviour as it is" in ``set_chaos``.
UNSET: Final = _Unset.UNSET


@dataclasses.dataclass(frozen=True)
class Chaos:
    """The misbehaviours in force. ``DemoServer.chaos`` returns the current one.

    - ``drop_every``: close every client every this many seconds (code 1012), ``None`` for never.
    - ``mute_heartbeat``: go silent as a half-open link does: stop reading (so neither application
      nor protocol pings are answered) and stop sending.
    - ``refuse_status``: reject every opening handshake with this HTTP status (e.g. 401, 503).
    - ``retry_after``: seconds to put in a ``Retry-After`` header on refused handshakes.
    """

    drop_every: float | None = None
    mute_heartbeat: bool = False
    refuse_status: int | None = None
    retry_after: int | None = None

    def __post_init__(self) -> None:
        if self.drop_every is not None and not self.drop_every > 0:
            raise ValueError(f"drop_every must be > 0 seconds or None, got {self.drop_every!r}")
        if self.refuse_status is not None and not 400 <= self.refuse_status <= 599:
            raise ValueError(
                f"refuse_status must be an HTTP error status (400-599), got {self.refuse_status!r}"
            )
        if self.retry_after is not None and self.retry_after < 0:
            raise ValueError(f"retry_after must be >= 0 seconds, got {self.retry_after!r}")


class ChaosDriver:
    """Performs a `Chaos` on the feed's links. Everything but `chaos` runs on the feed's loop.

    ``links`` returns the links connected now; ``ping_interval`` is the server's keepalive period
    (restored on links that were muted).
    """

    def __init__(
        self,
        chaos: Chaos,
        links: Callable[[], list[ServerConnection]],
        *,
        ping_interval: float | None,
    ) -> None:
        #: The misbehaviours in force. Set it directly only while the feed is stopped.
        self.chaos = chaos
        self._links = links
        self._ping_interval = ping_interval
        self._unmuted: asyncio.Event | None = None
        self._dropper: asyncio.Task[None] | None = None

    # -- the feed's run ------------------------------------------------------------------------

    def start(self) -> None:
        """The feed has started on this loop: put the current chaos in force."""
        self._unmuted = asyncio.Event()
        if not self.chaos.mute_heartbeat:
            self._unmuted.set()
        self._restart_dropper()

    def stop(self) -> None:
        """The feed is stopping: no more drops, and every link reads again.

        A muted link reads nothing, so it would never see the client's close frame.
        """
        if self._dropper is not None:
            self._dropper.cancel()
            self._dropper = None
        self._resume_all()

    # -- what the server asks ------------------------------------------------------------------

    @property
    def unmuted(self) -> asyncio.Event:
        """Set while the feed is not muted: writers wait on it before each frame."""
        assert self._unmuted is not None, "ChaosDriver.start() was not called"
        return self._unmuted

    def refusal(self, connection: ServerConnection) -> Response | None:
        """The response that refuses this handshake, or None to accept it."""
        status, retry_after = self.chaos.refuse_status, self.chaos.retry_after
        if status is None:
            return None
        response = connection.respond(
            status,
            f"The demo feed refuses connections with HTTP {status} (chaos option refuse_status)\n",
        )
        if retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
        return response

    def silence_if_muted(self, ws: ServerConnection) -> bool:
        """True when the feed is muted; then ``ws`` is kept from reading and from keepalive pings.

        Called for each new link and each frame read: websockets' own flow control may have resumed
        reading behind our back.
        """
        if not self.chaos.mute_heartbeat:
            return False
        _mute(ws)
        return True

    # -- changes and faults on demand ----------------------------------------------------------

    async def apply(self, chaos: Chaos) -> None:
        """Put ``chaos`` in force on the running feed."""
        previous, self.chaos = self.chaos, chaos
        if chaos.mute_heartbeat and not previous.mute_heartbeat:
            self.unmuted.clear()
            for ws in self._links():
                _mute(ws)
            logger.info("demo feed muted: links are silent both ways (half-open)")
        elif previous.mute_heartbeat and not chaos.mute_heartbeat:
            self._resume_all()
            logger.info("demo feed unmuted")
        if chaos.drop_every != previous.drop_every:
            self._restart_dropper()
        if chaos.refuse_status != previous.refuse_status:
            logger.info("demo feed refuse_status = %s", chaos.refuse_status)

    async def drop_all(self, code: int, reason: str) -> int:
        """Close every link with ``code``; returns how many there were."""
        links = self._links()
        for ws in links:
            # So the closing handshake completes even on a muted link.
            with contextlib.suppress(RuntimeError):
                ws.transport.resume_reading()
        await asyncio.gather(*(ws.close(code, reason) for ws in links), return_exceptions=True)
        return len(links)

    async def broadcast_raw(self, data: str | bytes, text: bool | None) -> int:
        """Send ``data`` as-is to every link; returns how many it reached."""
        results = await asyncio.gather(
            *(ws.send(data, text=text) for ws in self._links()), return_exceptions=True
        )
        return sum(1 for result in results if not isinstance(result, BaseException))

    # -- internals -----------------------------------------------------------------------------

    def _resume_all(self) -> None:
        if self._unmuted is not None:
            self._unmuted.set()
        for ws in self._links():
            with contextlib.suppress(RuntimeError):  # transport already closing
                ws.transport.resume_reading()
            if ws.keepalive_task is None and self._ping_interval is not None:
                ws.start_keepalive()

    def _restart_dropper(self) -> None:
        if self._dropper is not None:
            self._dropper.cancel()
            self._dropper = None
        if self.chaos.drop_every is not None:
            self._dropper = asyncio.create_task(self._drop_periodically(self.chaos.drop_every))

    async def _drop_periodically(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            count = await self.drop_all(1012, f"demo feed drops links every {every:g} s")
            logger.info("chaos: dropped %d client(s)", count)


def _mute(ws: ServerConnection) -> None:
    ws.transport.pause_reading()
    # A half-open link sends nothing either, not even keepalive pings.
    if ws.keepalive_task is not None:
        ws.keepalive_task.cancel()
        ws.keepalive_task = None


class ChaosHooks:
    """Fault injection for `DemoServer`: every method is safe from any thread but the feed's own."""

    _chaos: ChaosDriver

    @property
    def running(self) -> bool:
        raise NotImplementedError

    def _on_feed(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the running feed's loop and return its result."""
        raise NotImplementedError

    @property
    def chaos(self) -> Chaos:
        return self._chaos.chaos

    def set_chaos(
        self,
        *,
        drop_every: float | _Unset | None = UNSET,
        mute_heartbeat: bool | _Unset = UNSET,
        refuse_status: int | _Unset | None = UNSET,
        retry_after: int | _Unset | None = UNSET,
    ) -> Chaos:
        """Change some misbehaviours (``None`` turns one off); the others stay as they are.

        Example: ``feed.set_chaos(mute_heartbeat=True)``, later ``mute_heartbeat=False``.
        """
        changes: dict[str, Any] = {
            name: value
            for name, value in (
                ("drop_every", drop_every),
                ("mute_heartbeat", mute_heartbeat),
                ("refuse_status", refuse_status),
                ("retry_after", retry_after),
            )
            if value is not UNSET
        }
        chaos = dataclasses.replace(self._chaos.chaos, **changes)  # validates
        if self.running:
            self._on_feed(self._chaos.apply(chaos))
        else:
            self._chaos.chaos = chaos
        return chaos

    def drop_clients(self, code: int = 1012, reason: str = "demo feed dropped the link") -> int:
        """Close every client's link with ``code`` (1012: service restart); returns how many."""
        if not self.running:
            return 0
        return self._on_feed(self._chaos.drop_all(code, reason))

    def broadcast_raw(self, data: str | bytes, *, text: bool | None = None) -> int:
        """Send ``data`` as-is to every client: str as a text frame, bytes as a binary frame
        (``text=True`` sends bytes as a text frame). Returns how many clients it went to.

        For tests and demos of malformed, hostile or oversized frames.
        """
        if not self.running:
            return 0
        return self._on_feed(self._chaos.broadcast_raw(data, text))

"""StatusFeed: what a widget shows of its connection's status, and when to look again.

State changes reach the widget through ``Connection.on_state`` and messages through its handlers;
each marks the widget for a flush. Some changes come with neither: a failed attempt while
reconnecting (``reconnecting`` -> ``reconnecting`` is no state change) and the next wait, counters
with no callback of their own (``decode_errors``, latency, bytes) and rates falling back to zero.
The feed looks for those on a timer, only while they can happen, and wakes the widget when it
finds one. An idle disconnected widget holds no timer: its next change comes with a state change,
a send or a message.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import iothread

if TYPE_CHECKING:
    import asyncio

    from ..connection import Connection

__all__ = ["IDLE_POLL", "RETRY_POLL", "StatusFeed", "StatusReading"]

# While the link is being retried, attempts and waits are looked for this often.
RETRY_POLL = 0.25
# Otherwise counters and rates are looked for once a second, while they may change.
IDLE_POLL = 1.0
RETRYING = ("connecting", "reconnecting")


def state_name(state: object) -> str:
    return str(getattr(state, "value", state))


def _signature(stats: dict[str, Any]) -> tuple[Any, ...]:
    """The stats minus the uptime, which changes all the time and is not worth a message."""
    return tuple(v for k, v in sorted(stats.items()) if k != "uptime_s")


@dataclass(frozen=True)
class StatusReading:
    """The connection-status trait values at one flush (credentials already masked)."""

    status: str
    attempt: int
    # Only when ``new_wait``: the view counts next_retry_in down by itself, so it is sent again only
    # when a wait starts or ends.
    new_wait: bool
    next_retry_in: float | None
    error: str | None
    latency_ms: float | None
    queued: int
    stats: dict[str, Any]


class StatusFeed:
    """Reads a :class:`Connection` (public API only) for a widget's status traits, and watches it.

    ``changing(now)`` says whether something else the widget shows may change with no event (the
    explorer's rates); ``wake()`` asks the widget for a flush. I/O thread only.
    """

    def __init__(self, connection: Connection, scrub: Callable[[str], str], *,
                 changing: Callable[[float], bool], wake: Callable[[], None]) -> None:
        self._conn = connection
        self._scrub = scrub
        self._changing = changing
        self._wake = wake
        self._wait_key: tuple[str, int, bool] | None = None
        self._stats_sig: tuple[Any, ...] = ()
        self._timer: asyncio.TimerHandle | None = None
        self._stopped = False

    def read(self) -> StatusReading:
        conn = self._conn
        stats = conn.stats()
        if stats.get("last_error"):
            stats["last_error"] = self._scrub(str(stats["last_error"]))
        status = state_name(conn.state)
        attempt = int(conn.attempt)
        retry = conn.next_retry_in
        wait_key = (status, attempt, retry is None)
        new_wait = wait_key != self._wait_key
        self._wait_key = wait_key
        self._stats_sig = _signature(stats)
        error = conn.last_error
        return StatusReading(
            status=status, attempt=attempt, new_wait=new_wait,
            next_retry_in=None if retry is None else round(float(retry), 3),
            error=None if error is None else self._scrub(str(error)),
            latency_ms=conn.latency_ms, queued=int(stats.get("queued", 0)), stats=stats)

    @property
    def watching(self) -> bool:
        """Whether a look is scheduled."""
        return self._timer is not None

    def watch(self, status: str, now: float) -> None:
        """Look again later if something may change unannounced (after each flush)."""
        if self._timer is not None or self._stopped:
            return
        if status in RETRYING:
            delay = RETRY_POLL
        elif status == "connected" or self._changing(now):
            delay = IDLE_POLL
        else:
            return
        self._timer = iothread.get_loop().call_later(delay, self._look)

    def _look(self) -> None:
        self._timer = None
        if self._stopped:
            return
        now = time.monotonic()  # the explorer's clock
        status = state_name(self._conn.state)
        if (status in RETRYING or self._changing(now)
                or _signature(self._conn.stats()) != self._stats_sig):
            self._wake()  # the flush reads, and calls watch() again
        else:
            self.watch(status, now)

    def stop(self) -> None:
        self._stopped = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

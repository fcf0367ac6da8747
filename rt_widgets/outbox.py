"""The offline send queue and the handles that report what became of each send.

Pure logic: no asyncio, no sockets, an injected clock. Not thread-safe by itself: the connection guards it
with a lock, because ``send()`` may be called from any thread.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from enum import StrEnum
from typing import Any, Literal

__all__ = ["Outbox", "Overflow", "QueueFullError", "SendHandle", "SendState"]

Overflow = Literal["drop_oldest", "drop_newest", "error"]
_OVERFLOWS = ("drop_oldest", "drop_newest", "error")

# One lock for every handle's lazily created event: waiting on a handle is rare, sending is not.
_wait_lock = threading.Lock()


class SendState(StrEnum):
    """What became of a message given to ``send()``."""

    QUEUED = "queued"
    SENT = "sent"
    DROPPED = "dropped"
    EXPIRED = "expired"


class QueueFullError(RuntimeError):
    """Raised by ``send()`` when the outbox is full and ``overflow="error"``."""


class SendHandle:
    """The fate of one ``send()``: ``queued`` until it is handed to the socket (``sent``), or until the
    outbox discards it (``dropped`` on overflow, ``expired`` past ``queue_ttl``).

    Delivery of a sent message is at most once: ``sent`` means the frame was written to the socket
    without error, not that the server processed it.

    >>> handle = conn.send("subscribe", {"channel": "metrics"})  # doctest: +SKIP
    >>> handle.wait(timeout=5)  # doctest: +SKIP
    <SendState.SENT: 'sent'>
    """

    __slots__ = ("_event", "_inflight", "enqueued_at", "frame", "message", "reason", "state")

    def __init__(
        self, message: Any, enqueued_at: float, frame: Any = None
    ) -> None:
        self.message = message
        self.frame = frame
        self.enqueued_at = enqueued_at
        self.state = SendState.QUEUED
        self.reason: str | None = None
        self._inflight = False
        self._event: threading.Event | None = None

    @property
    def done(self) -> bool:
        return self.state is not SendState.QUEUED

    def _finish(self, state: SendState, reason: str | None = None) -> None:
        self.reason = reason
        self.state = state
        with _wait_lock:
            event = self._event
        if event is not None:
            event.set()

    def wait(self, timeout: float | None = None) -> SendState:
        """Block until the message is sent, dropped or expired; return that state.

        Raises ``TimeoutError`` if it is still queued after ``timeout`` seconds.
        """
        if self.state is SendState.QUEUED:
            with _wait_lock:
                if self._event is None:
                    self._event = threading.Event()
                event = self._event
            if self.state is SendState.QUEUED and not event.wait(timeout):
                raise TimeoutError(f"message still queued after {timeout} s")
        return self.state

    def __repr__(self) -> str:
        kind = self.message.get("type") if isinstance(self.message, dict) else type(self.message).__name__
        extra = f", reason={self.reason!r}" if self.reason else ""
        return f"<SendHandle type={kind!r} state={self.state.value}{extra}>"


class Outbox:
    """A FIFO of user sends waiting for the link, bounded by ``limit``, with optional per-message ``ttl``.

    The head may be *in flight* (handed to the socket, write not finished): it still counts against the
    limit, is never dropped or expired, and goes back to being an ordinary head if the write fails, so a
    message is never lost between the queue and a dying socket.
    """

    __slots__ = ("_clock", "_items", "dropped", "expired", "limit", "overflow", "ttl")

    def __init__(
        self,
        limit: int = 1000,
        ttl: float | None = None,
        overflow: Overflow = "drop_oldest",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not isinstance(limit, int) or limit < 0:
            raise ValueError(f"queue_limit must be an integer >= 0, got {limit!r}")
        if ttl is not None and not ttl > 0:
            raise ValueError(f"queue_ttl must be None or > 0, got {ttl!r}")
        if overflow not in _OVERFLOWS:
            raise ValueError(f"overflow must be one of {_OVERFLOWS}, got {overflow!r}")
        self.limit = limit
        self.ttl = ttl
        self.overflow: Overflow = overflow
        self._clock = clock
        self._items: deque[SendHandle] = deque()
        self.dropped = 0
        self.expired = 0

    def __len__(self) -> int:
        return len(self._items)

    def put(self, message: Any, frame: Any = None) -> SendHandle:
        """Queue a message. When full: drop the oldest waiting message, drop this one, or raise
        ``QueueFullError``, as ``overflow`` says."""
        self.expire()
        handle = SendHandle(message, self._clock(), frame)
        if len(self._items) >= self.limit:
            if self.overflow == "error":
                raise QueueFullError(
                    f"send queue is full ({self.limit} messages waiting for the link); "
                    "wait for the connection, raise queue_limit, or use overflow='drop_oldest'"
                )
            victim_index = 1 if self._items and self._items[0]._inflight else 0
            if self.overflow == "drop_newest" or victim_index >= len(self._items):
                self.dropped += 1
                handle._finish(SendState.DROPPED, "queue full (drop_newest)")
                return handle
            victim = self._items[victim_index]
            del self._items[victim_index]
            self.dropped += 1
            victim._finish(SendState.DROPPED, "queue full (drop_oldest)")
        self._items.append(handle)
        return handle

    def expire(self) -> int:
        """Expire every waiting message older than ``ttl``; return how many."""
        if self.ttl is None or not self._items:
            return 0
        deadline = self._clock() - self.ttl
        count = 0
        items = self._items
        start = 1 if items[0]._inflight else 0
        while len(items) > start and items[start].enqueued_at <= deadline:
            handle = items[start]
            del items[start]
            handle._finish(SendState.EXPIRED, f"not sent within queue_ttl={self.ttl} s")
            count += 1
        self.expired += count
        return count

    def next_expiry(self) -> float | None:
        """Clock time at which the oldest waiting message expires, or ``None``."""
        if self.ttl is None:
            return None
        for handle in self._items:
            if not handle._inflight:
                return handle.enqueued_at + self.ttl
        return None

    def take(self) -> SendHandle | None:
        """Mark the head in flight and return it (``None`` if the queue is empty or the head is
        already in flight)."""
        if not self._items or self._items[0]._inflight:
            return None
        head = self._items[0]
        head._inflight = True
        return head

    def sent(self, handle: SendHandle) -> None:
        """The in-flight head was written: remove it and mark it sent."""
        if self._items and self._items[0] is handle:
            self._items.popleft()
        handle._inflight = False
        handle._finish(SendState.SENT)

    def failed(self, handle: SendHandle) -> None:
        """The in-flight head's write failed: it stays at the head, to be sent first next time."""
        handle._inflight = False

    def drop_all(self, reason: str) -> int:
        """Drop every waiting message (the connection was closed for good)."""
        count = len(self._items)
        while self._items:
            handle = self._items.popleft()
            handle._inflight = False
            handle._finish(SendState.DROPPED, reason)
        self.dropped += count
        return count

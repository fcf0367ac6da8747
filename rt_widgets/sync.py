"""The frame clock: turns any input rate into a bounded rate of view updates.

Widgets mark themselves dirty on every message they take in (cheap: a dict lookup and a flag) and
the clock calls their ``flush()`` at most ``fps`` times a second each, always once more after the
last change of a burst, and never more than ``budget`` flushes a second for the whole process: when
many widgets are dirty at once, every one of them slows down evenly.

Why a process-wide budget: the Jupyter server drops iopub messages above about 1000 a second, so a
notebook with twenty widgets at 20 fps each would lose updates without one.

Bytes are budgeted too (``byte_budget``, :data:`DEFAULT_BYTE_BUDGET` a second): widgets report what
they send with :meth:`FrameClock.spend_bytes`, and while the last second's bytes are past the budget
no flush runs; dirty widgets wait, and their stores coalesce what arrives meanwhile into the next
delta. A feed of huge rows thus slows the view down instead of flooding the browser.

The clock runs on one event loop (the I/O loop, see :func:`get_frame_clock`) and sleeps while
nothing is dirty.

>>> clock = get_frame_clock()                   # doctest: +SKIP
>>> clock.register(widget, fps=20)              # doctest: +SKIP
>>> clock.mark_dirty(widget)  # on the I/O loop # doctest: +SKIP
"""

from __future__ import annotations

import contextvars
import logging
import math
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["DEFAULT_BYTE_BUDGET", "FrameClock", "Syncable", "get_frame_clock"]

log = logging.getLogger("rt_widgets")

DEFAULT_BUDGET = 100.0
# Bytes a second that every widget of the process together sends its views (deltas, snapshots).
DEFAULT_BYTE_BUDGET = 512 * 1024
# Widgets that flushed within this window still count as active when the budget is shared out,
# so a widget flushing every other frame does not make the others speed up and down.
_ACTIVE_WINDOW = 1.0


_EARLY = 1e-6
_STRETCH = 1.001


class Syncable(Protocol):
    """Anything the frame clock can flush: it sends its pending changes to its view."""

    def flush(self) -> None: ...


class _Cancellable(Protocol):
    def cancel(self) -> None: ...


class _Loop(Protocol):
    """The part of an event loop the clock uses (an ``asyncio`` loop, or a fake one in tests)."""

    def time(self) -> float: ...

    def call_at(
        self, when: float, callback: Callable[..., object], *args: Any,
        context: contextvars.Context | None = None,
    ) -> _Cancellable: ...


class _Entry:
    __slots__ = ("dirty", "interval", "last_flush", "syncable")

    def __init__(self, syncable: Syncable, interval: float) -> None:
        self.syncable = syncable
        self.interval = interval
        self.last_flush = -math.inf
        self.dirty = False


def _interval(fps: float) -> float:
    if isinstance(fps, bool) or not isinstance(fps, int | float) or not fps > 0 \
            or not math.isfinite(fps):
        raise ValueError(f"fps must be a number > 0, got {fps!r}")
    # A hair over 1/fps so that fps + 1 flushes can never fit in one second, whatever the rounding.
    return _STRETCH / float(fps)


class FrameClock:
    """Flushes dirty syncables at a bounded rate. Every method must be called on the clock's loop."""

    def __init__(self, loop: _Loop, *, budget: float = DEFAULT_BUDGET,
                 byte_budget: float = DEFAULT_BYTE_BUDGET) -> None:
        if not budget > 0:
            raise ValueError(f"budget must be > 0 flushes per second, got {budget!r}")
        if not byte_budget > 0:
            raise ValueError(f"byte_budget must be > 0 bytes per second, got {byte_budget!r}")
        self._loop = loop
        self.budget = float(budget)
        self.byte_budget = float(byte_budget)
        # (time, bytes) of what was sent in the last second, and their sum.
        self._bytes: deque[tuple[float, int]] = deque()
        self._bytes_sum = 0
        self._entries: dict[Syncable, _Entry] = {}
        self._dirty: dict[_Entry, None] = {}
        self._recent: deque[float] = deque()  # times of the flushes of the last second
        self._timer: _Cancellable | None = None
        self._timer_at = math.inf
        self.flushes = 0
        self.errors = 0

    # -- registration ---------------------------------------------------------------------

    def register(self, syncable: Syncable, fps: float) -> None:
        """Flush ``syncable`` at most ``fps`` times a second once it is marked dirty."""
        interval = _interval(fps)
        entry = self._entries.get(syncable)
        if entry is None:
            self._entries[syncable] = _Entry(syncable, interval)
        else:
            entry.interval = interval

    def unregister(self, syncable: Syncable) -> None:
        """Forget ``syncable``; pending changes are not flushed."""
        entry = self._entries.pop(syncable, None)
        if entry is not None:
            self._dirty.pop(entry, None)

    def __contains__(self, syncable: object) -> bool:
        return syncable in self._entries

    # -- the hot path ---------------------------------------------------------------------

    def mark_dirty(self, syncable: Syncable) -> None:
        """Note that ``syncable`` has changes to flush. Cheap enough to call once per message."""
        entry = self._entries.get(syncable)
        if entry is None or entry.dirty:
            return
        entry.dirty = True
        self._dirty[entry] = None
        now = self._loop.time()
        due = max(now, entry.last_flush + max(entry.interval, self._share(now)))
        if due < self._timer_at:
            self._schedule(due)

    def flush_now(self, syncable: Syncable) -> None:
        """Flush immediately, outside the rate limit (a reply to an explicit request)."""
        entry = self._entries.get(syncable)
        if entry is None:
            return
        self._flush(entry, self._loop.time())

    def spend(self, messages: int = 1) -> None:
        """Count messages sent outside a flush (or beyond a flush's one) against the budget."""
        now = self._loop.time()
        self._recent.extend([now] * messages)

    def has_room(self, messages: int = 1) -> bool:
        """Whether ``messages`` more now stay within the budget (of messages, and of bytes).
        Inside a flush, count the flush's own message too: it is recorded when the flush
        returns."""
        recent = self._recent
        now = self._loop.time()
        since = now - 1.0
        while recent and recent[0] <= since:
            recent.popleft()
        return len(recent) + messages <= int(self.budget) and not self._over_bytes(now)

    def spend_bytes(self, n: int) -> None:
        """Count ``n`` bytes sent to a view against the byte budget."""
        self._bytes.append((self._loop.time(), n))
        self._bytes_sum += n

    def bytes_in_last_second(self) -> int:
        """What was sent to views in the last second, in bytes (as reported to spend_bytes)."""
        self._over_bytes(self._loop.time())
        return self._bytes_sum

    def _over_bytes(self, now: float) -> bool:
        sent = self._bytes
        since = now - 1.0
        while sent and sent[0][0] <= since:
            self._bytes_sum -= sent.popleft()[1]
        return self._bytes_sum >= self.byte_budget

    # -- scheduling -----------------------------------------------------------------------

    def _share(self, now: float) -> float:
        """The shortest interval the budget allows each busy syncable right now."""
        # Sharing the budget evenly among the syncables that are busy keeps the total under it
        # without starving any of them.
        since = now - _ACTIVE_WINDOW
        active = len(self._dirty) + sum(
            1 for e in self._entries.values() if not e.dirty and e.last_flush > since)
        return active / self.budget

    def _schedule(self, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = when
        # Flushes run in a fresh context whoever marked the syncable dirty (see iothread).
        self._timer = self._loop.call_at(when, self._tick, context=contextvars.Context())

    def _tick(self) -> None:
        self._timer = None
        self._timer_at = math.inf
        now = self._loop.time()
        recent = self._recent
        while recent and recent[0] <= now - 1.0:
            recent.popleft()
        share = self._share(now)
        # The loop may run a timer up to its clock resolution early: allow for that.
        due = [e for e in self._dirty if e.last_flush + max(e.interval, share) <= now + _EARLY]
        due.sort(key=lambda e: e.last_flush)
        limit = int(self.budget)
        for entry in due:
            # Checked per flush: a flush may also spend() for extra messages it sent.
            if len(recent) >= limit or self._over_bytes(now):
                break
            if entry.dirty:  # an earlier flush in this tick may have unregistered it
                self._flush(entry, now)
        if self._dirty:
            wake = min(e.last_flush + max(e.interval, share) for e in self._dirty)
            if len(recent) >= int(self.budget):
                wake = max(wake, recent[0] + 1.0)
            if self._over_bytes(now):
                # Until enough of the last second's bytes are a second old.
                wake = max(wake, self._bytes_free_at())
            self._schedule(max(wake, now))

    def _bytes_free_at(self) -> float:
        """When the bytes of the last second fall under the byte budget, with no more sent."""
        over = self._bytes_sum - self.byte_budget
        for t, n in self._bytes:
            over -= n
            if over < 0:
                return t + 1.0
        return self._loop.time()

    def _flush(self, entry: _Entry, now: float) -> None:
        # Cleared before flushing so that a change made during the flush schedules another one.
        entry.dirty = False
        self._dirty.pop(entry, None)
        self.flushes += 1
        try:
            entry.syncable.flush()
        except Exception:
            self.errors += 1
            log.exception("rt_widgets: flushing %r failed", entry.syncable)
        # Timed at the end: what a flush sends leaves during the flush, and later flushes of the
        # same tick leave later still, so rates measured where messages arrive stay bounded too.
        done = max(now, self._loop.time())
        entry.last_flush = done
        self._recent.append(done)


_clock: FrameClock | None = None
_clock_lock = threading.Lock()


def get_frame_clock() -> FrameClock:
    """The process-wide frame clock, on the I/O loop (started on first use)."""
    global _clock
    clock = _clock
    if clock is not None:  # the hot path: called per message, so no lock once it exists
        return clock
    with _clock_lock:
        if _clock is None:
            from .iothread import get_loop

            _clock = FrameClock(get_loop())
        return _clock

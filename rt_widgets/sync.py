"""The frame clock: turns any input rate into a bounded rate of view updates.

Widgets mark themselves dirty on every message they take in (cheap: a dict lookup and a flag) and
the clock calls their ``flush()`` at most ``fps`` times a second each, always once more after the
last change of a burst, and never more than ``budget`` flushes a second for the whole process: when
many widgets are dirty at once, every one of them slows down evenly.

Why a process-wide budget: the Jupyter server drops iopub messages above about 1000 a second, so a
notebook with twenty widgets at 20 fps each would lose updates without one.

Bytes are budgeted too (``byte_budget``, :data:`DEFAULT_BYTE_BUDGET` a second, or :data:`VIEW_BYTES`
for each busy view when there are many): widgets report what
they send with :meth:`FrameClock.spend_bytes`, and while the last second's bytes are past the budget
no flush runs; dirty widgets wait, and their stores coalesce what arrives meanwhile into the next
delta. A feed of huge rows thus slows the view down instead of flooding the browser.

Views on one page share their messages (:meth:`FrameClock.set_group`): a widget whose every view is
on one page (its presence says which) joins that page's group, and the deltas its group's widgets
flush in one tick leave as one ``bundle`` message, on the comm of one of them, which the page hands
out to each view (``js/bus.ts``). The message budget then counts one message per page per tick, not
one per widget: fifty views on one page update as often as a few would.

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
import sys
import threading
from array import array
from collections import deque
from collections.abc import Callable
from itertools import accumulate
from typing import Any, Protocol

__all__ = ["BUNDLE", "DEFAULT_BYTE_BUDGET", "PACKED", "WINDOW", "FrameClock", "Syncable",
           "decode_delta", "encode_delta", "encode_window", "get_frame_clock", "unbundle"]

log = logging.getLogger("rt_widgets")

DEFAULT_BUDGET = 100.0
# Bytes a second that every widget of the process together sends its views (deltas, snapshots).
DEFAULT_BYTE_BUDGET = 256 * 1024
# With many views on screen each gets at least this many bytes a second: the byte budget grows to
# VIEW_BYTES times the views that are busy (fifty views' deltas of a few kB each, at 2-3 a second,
# would not fit the budget that suits a few).
VIEW_BYTES = 12 * 1024
# What a comm message costs on the way to a browser besides its content: its Jupyter header,
# parent header and metadata (measured through jupyter_server's websocket: about 1.4 KB).
ENVELOPE_BYTES = 1400
# The share of the byte budget that refreshing the views' snapshot traits may take, all of them
# together (fifty views refreshing each at its own share took half the budget from their deltas);
# unused, it gathers for at most _SNAPSHOT_BURST seconds.
SNAPSHOT_SHARE = 0.1
_SNAPSHOT_BURST = 2.0
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
    __slots__ = ("dirty", "group", "held", "interval", "last_flush", "syncable")

    def __init__(self, syncable: Syncable, interval: float) -> None:
        self.syncable = syncable
        self.interval = interval
        self.last_flush = -math.inf
        self.dirty = False
        self.held = False
        self.group: str | None = None


Send = Callable[[dict[str, Any], list[bytes] | None], object]
"""How a widget sends a custom message to its views: ``send(content, buffers)``."""

BUNDLE = "bundle"
# A bundle's items: ``{"to": route, "m": content, "b": [indexes of its buffers]}``.


class _Bundle:
    """The messages that one group's flushes of one tick collected."""

    __slots__ = ("buffers", "items", "send")

    def __init__(self, send: Send) -> None:
        self.send = send  # the first widget's: its comm carries the bundle
        self.items: list[dict[str, Any]] = []
        self.buffers: list[bytes] = []

    def add(self, route: str, content: dict[str, Any], buffers: list[bytes]) -> None:
        at = len(self.buffers)
        self.buffers.extend(buffers)
        self.items.append({"to": route, "m": content, "b": list(range(at, at + len(buffers)))})


def unbundle(message: Any, buffers: list[bytes] | None = None
             ) -> list[tuple[str, Any, list[bytes]]]:
    """``(route, content, buffers)`` of each message a bundle carries (what ``js/bus.ts`` hands
    out; tests and benchmarks read bundles with it); ``[]`` for any other message."""
    if not isinstance(message, dict) or message.get("kind") != BUNDLE:
        return []
    bufs = buffers or []
    return [(item["to"], item["m"], [bufs[i] for i in item["b"]]) for item in message["items"]]


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
        # The byte budget for the views busy now (see VIEW_BYTES), as of the last _share().
        self._byte_limit = self.byte_budget
        # When the snapshot refreshes asked for so far are paid for, at SNAPSHOT_SHARE.
        self._snaps_paid_at = -math.inf
        self._entries: dict[Syncable, _Entry] = {}
        self._dirty: dict[_Entry, None] = {}
        self._recent: deque[float] = deque()  # times of the flushes of the last second
        self._timer: _Cancellable | None = None
        self._timer_at = math.inf
        # Groups (pages): when each last sent, the bundles of the flushes running now, and the
        # group of the flush running now (its messages are collected, not sent).
        self._group_sent: dict[str, float] = {}
        self._bundles: dict[str, _Bundle] = {}
        self._collecting: str | None = None
        self.flushes = 0
        self.bundles = 0
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

    def set_group(self, syncable: Syncable, group: str | None) -> None:
        """Flush ``syncable`` with the others of ``group`` (a page its every view is on), their
        messages bundled into one per tick (see :meth:`collect`); ``None``: on its own."""
        entry = self._entries.get(syncable)
        if entry is not None:
            entry.group = group

    def collect(self, route: str, content: dict[str, Any], buffers: list[bytes], send: Send,
                nbytes: int) -> bool:
        """Inside the flush of a grouped syncable: keep a message for its group's bundle (the
        view that ``route`` names takes it out) and return ``True``; anywhere else ``False``,
        and the caller sends it itself. Counts its ``nbytes`` against the byte budget."""
        group = self._collecting
        if group is None:
            return False
        bundle = self._bundles.get(group)
        if bundle is None:
            bundle = self._bundles[group] = _Bundle(send)
        bundle.add(route, content, buffers)
        self.spend_bytes(nbytes, envelope=False)
        return True

    def hold(self, syncable: Syncable) -> None:
        """Flush ``syncable`` no more until :meth:`release` (nobody looks at its view): it stays
        dirty, and its store coalesces what arrives into the delta that follows the release."""
        entry = self._entries.get(syncable)
        if entry is not None and not entry.held:
            entry.held = True
            self._dirty.pop(entry, None)

    def release(self, syncable: Syncable) -> None:
        """Flush ``syncable`` again, at once if it changed while held."""
        entry = self._entries.get(syncable)
        if entry is None or not entry.held:
            return
        entry.held = False
        if entry.dirty:
            entry.dirty = False
            self.mark_dirty(syncable)

    # -- the hot path ---------------------------------------------------------------------

    def mark_dirty(self, syncable: Syncable) -> None:
        """Note that ``syncable`` has changes to flush. Cheap enough to call once per message."""
        entry = self._entries.get(syncable)
        if entry is None or entry.dirty:
            return
        entry.dirty = True
        if entry.held:
            return
        self._dirty[entry] = None
        now = self._loop.time()
        due = max(now, self._due(entry, self._share(now)))
        if due < self._timer_at:
            self._schedule(due)

    def flush_now(self, syncable: Syncable) -> None:
        """Flush immediately, outside the rate limit (a reply to an explicit request)."""
        entry = self._entries.get(syncable)
        if entry is None:
            return
        now = self._loop.time()
        self._flush(entry, now)
        self._send_bundles(now)

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

    def snapshot_interval(self, nbytes: int, floor: float) -> float:
        """How far apart refreshes of a view's snapshot of ``nbytes`` should be: ``floor``
        seconds, or longer for a large one, so that refreshing it takes at most
        :data:`SNAPSHOT_SHARE` of the byte budget (a view that misses one asks for it anyway).
        Called once per refresh, which it counts: that share is for every view's refreshes
        together, so with many views each one waits its turn."""
        now = self._loop.time()
        cost = nbytes / (SNAPSHOT_SHARE * self.byte_limit)
        self._snaps_paid_at = max(now - _SNAPSHOT_BURST, self._snaps_paid_at) + cost
        return max(floor, cost, self._snaps_paid_at - now)

    def spend_bytes(self, n: int, *, envelope: bool = True) -> None:
        """Count one message of ``n`` bytes (its content and buffers) sent to a view against the
        byte budget, with the Jupyter message around it (:data:`ENVELOPE_BYTES`) unless
        ``envelope`` is false (a part of a bundle, whose envelope is counted once)."""
        if envelope:
            n += ENVELOPE_BYTES
        self._bytes.append((self._loop.time(), n))
        self._bytes_sum += n

    @property
    def byte_limit(self) -> float:
        """The bytes a second the views may be sent now: ``byte_budget``, or :data:`VIEW_BYTES`
        for each view that is busy when there are many."""
        return max(self.byte_budget, self._byte_limit)

    def bytes_in_last_second(self) -> int:
        """What was sent to views in the last second, in bytes (as reported to spend_bytes)."""
        self._over_bytes(self._loop.time())
        return self._bytes_sum

    def _over_bytes(self, now: float) -> bool:
        sent = self._bytes
        since = now - 1.0
        while sent and sent[0][0] <= since:
            self._bytes_sum -= sent.popleft()[1]
        return self._bytes_sum >= self.byte_limit

    # -- scheduling -----------------------------------------------------------------------

    def _share(self, now: float) -> float:
        """The shortest interval the budget allows each busy syncable right now."""
        # Sharing the budget evenly among the syncables that are busy keeps the total under it
        # without starving any of them.
        # A group counts once: its flushes of one tick are one message.
        since = now - _ACTIVE_WINDOW
        active = views = 0
        groups: set[str] = set()
        for e in self._entries.values():
            if (e.dirty and not e.held) or (not e.dirty and e.last_flush > since):
                views += 1
                if e.group is None:
                    active += 1
                else:
                    groups.add(e.group)
        self._byte_limit = VIEW_BYTES * views
        return (active + len(groups)) / self.budget

    def _due(self, entry: _Entry, share: float) -> float:
        """When ``entry`` may flush next: its own interval after its last flush, and the share
        after its last message (for a group: its group's last bundle)."""
        if entry.group is None:
            return entry.last_flush + max(entry.interval, share)
        return max(entry.last_flush + entry.interval,
                   self._group_sent.get(entry.group, -math.inf) + share)

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
        due = [e for e in self._dirty if self._due(e, share) <= now + _EARLY]
        groups = {e.group for e in due if e.group is not None}
        if groups:
            # A group's other dirty members that are past half their interval flush with it: views
            # that first flushed apart would otherwise stay apart, each tick a message of its own.
            taken = set(due)
            due.extend(e for e in self._dirty if e.group in groups and e not in taken
                       and e.last_flush + e.interval / 2 <= now + _EARLY)
        due.sort(key=lambda e: e.last_flush)
        limit = int(self.budget)
        bundles = self._bundles
        for entry in due:
            # Checked per flush: a flush may also spend() for extra messages it sent. A flush
            # into a bundle that this tick already started costs no message.
            joins = entry.group is not None and entry.group in bundles
            if len(recent) + len(bundles) >= limit + joins or self._over_bytes(now):
                break
            if entry.dirty:  # an earlier flush in this tick may have unregistered it
                self._flush(entry, now)
        self._send_bundles(now)
        if len(self._group_sent) > 2 * len(self._entries) + 16:
            self._group_sent = {g: t for g, t in self._group_sent.items() if t > now - 1.0}
        if self._dirty:
            wake = min(self._due(e, share) for e in self._dirty)
            if len(recent) >= int(self.budget):
                wake = max(wake, recent[0] + 1.0)
            if self._over_bytes(now):
                # Until enough of the last second's bytes are a second old.
                wake = max(wake, self._bytes_free_at())
            self._schedule(max(wake, now))

    def _bytes_free_at(self) -> float:
        """When the bytes of the last second fall under the byte budget, with no more sent."""
        over = self._bytes_sum - self.byte_limit
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
        self._collecting = entry.group
        try:
            entry.syncable.flush()
        except Exception:
            self.errors += 1
            log.exception("rt_widgets: flushing %r failed", entry.syncable)
        finally:
            self._collecting = None
        # Timed at the end: what a flush sends leaves during the flush, and later flushes of the
        # same tick leave later still, so rates measured where messages arrive stay bounded too.
        done = max(now, self._loop.time())
        entry.last_flush = done
        if entry.group is None:
            self._recent.append(done)  # a grouped flush's message is its group's bundle

    def _send_bundles(self, now: float) -> None:
        """Send what the grouped flushes collected: per group one message (a bundle, or the one
        message itself on its own comm)."""
        bundles, self._bundles = self._bundles, {}
        for group, bundle in bundles.items():
            items = bundle.items
            try:
                if len(items) == 1:
                    # Alone, it goes on its own comm (a bundle's sender was its own widget).
                    bundle.send(items[0]["m"], bundle.buffers or None)
                else:
                    bundle.send({"kind": BUNDLE, "items": items}, bundle.buffers or None)
                    self.bundles += 1
            except Exception:
                self.errors += 1
                log.exception("rt_widgets: sending the bundle of %d message(s) failed", len(items))
            done = max(now, self._loop.time())
            self._group_sent[group] = done
            self._recent.append(done)
            # The envelope once, and the bundle's own framing (route and indexes per item).
            self.spend_bytes(20 + 60 * len(items) if len(items) > 1 else 0)


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


# -- the delta codec -----------------------------------------------------------------------------
# A table, metrics or chart delta travels "packed" (``_contract``: TablePacked, MetricsPacked,
# ChartPacked): rows as columns under their field names once, points as columns, and every column of
# numbers that a small integer type holds exactly as binary in one buffer. ``js/sync.ts`` unpacks it
# into the delta the view applies, so the views never see the wire shape.
#
# A number column is stored as integers N with ``value = N / 10**s`` (``s``: decimals; ``i``: the
# values are ints, not divided): N is checked to give back every value exactly (Python and the
# browser divide the same IEEE way), so nothing is rounded. The integers are stored as offsets from
# ``o`` or, ``d``, as differences from the one before (times), in the smallest little-endian type.

PACKED = "packed"
_SCALES = tuple(10**s for s in range(7))
# (array typecode, wire name, smallest, largest) from the smallest.
_INT_TYPES = (("b", "i8", -(1 << 7), (1 << 7) - 1), ("B", "u8", 0, (1 << 8) - 1),
              ("h", "i16", -(1 << 15), (1 << 15) - 1), ("H", "u16", 0, (1 << 16) - 1),
              ("I", "u24", 0, (1 << 24) - 1),  # a u32 without its high byte
              ("i", "i32", -(1 << 31), (1 << 31) - 1), ("I", "u32", 0, (1 << 32) - 1))
_WIDTH = {"i8": 1, "u8": 1, "i16": 2, "u16": 2, "u24": 3, "i32": 4, "u32": 4}
_EXACT = 1 << 53  # integers a double holds exactly


class _Buffer:
    """The binary part of one packed delta: columns appended, each at an offset."""

    __slots__ = ("parts", "size")

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.size = 0

    def add(self, data: bytes) -> int:
        at = self.size
        self.parts.append(data)
        self.size += len(data)
        return at


def _int_type(lo: int, hi: int) -> tuple[str, str] | None:
    for code, name, low, high in _INT_TYPES:
        if low <= lo and hi <= high:
            return code, name
    return None


def _scaled(values: list[Any], exact_types: bool) -> tuple[list[int], int, bool] | None:
    """``(N, s, ints)`` such that every value is exactly ``N / 10**s`` (or ``N`` for ints);
    ``exact_types``: ints and floats mixed stay JSON (a float is never read back as an int)."""
    kinds = set(map(type, values))
    if kinds == {int}:
        return values, 0, True
    if not kinds <= {int, float} or (exact_types and len(kinds) > 1):
        return None
    floats = list(map(float, values)) if int in kinds else values
    # A guess from a few values' decimals, then every value checked at it (and at one more).
    guess = 0
    for v in floats[:8]:
        r = repr(v)
        if "e" in r or "n" in r:  # 1e-07, inf, nan
            return None
        guess = max(guess, len(r) - r.index(".") - 1 if r[-2:] != ".0" else 0)
    for s in range(guess, min(guess + 2, len(_SCALES))):
        p = _SCALES[s]
        try:
            ns = list(map(round, map(float.__mul__, floats, [float(p)] * len(floats))))
        except (ValueError, OverflowError):  # a NaN or an infinity past the first few values
            return None
        if [n / p for n in ns] == floats:
            # -0.0 equals 0.0 but would come back as 0.0.
            if 0.0 in floats and any(v == 0.0 and math.copysign(1.0, v) < 0 for v in floats):
                return None
            return ns, s, False
    return None


def _column(values: list[Any], buf: _Buffer, *, deltas: bool = False,
            exact_types: bool = False) -> dict[str, Any]:
    """One column: binary when its numbers fit an integer type exactly, else JSON (``j``)."""
    scaled = _scaled(values, exact_types) if values else None
    if scaled is not None:
        ns, s, ints = scaled
        lo, hi = min(ns), max(ns)
        if lo > -_EXACT and hi < _EXACT:
            best: tuple[int, str, str, list[int], int, bool] | None = None
            kind = _int_type(0, hi - lo)
            if kind is not None:
                best = (_WIDTH[kind[1]], *kind, [n - lo for n in ns], lo, False)
            if deltas or best is None or best[0] > 1:
                diffs = [0, *map(int.__sub__, ns[1:], ns[:-1])]
                dkind = _int_type(min(diffs), max(diffs))
                if dkind is not None and (best is None or _WIDTH[dkind[1]] < best[0]):
                    best = (_WIDTH[dkind[1]], *dkind, diffs, ns[0], True)
            if best is not None:
                _, code, name, xs, offset, diff = best
                data = array(code, xs)
                if sys.byteorder != "little":
                    data.byteswap()
                raw = data.tobytes()
                if name == "u24":
                    packed = bytearray(raw)
                    del packed[3::4]
                    raw = bytes(packed)
                col: dict[str, Any] = {"y": name, "at": buf.add(raw), "n": len(xs), "o": offset}
                if s:
                    col["s"] = s
                if ints:
                    col["i"] = True
                if diff:
                    col["d"] = True
                return col
    elif values and set(map(type, values)) == {str}:
        # Text that repeats (a status, a region): each distinct value once, then indexes.
        distinct = list(dict.fromkeys(values))
        if 2 * len(distinct) <= len(values):
            index = {v: i for i, v in enumerate(distinct)}
            col = _column([index[v] for v in values], buf)
            col["k"] = distinct
            return col
        numbered = _numbered(values)
        if numbered is not None:
            prefix, width, ns = numbered
            col = _column(ns, buf)
            col["p"] = prefix
            if width > 1:
                col["w"] = width
            return col
    return {"j": values}


def _numbered(values: list[str]) -> tuple[str, int, list[int]] | None:
    """Ids like ``m-0042``: one prefix, then digits (zero-padded to ``width``) read as numbers."""
    first = values[0]
    cut = len(first.rstrip("0123456789"))
    prefix, width = first[:cut], len(first) - cut
    if not 0 < width <= 15:
        return None
    try:
        ns = [int(v[cut:]) if v.startswith(prefix) else -1 for v in values]
    except ValueError:
        return None
    # Only when every value reads back as it was (same padding, plain ASCII digits).
    if [f"{prefix}{n:0{width}d}" if n >= 0 else None for n in ns] != values:
        return None
    return prefix, width, ns


def encode_delta(view: str, delta: dict[str, Any]) -> tuple[dict[str, Any], list[bytes]]:
    """The message that carries ``delta`` (a store's drain, with ``kind``) to a ``view`` ("table",
    "metrics", "chart"; any other goes as it is), and its buffers."""
    buf = _Buffer()
    packed: dict[str, Any] | None = None
    if view == "table" and "upsert" in delta:
        packed = {k: v for k, v in delta.items() if k != "upsert"}
        _pack_rows(delta["upsert"], buf, packed)
    elif view == "metrics" and "append" in delta:
        packed = {k: v for k, v in delta.items() if k not in ("append", "latest")}
        latest = dict(delta.get("latest") or {})
        points = []
        prev_t: list[float] | None = None
        for name, pts in delta["append"].items():
            ts = [p[0] for p in pts]
            vs = [p[1] for p in pts]
            entry: dict[str, Any] = {"n": name, "v": _column(vs, buf)}
            if ts != prev_t:
                entry["t"] = _column(ts, buf, deltas=True)
                prev_t = ts
            points.append(entry)
            # A latest value that is the series' last new point goes once, as that point.
            if vs and name in latest and latest[name] == vs[-1] and type(latest[name]) is type(vs[-1]):
                del latest[name]
        packed["points"] = points
        if latest:
            packed["latest"] = latest
    elif view == "chart" and "append" in delta:
        packed = {k: v for k, v in delta.items() if k != "append"}
        points = []
        for col in delta["append"]:
            entry = {"s": col["s"], "v": _column(col["v"], buf)}
            if "t" in col:
                entry["t"] = _column(col["t"], buf, deltas=True)
            points.append(entry)
        packed["points"] = points
    if packed is None:
        return delta, []
    packed["kind"] = PACKED
    return packed, [b"".join(buf.parts)] if buf.size else []


WINDOW = "window"


def encode_window(message: dict[str, Any]) -> tuple[dict[str, Any], list[bytes]]:
    """A table view's ``window`` message for the wire, and its buffers: its ``upsert`` rows packed
    as a delta's are (``rows``; ``groups``: each row's group, when there are several)."""
    if not message.get("upsert"):
        return message, []
    buf = _Buffer()
    packed = {k: v for k, v in message.items() if k != "upsert"}
    rows: dict[str, Any] = {}
    _pack_rows(message["upsert"], buf, rows)
    packed["rows"] = rows["rows"]
    if "order" in rows:
        packed["groups"] = rows["order"]
    return packed, [b"".join(buf.parts)] if buf.size else []


def _pack_rows(rows: list[dict[str, Any]], buf: _Buffer, packed: dict[str, Any]) -> None:
    """Rows grouped by their fields (in order): per group the names once and a column each;
    with several groups, ``order``: each row's group, in the rows' order."""
    index: dict[tuple[str, ...], int] = {}
    groups: list[list[dict[str, Any]]] = []
    order: list[int] = []
    for row in rows:
        g = index.setdefault(tuple(row), len(groups))
        if g == len(groups):
            groups.append([])
        groups[g].append(row)
        order.append(g)
    packed["rows"] = [
        {"f": list(names), "c": [_column([r[name] for r in members], buf, exact_types=True)
                                 for name in names]}
        for names, members in zip(index, groups, strict=True)]
    if len(groups) > 1:
        packed["order"] = _column(order, buf)


# -- unpacking (what js/sync.ts does; tests and benchmarks read packed messages with it) ---------


def _unpack_column(col: dict[str, Any], data: bytes) -> list[Any]:
    if "j" in col:
        return list(col["j"])
    if "k" in col:
        distinct = col["k"]
        indexes = _unpack_column({k: v for k, v in col.items() if k != "k"}, data)
        return [distinct[i] for i in indexes]
    if "p" in col:
        prefix, width = col["p"], col.get("w", 1)
        numbers = _unpack_column({k: v for k, v in col.items() if k not in ("p", "w")}, data)
        return [f"{prefix}{n:0{width}d}" for n in numbers]
    code = next(c for c, name, _, _ in _INT_TYPES if name == col["y"])
    xs = array(code)
    at, n = col["at"], col["n"]
    if col["y"] == "u24":
        wide = bytearray(4 * n)
        for i in range(3):
            wide[i::4] = data[at + i:at + 3 * n:3]
        xs.frombytes(bytes(wide))
    else:
        xs.frombytes(data[at:at + n * xs.itemsize])
    if sys.byteorder != "little":
        xs.byteswap()
    # Differences start with 0: the first integer is ``o``.
    ns = list(accumulate(xs, initial=col["o"]))[1:] if col.get("d") else [col["o"] + x for x in xs]
    if col.get("i"):
        return ns
    p = _SCALES[col.get("s", 0)]
    return [n / p for n in ns]


def decode_delta(message: Any, buffers: list[bytes] | None = None) -> Any:
    """The delta a packed message carries (what the view applies), a packed window's rows as its
    ``upsert``; any other message as it is."""
    if isinstance(message, dict) and message.get("kind") == WINDOW and "rows" in message:
        window = {k: v for k, v in message.items() if k not in ("rows", "groups")}
        rows = decode_delta({"kind": PACKED, "seq": 0, "rows": message["rows"],
                             **({"order": message["groups"]} if "groups" in message else {})},
                            buffers)
        window["upsert"] = rows["upsert"]
        return window
    if not isinstance(message, dict) or message.get("kind") != PACKED:
        return message
    data = buffers[0] if buffers else b""
    delta = {k: v for k, v in message.items() if k not in ("rows", "order", "points")}
    delta["kind"] = "delta"
    if "rows" in message:
        groups = []
        for group in message["rows"]:
            cols = [_unpack_column(c, data) for c in group["c"]]
            groups.append(iter([dict(zip(group["f"], values, strict=True))
                                for values in zip(*cols, strict=True)]))
        if "order" in message:
            delta["upsert"] = [next(groups[g]) for g in _unpack_column(message["order"], data)]
        else:
            delta["upsert"] = [row for group in groups for row in group]
    if "points" in message:
        by_name = any("n" in p for p in message["points"])
        if by_name:  # metrics: {name: [[t, v], ...]} and the latest values
            append: dict[str, list[list[float]]] = {}
            latest = dict(message.get("latest") or {})
            ts: list[Any] = []
            for p in message["points"]:
                if "t" in p:
                    ts = _unpack_column(p["t"], data)
                vs = _unpack_column(p["v"], data)
                append[p["n"]] = [[t, v] for t, v in zip(ts, vs, strict=True)]
                if vs and p["n"] not in latest:
                    latest[p["n"]] = vs[-1]
            delta["latest"] = {name: latest[name] for name in append if name in latest}
            delta["append"] = append
        else:  # chart: columns
            columns = []
            for p in message["points"]:
                col: dict[str, Any] = {"s": p["s"], "v": _unpack_column(p["v"], data)}
                if "t" in p:
                    col["t"] = _unpack_column(p["t"], data)
                columns.append(col)
            delta["append"] = columns
    return delta

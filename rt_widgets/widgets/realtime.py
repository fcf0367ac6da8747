"""RealtimeWidget: one connection, its status, and a zero-configuration explorer of its messages."""

from __future__ import annotations

import atexit
import contextlib
import inspect
import math
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import traitlets
from ipywidgets import widget_serialization

from .. import iothread
from ..connection import Connection
from ..dispatch import Batched
from ..outbox import SendHandle
from ..secrets import Scrubber
from ..sync import get_frame_clock
from ._base import (
    BaseWidget,
    DataView,
    Flusher,
    check_fps,
    check_type,
    log,
    read_on_io,
    register_flusher,
    reject_unknown,
)
from .metrics import LiveMetrics
from .notifications import Notifications
from .status import ConnectionStatus
from .store import LiveStore, Transform
from .table import LiveTable

if TYPE_CHECKING:
    import asyncio

    from ..stores import Alert

__all__ = ["RealtimeWidget"]

# The explorer makes a view per message type it can show; past this many it only counts them.
MAX_AUTO_VIEWS = 24
# The overview counts at most this many types; the rest are counted together under OTHER_TYPES.
MAX_TYPES = 200
OTHER_TYPES = "(other types)"
# Connection troubles (overflow, malformed frames) are reported at most this often.
EVENT_INTERVAL = 5.0
EVENT_BACKLOG = 50
RETRY_POLL = 0.25


def _connection_options() -> frozenset[str]:
    params = inspect.signature(Connection.__init__).parameters
    return frozenset(
        name for name, p in params.items()
        if name not in ("self", "url") and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD))


def infer_kind(type: str, payload: Any) -> str | None:
    """The natural view of a message type, from one of its payloads (``None``: undecided yet)."""
    if type == "notification":
        return "notifications"
    if payload is None:
        return None
    if isinstance(payload, dict):
        if "id" in payload:
            return "table"
        if payload and all(isinstance(v, int | float) and not isinstance(v, bool)
                           for v in payload.values()):
            return "metrics"
        return "raw"
    if isinstance(payload, list) and payload and all(
            isinstance(item, dict) and "id" in item for item in payload):
        return "table"
    return "raw"


def _signature(stats: dict[str, Any]) -> tuple[Any, ...]:
    """The stats minus the uptime, which changes all the time and is not worth a message."""
    return tuple(v for k, v in sorted(stats.items()) if k != "uptime_s")


class _TypeStats:
    """Counts and rates of one message type. ``hit`` runs per message: a few integer operations."""

    __slots__ = ("count", "kind", "last", "second", "second_n", "seconds", "tenth", "tenth_n",
                 "tenths")

    def __init__(self, now: float) -> None:
        self.count = 0
        self.kind: str | None = None
        self.last = now
        self.tenth = int(now * 10)
        self.tenth_n = 0
        self.tenths: deque[tuple[int, int]] = deque(maxlen=10)
        self.second = int(now)
        self.second_n = 0
        self.seconds: deque[int] = deque(maxlen=60)

    def hit(self, now: float, n: int = 1) -> None:
        tenth = int(now * 10)
        if tenth != self.tenth:
            self.advance(now)
        self.tenth_n += n
        self.second_n += n
        self.count += n
        self.last = now

    def advance(self, now: float) -> None:
        tenth = int(now * 10)
        if tenth != self.tenth:
            if self.tenth_n:
                self.tenths.append((self.tenth, self.tenth_n))
            self.tenth, self.tenth_n = tenth, 0
        second = int(now)
        if second != self.second:
            self.seconds.append(self.second_n)
            self.seconds.extend([0] * min(second - self.second - 1, 60))
            self.second, self.second_n = second, 0

    def rate(self, now: float) -> int:
        """Messages in the last second."""
        self.advance(now)
        since = int(now * 10) - 10
        return self.tenth_n + sum(n for t, n in self.tenths if t > since)

    def active(self, now: float) -> bool:
        return now - self.last < 61.0


class RealtimeWidget(BaseWidget):
    """A live WebSocket connection held by the kernel, shown as a status bar and an explorer.

    All ``Connection`` options are accepted as keyword arguments. Displayed on its own, the widget
    shows the connection status, every message type with its count and rate, and the natural live
    view of each type. The status traits below are owned by the kernel and refreshed at most
    ``fps`` times a second.

    >>> w = RealtimeWidget("ws://localhost:8765/ws", heartbeat_interval=5)   # doctest: +SKIP
    >>> w.table("mission_update")                        # a live table   # doctest: +SKIP
    >>> w.close()                                                          # doctest: +SKIP
    """

    _view = traitlets.Unicode("realtime").tag(sync=True)
    status = traitlets.Unicode("disconnected").tag(sync=True, echo_update=False)
    attempt = traitlets.Int(0).tag(sync=True, echo_update=False)
    next_retry_in = traitlets.Float(None, allow_none=True).tag(sync=True, echo_update=False)
    error = traitlets.Unicode(None, allow_none=True).tag(sync=True, echo_update=False)
    latency_ms = traitlets.Float(None, allow_none=True).tag(sync=True, echo_update=False)
    queued = traitlets.Int(0).tag(sync=True, echo_update=False)
    stats = traitlets.Dict().tag(sync=True, echo_update=False)
    url = traitlets.Unicode("").tag(sync=True, echo_update=False)
    overview = traitlets.Dict().tag(sync=True, echo_update=False)
    children = traitlets.Dict().tag(sync=True, echo_update=False, **widget_serialization)

    def __init__(self, url: str, *, fps: float = 20, name: str | None = None,
                 explore: bool = True, **connection_options: Any) -> None:
        reject_unknown("RealtimeWidget", connection_options,
                       _connection_options() | {"fps", "name", "explore"})
        self._fps = check_fps(fps)
        if name is not None and (not isinstance(name, str) or not name):
            raise ValueError(f"name must be a non-empty string or None, got {name!r}")
        if not isinstance(explore, bool):
            raise ValueError(f"explore must be True or False, got {explore!r}")
        conn = Connection(url, **connection_options)
        self._conn = conn
        self._scrub = Scrubber(conn.secrets)
        self.name = name
        self._explore = explore
        self._lock = threading.RLock()
        self._tables: dict[str, LiveTable] = {}
        self._metrics: dict[str, LiveMetrics] = {}
        self._notifications: dict[tuple[str, ...], Notifications] = {}
        self._stores: list[LiveStore] = []
        self._indicators: list[ConnectionStatus] = []
        self._children: dict[str, DataView] = {}
        self._types: dict[str, _TypeStats] = {}
        self._auto_views = 0
        self._backlog: deque[tuple[str, str, str, str]] = deque(maxlen=EVENT_BACKLOG)
        self._reported = {"dropped": 0, "decode_errors": 0}
        self._reported_at = {"dropped": -math.inf, "decode_errors": -math.inf}
        self._connected_once = False
        self._expect_disconnect = False
        self._is_closed = False
        self._tick: asyncio.TimerHandle | None = None
        self._retry_key: tuple[str, int, bool] | None = None
        self._stats_sig: tuple[Any, ...] = ()
        self._flusher = Flusher(self._flush)
        super().__init__(url=conn.display_url, status=str(conn.state.value))
        self.on_msg(self._on_front_end)
        self._unsubscribe = [conn.on_any(Batched(self._on_message, self._on_messages)),
                             conn.on_state(self._on_state)]
        _register(self)
        register_flusher(self._flusher, self._fps)
        conn.start()

    # -- the connection -------------------------------------------------------------------------

    @property
    def connection(self) -> Connection:
        """The underlying :class:`Connection`."""
        return self._conn

    @property
    def fps(self) -> float:
        return self._fps

    def on(self, type: str, handler: Callable[[Any], Any]) -> Callable[[], None]:
        """``Connection.on``: call ``handler`` for each message of ``type`` (``"*"``: all)."""
        return self._conn.on(type, handler)

    def send(self, type: str | Mapping[str, Any], payload: Any = None) -> SendHandle:
        """``Connection.send``: queue a message (sent in order once connected).

        >>> w.send("subscribe", {"channel": "metrics"}).wait(5)   # doctest: +SKIP
        <SendState.SENT: 'sent'>
        """
        handle = self._conn.send(type, payload)
        self._mark_dirty()  # queued and dropped counts may have changed with no message in
        return handle

    def subscribe(self, type: str | Mapping[str, Any], payload: Any = None
                  ) -> Callable[[], None]:
        """``Connection.subscribe``: a message replayed on every (re)connect."""
        return self._conn.subscribe(type, payload)

    def connect(self) -> None:
        self._expect_disconnect = False
        self._conn.connect()

    def disconnect(self) -> None:
        self._expect_disconnect = True
        self._conn.disconnect()

    def reconnect(self) -> None:
        self._expect_disconnect = False
        self._conn.reconnect()

    # -- views ------------------------------------------------------------------------------

    def table(self, type: str = "mission_update", key: str = "id", max_rows: int = 10_000,
              delete_type: str | None = None, columns: Iterable[str] | None = None) -> LiveTable:
        """The live table of ``type`` messages keyed by ``key`` (the same one on every call).

        It holds what arrives after it is made; the explorer makes one as soon as the first
        message of a keyed type arrives, and that one starts with that message.

        >>> w.table("mission_update", delete_type="mission_removed", max_rows=1000)  # doctest: +SKIP
        """
        return self._table(type, key, max_rows, delete_type, columns)[0]

    def _table(self, type: str, key: str = "id", max_rows: int = 10_000,
               delete_type: str | None = None,
               columns: Iterable[str] | None = None) -> tuple[LiveTable, bool]:
        check_type("type", type)
        with self._lock:
            existing = self._tables.get(type)
            if existing is not None and not existing.closed:
                if existing.key != key:
                    raise ValueError(
                        f"the table of {type!r} is already keyed by {existing.key!r}; close it "
                        f"(w.table({type!r}).close()) before asking for key={key!r}")
                return existing, False
            self._check_open()
            view = LiveTable(self._conn, type, key=key, max_rows=max_rows,
                             delete_type=delete_type, columns=columns, fps=self._fps)
            self._tables[type] = view
            self._add_child(type, view)
            return view, True

    def metrics(self, type: str = "metrics_update", history: int = 300) -> LiveMetrics:
        """KPI cards with sparklines for the numeric fields of ``type`` messages."""
        return self._metrics_view(type, history)[0]

    def _metrics_view(self, type: str, history: int = 300) -> tuple[LiveMetrics, bool]:
        check_type("type", type)
        with self._lock:
            existing = self._metrics.get(type)
            if existing is not None and not existing.closed:
                return existing, False
            self._check_open()
            view = LiveMetrics(self._conn, type, history=history, on_alert=self._on_alert,
                               fps=self._fps)
            self._metrics[type] = view
            self._add_child(type, view)
            return view, True

    def notifications(self, types: Iterable[str] = ("notification",)) -> Notifications:
        """Toasts for ``types`` messages and for connection events."""
        return self._notifications_view(types)[0]

    def _notifications_view(self, types: Iterable[str] = ("notification",)
                            ) -> tuple[Notifications, bool]:
        key = (types,) if isinstance(types, str) else tuple(types)
        with self._lock:
            existing = self._notifications.get(key)
            if existing is not None and not existing.closed:
                return existing, False
            self._check_open()
            view = Notifications(self._conn, key, fps=self._fps)
            self._notifications[key] = view
            self._add_child(key[0] if key else "notification", view)
            backlog = list(self._backlog)

        def replay() -> None:
            for event in backlog:
                view._add_on_io(*event)

        iothread.call_soon(replay)
        return view, True

    def status_indicator(self, details: bool = True, position: str = "inline"
                         ) -> ConnectionStatus:
        """A status indicator for this connection, to place anywhere."""
        self._check_open()
        indicator = ConnectionStatus(self, details=details, position=position)
        with self._lock:
            self._indicators.append(indicator)
        return indicator

    def store(self, type: str, transform: Transform | None = None, initial: Any = None
              ) -> LiveStore:
        """A ``LiveStore`` whose ``value`` folds ``type`` messages: ``transform(payload, value)``."""
        self._check_open()
        live = LiveStore(self._conn, type, transform, initial, fps=self._fps)
        with self._lock:
            self._stores.append(live)
        return live

    def _add_child(self, type: str, view: DataView) -> None:
        if type not in self._children or self._children[type].closed:
            self._children[type] = view
            self._mark_dirty()

    def _check_open(self) -> None:
        if self._is_closed:
            raise RuntimeError("this RealtimeWidget is closed; create a new one")

    # -- I/O thread: messages, state, flushes ------------------------------------------------

    def _mark_dirty(self) -> None:
        if iothread.in_io_thread():
            get_frame_clock().mark_dirty(self._flusher)
        else:
            iothread.call_soon(get_frame_clock().mark_dirty, self._flusher)

    def _on_message(self, type: str, payload: Any) -> None:
        now = time.monotonic()
        stats = self._types.get(type)
        if stats is not None and stats.kind is not None:
            stats.hit(now)
        else:
            self._count_first(type, payload, now, stats)
        self._flusher.mark()

    def _on_messages(self, type: str, payloads: list[Any]) -> None:
        """``_on_message`` for several messages of one type (a batch frame)."""
        now = time.monotonic()
        for i, payload in enumerate(payloads):
            stats = self._types.get(type)
            if stats is not None and stats.kind is not None:
                stats.hit(now, len(payloads) - i)
                break
            # The first messages of a type: one at a time, to infer its kind from them.
            self._count_first(type, payload, now, stats, payloads[i:])
        self._flusher.mark()

    def _count_first(self, type: str, payload: Any, now: float, stats: _TypeStats | None,
                     pending: list[Any] | None = None) -> None:
        """Count a message of a type whose kind is not known yet. ``pending``: this message and
        the ones of its batch after it (default: this one), which a view made now must be given."""
        if stats is None:
            if len(self._types) >= MAX_TYPES:
                # A server that puts ids in the type must not grow the overview without bound.
                type = OTHER_TYPES
                stats = self._types.get(type)
            if stats is None:
                stats = self._types[type] = _TypeStats(now)
        stats.hit(now)
        if stats.kind is None:
            stats.kind = "raw" if type == OTHER_TYPES else infer_kind(type, payload)
            if stats.kind is not None and self._explore:
                self._explore_type(type, stats.kind, [payload] if pending is None else pending)

    def _explore_type(self, type: str, kind: str, pending: list[Any]) -> None:
        if kind == "raw" or self._is_closed or self._auto_views >= MAX_AUTO_VIEWS:
            return
        self._auto_views += 1
        try:
            # These messages were dispatched before the new view subscribed: hand them over.
            if kind == "table":
                table, created = self._table(type)
                if created:
                    table._on_rows(pending)
            elif kind == "metrics":
                metrics, created = self._metrics_view(type)
                if created:
                    metrics._on_payloads(pending)
            elif kind == "notifications":
                notes, created = self._notifications_view((type,))
                if created:
                    for payload in pending:
                        notes._on_payload(payload)
        except Exception:
            log.exception("rt_widgets: could not create the %s view of %r messages", kind, type)

    def _on_state(self, old: Any, new: Any) -> None:
        new_state = str(getattr(new, "value", new))
        old_state = str(getattr(old, "value", old))
        if new_state == "connected":
            if self._connected_once and old_state == "reconnecting":
                failed = self._conn.attempt
                after = f" after {failed} failed attempt{'s' if failed != 1 else ''}" \
                    if failed else ""
                self._event("success", "Reconnected", f"Connection restored{after}.")
            self._connected_once = True
        elif new_state == "disconnected" and not self._expect_disconnect:
            error = self._conn.last_error
            if error:
                self._event("error", "Connection lost",
                            f"{self._scrub(error)}. Gave up reconnecting: press Reconnect or call "
                            "connect() to try again.")
        self._mark_dirty()

    def _on_alert(self, alert: Alert) -> None:
        self._event("warning", "Threshold crossed", alert.message, source="threshold")

    def _event(self, level: str, title: str, message: str, source: str = "connection") -> None:
        """A toast on every Notifications view of this widget (on the I/O thread)."""
        event = (level, title, message, source)
        self._backlog.append(event)
        with self._lock:
            views = [v for v in self._notifications.values() if not v.closed]
        if not views and self._explore and not self._is_closed:
            self._notifications_view()  # it replays the backlog, this event included
            return
        for view in views:
            view._add_on_io(*event)

    def _check_counters(self, stats: dict[str, Any], now: float) -> None:
        for name, title, text in (
            ("dropped", "Send queue full",
             "{n} queued message(s) dropped while offline; raise queue_limit to keep more."),
            ("decode_errors", "Malformed messages",
             "{n} frame(s) could not be decoded; see stats['last_error']."),
        ):
            value = stats.get(name)
            if not isinstance(value, int) or value <= self._reported[name]:
                continue
            if now - self._reported_at[name] < EVENT_INTERVAL:
                continue
            n = value - self._reported[name]
            self._reported[name] = value
            self._reported_at[name] = now
            self._event("warning", title, text.format(n=n))

    _throttled_trait = "status"

    def _sync_now(self) -> None:
        self._flush()

    def _flush(self) -> None:
        if self._is_closed:
            return
        conn = self._conn
        now = time.monotonic()
        stats = conn.stats()
        if stats.get("last_error"):
            stats["last_error"] = self._scrub(str(stats["last_error"]))
        status = str(getattr(conn.state, "value", conn.state))
        attempt = int(conn.attempt)
        error = conn.last_error
        retry = conn.next_retry_in
        # The view counts next_retry_in down itself: resend it only when a new wait starts.
        retry_key = (status, attempt, retry is None)
        overview = self._overview(now)
        with self._lock:
            children = dict(self._children)
        with self.hold_sync():
            self.status = status
            self.attempt = attempt
            if retry_key != self._retry_key:
                self._retry_key = retry_key
                self.next_retry_in = None if retry is None else round(float(retry), 3)
            self.error = None if error is None else self._scrub(str(error))
            self.latency_ms = conn.latency_ms
            self.queued = int(stats.get("queued", 0))
            self.stats = stats
            self.overview = overview
            self.children = children
        self._check_counters(stats, now)
        self._stats_sig = _signature(stats)
        self._schedule_tick(status)

    def _schedule_tick(self, status: str) -> None:
        # Some changes come with no message and no state change to announce them: attempts and
        # retry waits, counters such as decode_errors, rates falling back to zero. A tick looks
        # for them, often while retrying and once a second otherwise.
        if self._tick is None and not self._is_closed:
            delay = RETRY_POLL if status in ("connecting", "reconnecting") else 1.0
            self._tick = iothread.get_loop().call_later(delay, self._on_tick)

    def _on_tick(self) -> None:
        self._tick = None
        if self._is_closed:
            return
        now = time.monotonic()
        status = str(getattr(self._conn.state, "value", self._conn.state))
        if (status in ("connecting", "reconnecting")
                or any(s.active(now) for s in self._types.values())
                or _signature(self._conn.stats()) != self._stats_sig):
            get_frame_clock().mark_dirty(self._flusher)  # the flush schedules the next tick
        else:
            self._schedule_tick(status)

    def _overview(self, now: float) -> dict[str, Any]:
        wall = time.time()
        overview: dict[str, Any] = {}
        for type, stats in self._types.items():
            overview[type] = {
                "count": stats.count,
                "rate": stats.rate(now),
                "last_seen": datetime.fromtimestamp(wall - (now - stats.last), UTC)
                .isoformat(timespec="milliseconds"),
                "rates": list(stats.seconds),
                "kind": stats.kind or "raw",
            }
        return overview

    # -- the front end --------------------------------------------------------------------------

    def _on_front_end(self, _widget: Any, content: Any, _buffers: Any) -> None:
        # May arrive on the shell thread or a subshell thread: the I/O thread does the work.
        if isinstance(content, dict):
            iothread.call_soon(self._handle_front_end, dict(content))

    def _handle_front_end(self, content: dict[str, Any]) -> None:
        if self._is_closed:
            return
        kind = content.get("kind")
        try:
            if kind == "reconnect":
                self.reconnect()
            elif kind == "disconnect":
                self.disconnect()
            elif kind == "connect":
                self.connect()
            elif kind == "send":
                type = content.get("type")
                if isinstance(type, str) and type:
                    self._conn.send(type, content.get("payload"))
            elif kind == "browser" and content.get("event") == "online":
                self._conn.retry_now()
        except Exception:
            log.exception("rt_widgets: the view's %r request failed", kind)

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._is_closed

    def close(self) -> None:
        """Close the connection and every view made from this widget."""
        # Also reached from __del__ of an object whose __init__ rejected its arguments.
        if self.__dict__.get("_is_closed", True):
            return
        self._is_closed = True
        _unregister(self)
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        try:
            self._conn.close()
        except Exception:
            log.exception("rt_widgets: closing the connection failed")
        with self._lock:
            views: list[Any] = [*self._tables.values(), *self._metrics.values(),
                                *self._notifications.values(), *self._stores, *self._indicators]
        for view in views:
            try:
                view.close()
            except Exception:
                log.exception("rt_widgets: closing %r failed", view)
        with contextlib.suppress(Exception):  # the I/O thread is gone (interpreter exit)
            read_on_io(self._final_flush)
        super().close()

    def _final_flush(self) -> None:
        get_frame_clock().unregister(self._flusher)
        if self._tick is not None:
            self._tick.cancel()
            self._tick = None
        if self.comm is not None:
            with self.hold_sync():
                self.status = "closed"
                self.next_retry_in = None
                self.children = {}

    def __repr__(self) -> str:
        name = f", name={self.name!r}" if self.name else ""
        return f"RealtimeWidget({self.url!r}, status={self.status!r}{name})"


_live: weakref.WeakSet[RealtimeWidget] = weakref.WeakSet()
_named: dict[str, RealtimeWidget] = {}
_registry_lock = threading.Lock()


def _register(widget: RealtimeWidget) -> None:
    with _registry_lock:
        previous = _named.get(widget.name) if widget.name else None
        _live.add(widget)
        if widget.name:
            _named[widget.name] = widget
    if previous is not None and previous is not widget:
        # Re-running a cell that makes a named widget replaces the old one instead of leaking it.
        previous.close()


def _unregister(widget: RealtimeWidget) -> None:
    with _registry_lock:
        _live.discard(widget)
        if widget.name and _named.get(widget.name) is widget:
            del _named[widget.name]


def live_widgets() -> list[RealtimeWidget]:
    with _registry_lock:
        return list(_live)


@atexit.register
def _close_all() -> None:
    for widget in live_widgets():
        with contextlib.suppress(Exception):
            widget.close()

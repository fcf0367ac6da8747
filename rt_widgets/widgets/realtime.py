"""RealtimeWidget: one connection, its status, and a zero-configuration explorer of its messages.

The widget is a composition: a :class:`~rt_widgets.connection.Connection` (used through its public
API only), the pure :class:`~rt_widgets.explorer.Explorer` (type statistics, kinds, which views to
make) and :class:`~rt_widgets.explorer.ConnectionNotices` (which events become notifications), a
:class:`StatusFeed` (the status traits, and a watch for the changes no callback announces), and one
registry of child views (:class:`ChildViews`), each driven through its public methods.
"""

from __future__ import annotations

import atexit
import contextlib
import inspect
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from .. import iothread
from ..connection import Connection
from ..dispatch import Batched
from ..explorer import ConnectionNotices, Explorer, Notice, ViewPlan, shown_type
from ..outbox import SendHandle
from ..protocols.base import NO_PAYLOAD
from ..secrets import Scrubber
from ..sync import get_frame_clock
from ._audience import AudienceMixin, host_session
from ._base import (
    BaseWidget,
    Flusher,
    check_fps,
    check_type,
    log,
    now_iso,
    read_on_io,
    register_flusher,
    reject_unknown,
)
from ._children import ChildViews
from ._contract import ConnectionCommand, RealtimeTraits, parse_command
from ._status_feed import StatusFeed, state_name
from .chart import LiveChart
from .log import LiveLog
from .metrics import LiveMetrics
from .notifications import Notifications
from .status import ConnectionStatus
from .store import LiveStore, Transform
from .table import LiveTable

if TYPE_CHECKING:
    from ..recording import Recording
    from ..stores import Alert

__all__ = ["RealtimeWidget"]


def _connection_options() -> frozenset[str]:
    params = inspect.signature(Connection.__init__).parameters
    return frozenset(
        name for name, p in params.items()
        if name not in ("self", "url") and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD))


_V = TypeVar("_V", bound=AudienceMixin)


def _claimed(view: _V) -> _V:
    """A view asked for by name: no longer one the explorer keeps quiet until it is shown."""
    view._claim()
    return view


#: The most times a second a RealtimeWidget's own traits (status, stats, overview) are refreshed.
STATUS_FPS = 4.0


class RealtimeWidget(RealtimeTraits, BaseWidget):
    """A live WebSocket connection held by the kernel, shown as a status bar and an explorer.

    All ``Connection`` options are accepted as keyword arguments. Displayed on its own, the widget
    shows the connection status, every message type with its count and rate, and the natural live
    view of each type. The status traits (see ``_contract.ConnectionTraits``) are owned by the
    kernel and refreshed at most :data:`STATUS_FPS` (4) times a second, or ``fps`` when lower; the
    views it makes follow ``fps``.

    >>> w = RealtimeWidget("ws://localhost:8765/ws", heartbeat_interval=5)   # doctest: +SKIP
    >>> w.table("mission_update")                        # a live table   # doctest: +SKIP
    >>> w.close()                                                          # doctest: +SKIP
    """

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
        self._replaying: str | None = None  # the recording's file name, when replay() made it
        self._explore = explore
        self._is_closed = False
        # Closed with the widget (a replay feed it serves itself).
        self._owned: list[Callable[[], None]] = []
        self._views = ChildViews(self._mark_dirty,
                                 "this RealtimeWidget is closed; create a new one",
                                 on_new=self._adopt)
        self._explorer = Explorer(make_views=explore)
        # The tables the explorer made with a key it inferred (a key asked for replaces them).
        self._guessed: weakref.WeakSet[LiveTable] = weakref.WeakSet()
        self._notices = ConnectionNotices(self._scrub)
        # The Notifications views that were handed the backlog and now get every notice (I/O
        # thread only: handing over and delivering never interleave).
        self._notified: list[Notifications] = []
        self._flusher = Flusher(self._flush)
        self._feed = StatusFeed(conn, self._scrub, changing=self._explorer.active,
                                wake=lambda: get_frame_clock().mark_dirty(self._flusher))
        super().__init__(url=conn.display_url, status=state_name(conn.state))
        self.on_msg(self._on_front_end)
        self._unsubscribe = [conn.on_any(Batched(self._on_message, self._on_messages)),
                             conn.on_state(self._on_state)]
        _register(self)
        # Counters that change with every message: a few refreshes a second read as live, and
        # cost the wire a fifth of what the views' rate would (bench.peers: 13 KB/s at 18/s).
        register_flusher(self._flusher, min(self._fps, STATUS_FPS))
        conn.start()

    @classmethod
    def replay(cls, path: str | Path, speed: float = 1.0, loop: bool = False,
               **options: Any) -> RealtimeWidget:
        """The widget and views of a recorded session, fed from the file: no server needed.

        The recording (from :meth:`record` or ``Connection.record``) is served on loopback by a
        feed this widget owns and closes with it; ``speed`` divides the recorded pace (0: as fast
        as possible), ``loop`` starts over at the end. The recording's ``messages=`` setting is
        used unless ``options`` give one (pass a ``Fields(...)`` or a function again yourself).

        >>> w = RealtimeWidget.replay("notebooks/recordings/quickstart.jsonl.gz", loop=True)  # doctest: +SKIP
        >>> w.table("mission_update")                                                      # doctest: +SKIP
        """
        from ..replay import ReplayServer

        server = ReplayServer(path, speed=speed, loop=loop).start()
        try:
            if "messages" not in options and "protocol" not in options:
                options["messages"] = server.messages
            widget = cls(server.url, **options)
        except BaseException:
            server.stop()
            raise
        widget._owned.append(server.stop)
        widget._replaying = Path(path).name
        return widget

    def record(self, path: str | Path, *, max_bytes: int | None = None,
               max_seconds: float | None = None, compress: bool | None = None) -> Recording:
        """``Connection.record``: write every frame received from now on to ``path`` (gzip when
        it ends in ``.gz``), until ``stop()``, ``max_bytes`` of frames or ``max_seconds``.

        >>> rec = w.record("session.jsonl.gz", max_seconds=60)   # doctest: +SKIP
        >>> rec.stop(); RealtimeWidget.replay("session.jsonl.gz")  # doctest: +SKIP
        """
        return self._conn.record(path, max_bytes=max_bytes, max_seconds=max_seconds,
                                 compress=compress)

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

    def send(self, type: Any, payload: Any = NO_PAYLOAD) -> SendHandle:
        """``Connection.send``: queue a message (sent in order once connected): ``send(type,
        payload)`` the protocol's message, ``send(value)`` a dict, list, str or bytes as it is.

        >>> w.send("subscribe", {"channel": "metrics"}).wait(5)   # doctest: +SKIP
        <SendState.SENT: 'sent'>
        >>> w.send({"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": 1})  # doctest: +SKIP
        """
        handle = self._conn.send(type, payload)
        self._mark_dirty()  # queued and dropped counts may have changed with no message in
        return handle

    def subscribe(self, type: Any, payload: Any = NO_PAYLOAD) -> Callable[[], None]:
        """``Connection.subscribe``: a message replayed on every (re)connect (the same forms as
        ``send``)."""
        return self._conn.subscribe(type, payload)

    def connect(self) -> None:
        self._notices.expect_disconnect = False
        self._conn.connect()

    def disconnect(self) -> None:
        self._notices.expect_disconnect = True
        self._conn.disconnect()

    def reconnect(self) -> None:
        self._notices.expect_disconnect = False
        self._conn.reconnect()

    # -- views ------------------------------------------------------------------------------

    def table(self, type: str = "mission_update", key: str | Sequence[str] | None = None,
              max_rows: int = 10_000, delete_type: str | None = None,
              columns: Iterable[str] | None = None) -> LiveTable:
        """The live table of ``type`` messages keyed by ``key``: a field, or a tuple of fields
        (``("symbol", "id", "side")``); the same table on every call.

        It holds what arrives after it is made; the explorer makes one as soon as the first
        message of a keyed type arrives (keyed by a field it infers: ``id``, ``symbol``,
        ``product_id``, ``s``...), and that one starts with that message. ``key=None``: that table
        whatever its key, or a new one keyed by ``"id"``; a ``key`` of your own replaces the
        explorer's guess (its rows carry over).

        >>> w.table("mission_update", delete_type="mission_removed", max_rows=1000)  # doctest: +SKIP
        >>> w.table("orderBookL2", key=("symbol", "id", "side"))                     # doctest: +SKIP
        """
        return _claimed(self._table(type, key, max_rows, delete_type, columns)[0])

    def _table(self, type: str, key: str | Sequence[str] | None = "id", max_rows: int = 10_000,
               delete_type: str | None = None, columns: Iterable[str] | None = None,
               take_tab: bool = False, guess: bool = False) -> tuple[LiveTable, bool]:
        """``table()``; ``guess``: the explorer's inferred key, for a new table only (a table
        that exists is kept whatever its key)."""
        check_type("type", type)
        wanted = key if isinstance(key, str) or key is None else tuple(key)
        if wanted is not None and not guess:
            for existing in self._views.of(LiveTable):
                if (existing.message_type == type and existing.key != wanted
                        and existing in self._guessed):
                    # The explorer's guess yields to the key asked for, rows and all.
                    rows = existing.rows
                    existing.close()
                    view, created = self._table(type, wanted, max_rows, delete_type, columns,
                                                take_tab=True)
                    view.feed(rows)
                    return view, created

        def same_key(existing: LiveTable) -> None:
            if wanted is not None and not guess and existing.key != wanted:
                raise ValueError(
                    f"the table of {type!r} is already keyed by {existing.key!r}; close it "
                    f"(w.table({type!r}).close()) before asking for key={wanted!r}")

        return self._views.get_or_create(
            LiveTable, type, lambda: LiveTable(self._conn, type, key=wanted or "id",
                                               max_rows=max_rows, delete_type=delete_type,
                                               columns=columns, fps=self._fps),
            tab=type, check=same_key, take_tab=take_tab)

    def log(self, type: str | None = None, limit: int = 200) -> LiveLog:
        """The last ``limit`` messages of ``type`` (``None``: of every type), newest first, each as
        searchable text with the whole of it on demand; the same log on every call.

        >>> w.log("heartbeat")          # doctest: +SKIP
        >>> w.log()                     # every type
        """
        return _claimed(self._log(type, limit)[0])

    def _log(self, type: str | None, limit: int = 200) -> tuple[LiveLog, bool]:
        if type is not None:
            check_type("type", type)
        return self._views.get_or_create(
            LiveLog, type, lambda: LiveLog(self._conn, type, limit=limit, fps=self._fps),
            tab=type)

    def metrics(self, type: str = "metrics_update", history: int = 300) -> LiveMetrics:
        """KPI cards with sparklines for the numeric fields of ``type`` messages."""
        return _claimed(self._metrics(type, history)[0])

    def _metrics(self, type: str, history: int = 300, take_tab: bool = False
                 ) -> tuple[LiveMetrics, bool]:
        check_type("type", type)
        return self._views.get_or_create(
            LiveMetrics, type, lambda: LiveMetrics(self._conn, type, history=history,
                                                   on_alert=self._on_alert, fps=self._fps),
            tab=type, take_tab=take_tab)

    def chart(self, type: str = "metrics_update", y: str | Sequence[str] | None = None,
              by: str | None = None, window: float | None = 300.0, *, max_series: int = 32,
              max_points: int = 10_000) -> LiveChart:
        """A live time-series chart of ``type`` messages (the same one for the same ``y`` and
        ``by``): every numeric field a series, or those named by ``y``; with ``by``, one series
        per value of that field (``y`` the numeric field). ``window``: seconds shown while
        following live data (``None``: everything kept).

        >>> w.chart("trade", y="price", by="symbol", window=60)   # doctest: +SKIP
        """
        return _claimed(self._chart(type, y, by, window, max_series, max_points)[0])

    def _chart(self, type: str, y: str | Sequence[str] | None = None, by: str | None = None,
               window: float | None = 300.0, max_series: int = 32, max_points: int = 10_000
               ) -> tuple[LiveChart, bool]:
        check_type("type", type)
        fields = None if y is None else ((y,) if isinstance(y, str) else tuple(y))
        return self._views.get_or_create(
            LiveChart, (type, fields, by),
            lambda: LiveChart(self._conn, type, y=y, by=by, window=window,
                              max_series=max_series, max_points=max_points, fps=self._fps))

    def notifications(self, types: Iterable[str] = ("notification",)) -> Notifications:
        """Toasts for ``types`` messages and for connection events."""
        return _claimed(self._notifications(types)[0])

    def _notifications(self, types: Iterable[str] = ("notification",)
                       ) -> tuple[Notifications, bool]:
        key = (types,) if isinstance(types, str) else tuple(types)
        view, created = self._views.get_or_create(
            Notifications, key, lambda: Notifications(self._conn, key, fps=self._fps),
            tab=key[0] if key else "notification")
        if created:
            if iothread.in_io_thread():
                self._hand_notices(view)
            else:
                iothread.call_soon(self._hand_notices, view)
        return view, created

    def status_indicator(self, details: bool = True, position: str = "inline"
                         ) -> ConnectionStatus:
        """A status indicator for this connection, to place anywhere."""
        self._views.check_open()
        return self._views.add(ConnectionStatus(self, details=details, position=position))

    def store(self, type: str, transform: Transform | None = None, initial: Any = None
              ) -> LiveStore:
        """A ``LiveStore`` whose ``value`` folds ``type`` messages: ``transform(payload, value)``."""
        self._views.check_open()
        return self._views.add(LiveStore(self._conn, type, transform, initial, fps=self._fps))

    def _adopt(self, view: Any) -> None:
        """A view made from this widget shares its audience (see ``_audience``)."""
        join = getattr(view, "_join_family", None)
        if join is not None:
            join(self._family)

    # -- I/O thread: messages, explorer, notices --------------------------------------------------

    def _mark_dirty(self) -> None:
        if iothread.in_io_thread():
            get_frame_clock().mark_dirty(self._flusher)
        else:
            iothread.call_soon(get_frame_clock().mark_dirty, self._flusher)

    def _on_message(self, type: str, payload: Any) -> None:
        plan = self._explorer.observe(type, payload, time.monotonic())
        if plan is not None:
            with host_session(self):  # made where the widget was (a marimo session)
                self._make(plan)
        self._flusher.mark()

    def _on_messages(self, type: str, payloads: list[Any]) -> None:
        """``_on_message`` for several messages of one type (a batch frame)."""
        plan = self._explorer.observe_many(type, payloads, time.monotonic())
        if plan is not None:
            with host_session(self):  # made where the widget was (a marimo session)
                self._make(plan)
        self._flusher.mark()

    def _make(self, plan: ViewPlan) -> None:
        """Make the view the explorer asked for and hand it the messages it missed."""
        if self._is_closed:
            return
        if plan.retire is not None:
            # Its view goes to this type: a log the explorer made for a type seen long ago.
            old = self._views.tabs.get(plan.retire)
            if isinstance(old, LiveLog):
                old.close()
        try:
            view: LiveTable | LiveMetrics | Notifications | LiveLog
            # A table or metrics found for a type that was logged until now take its tab.
            logged = isinstance(self._views.tabs.get(plan.type), LiveLog)
            if plan.kind == "table":
                view, created = self._table(plan.type, key=plan.key, guess=True, take_tab=logged)
                if created:
                    self._guessed.add(view)
            elif plan.kind == "metrics":
                view, created = self._metrics(plan.type, take_tab=logged)
            elif plan.kind == "log":
                view, created = self._log(plan.type)
            else:
                view, created = self._notifications((plan.type,))
            if created:
                if not isinstance(view, Notifications):
                    # Shown as a tab, one at a time: quiet until its own view renders (a
                    # notice is for every view, and small).
                    view._quiet_until_seen()
                view.feed(plan.seed)
            if plan.kind == "metrics":
                # Numbers get a chart too, shown under their cards.
                chart, created = self._chart(plan.type)
                if created:
                    chart._quiet_until_seen()
                    chart.feed(plan.seed)
        except Exception:
            log.exception("rt_widgets: could not create the %s view of %r messages", plan.kind,
                          plan.type)

    def _hand_notices(self, view: Notifications) -> None:
        """Give a new Notifications view the recent notices, then every new one (I/O thread)."""
        if view.closed:
            return
        for notice in self._notices.backlog:
            view.notify(*notice)
        self._notified.append(view)

    def _deliver(self, notice: Notice | None) -> None:
        """Show a notice (already in the backlog) on every Notifications view (I/O thread)."""
        if notice is None:
            return
        if not self._views.of(Notifications):
            if self._explore and not self._is_closed:
                with contextlib.suppress(RuntimeError), host_session(self):  # closed meanwhile
                    self._notifications()  # it is handed the backlog, this notice included
            return
        self._notified = [v for v in self._notified if not v.closed]
        for view in self._notified:
            view.notify(*notice)

    def _on_alert(self, alert: Alert) -> None:
        self._deliver(self._notices.alert(alert.message))

    def _on_state(self, old: object, new: object) -> None:
        conn = self._conn
        self._deliver(self._notices.state_changed(
            state_name(old), state_name(new), attempt=conn.attempt, last_error=conn.last_error))
        self._mark_dirty()

    # -- I/O thread: the traits ------------------------------------------------------------------

    def _sync_now(self) -> None:
        self._flush()

    def _flush(self) -> None:
        if self._is_closed:
            return
        now = time.monotonic()
        status = self._feed.read()
        overview = self._explorer.overview(now, time.time())
        # Keyed as the overview names the types (long names cut): the view matches the two.
        children = {shown_type(t): v for t, v in self._views.tabs.items() if not v.closed}
        charts: dict[str, LiveChart] = {}
        for chart in self._views.of(LiveChart):
            charts.setdefault(shown_type(chart.message_type), chart)
        with self.hold_sync():
            self.status = status.status
            self.attempt = status.attempt
            if status.new_wait:
                self.next_retry_in = status.next_retry_in
            self.error = status.error
            self.latency_ms = status.latency_ms
            self.queued = status.queued
            self.stats = status.stats
            self.overview = overview
            self.children = children
            self.as_of = now_iso()
            self.charts = charts
        for notice in self._notices.counters(status.stats, now):
            self._deliver(notice)
        self._feed.watch(status.status, now)

    # -- the front end --------------------------------------------------------------------------

    def _on_front_end(self, _widget: Any, content: Any, _buffers: Any) -> None:
        # May arrive on the shell thread or a subshell thread: the I/O thread does the work.
        command = parse_command(content)
        if command is not None:
            iothread.call_soon(self._run, command)

    def _run(self, command: ConnectionCommand) -> None:
        if self._is_closed:
            return
        try:
            if command["kind"] == "reconnect":
                self.reconnect()
            elif command["kind"] == "disconnect":
                self.disconnect()
            elif command["kind"] == "connect":
                self.connect()
            elif command["kind"] == "send":
                self._conn.send(command["type"], command["payload"])
            elif command["kind"] == "browser" and command["event"] == "online":
                # The network is back: end the backoff wait now rather than at its end.
                self._conn.retry_now()
        except Exception:
            log.exception("rt_widgets: the view's %r request failed", command["kind"])

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
            self._conn.stop()
        except Exception:
            log.exception("rt_widgets: closing the connection failed")
        self._views.close_all()
        with contextlib.suppress(Exception):  # the I/O thread is gone (interpreter exit)
            read_on_io(self._final_flush)
        for release in self._owned:
            try:
                release()
            except Exception:
                log.exception("rt_widgets: releasing %r failed", release)
        super().close()

    def _final_flush(self) -> None:
        get_frame_clock().unregister(self._flusher)
        self._feed.stop()
        if self.comm is not None:
            with self.hold_sync():
                self.status = "closed"
                self.next_retry_in = None
                self.children = {}
                self.charts = {}

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

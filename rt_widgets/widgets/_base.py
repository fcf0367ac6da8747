"""What every rt_widgets widget shares: the bundle, argument checks, and the data-view machinery.

A data view (table, metrics, notifications) owns a store that its message handlers update on the
I/O thread. The frame clock calls :meth:`DataView._flush` at most ``fps`` times a second: the store's
changes go to the view as one ``{"kind": "delta", "seq": n, ...}`` custom message, and the
``_snapshot`` trait is refreshed at most every :data:`SNAPSHOT_INTERVAL` seconds while the store
changes, so that a late view or a saved notebook shows the current state. Trait names and message
kinds are those of ``_contract``.

A data view can be paused (:meth:`DataView.pause`, or the view's own button): its store keeps taking
messages, but the view is sent no delta and no snapshot, only a ``waiting`` count of the updates it
has not seen, at most every :data:`WAITING_INTERVAL` seconds; :meth:`DataView.resume` sends a fresh
snapshot and deltas follow again.

Views on one page share messages: each view's presence names its page, and a data view whose every
view is on one page joins that page's group on the frame clock, whose deltas of one tick leave as one
``bundle`` (``sync``), each addressed by its widget's ``_route`` (a random id the views know from the
trait), carried by one of them, and handed out by the page (``js/bus.ts``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import anywidget
import orjson

from .. import iothread
from ..sync import encode_delta, get_frame_clock
from ._audience import LATE, AudienceMixin
from ._contract import DELTA, PAUSE, RESUME, SNAPSHOT, WAITING, DataTraits, parse_data_request

if TYPE_CHECKING:
    import asyncio

    from ..connection import Connection

log = logging.getLogger("rt_widgets")

T = TypeVar("T")

STATIC = Path(__file__).resolve().parent.parent / "static"
SNAPSHOT_INTERVAL = 2.0
READ_TIMEOUT = 5.0
# The views whose pages a data view keeps track of (beyond that it sends on its own comm).
MAX_PAGED_VIEWS = 64
# How often a paused view is told how many updates are waiting (when that number changed).
WAITING_INTERVAL = 0.5


class _Store(Protocol):
    seq: int

    @property
    def dirty(self) -> bool: ...

    def drain(self) -> dict[str, Any] | None: ...

    def snapshot(self) -> dict[str, Any]: ...


def read_on_io(fn: Callable[[], T]) -> T:
    """Run ``fn`` on the I/O thread and return its result.

    Stores change on the I/O thread; copying one from another thread while it changes could see a
    dict change size mid-copy. On the I/O thread itself (in a handler) ``fn`` runs inline.
    """
    if iothread.in_io_thread():
        return fn()

    async def call() -> T:
        return fn()

    return iothread.run_sync(call(), timeout=READ_TIMEOUT)


def register_flusher(flusher: Flusher, fps: float) -> None:
    """Register with the frame clock on the I/O thread, then flush once: a handler may have run
    before the registration landed, and its change must not wait for the next message."""

    def register() -> None:
        clock = get_frame_clock()
        clock.register(flusher, fps)
        clock.mark_dirty(flusher)

    if iothread.in_io_thread():
        register()
    else:
        iothread.call_soon(register)


def reject_unknown(owner: str, kwargs: Mapping[str, Any], allowed: Iterable[str] = ()) -> None:
    """Raise a TypeError naming the unexpected keyword arguments and the accepted ones."""
    allowed = sorted(allowed)
    unknown = sorted(k for k in kwargs if k not in allowed)
    if unknown:
        names = ", ".join(repr(k) for k in unknown)
        hint = f"; accepted: {', '.join(allowed)}" if allowed else ""
        raise TypeError(f"{owner}() got unexpected keyword argument(s) {names}{hint}")


def check_fps(fps: Any) -> float:
    if isinstance(fps, bool) or not isinstance(fps, int | float) or not 0 < fps <= 1000:
        raise ValueError(f"fps must be a number > 0 (frames per second, at most 1000), got {fps!r}")
    return float(fps)


def check_positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def check_type(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty message type string, got {value!r}")
    return value



class Flusher:
    """What a widget registers with the frame clock: keeps ``flush`` off the widget's public API."""

    __slots__ = ("_fn", "_marked")

    def __init__(self, fn: Callable[[], None]) -> None:
        self._fn = fn
        self._marked = False

    def mark(self) -> None:
        """``mark_dirty`` on the frame clock, once per flush however many messages call it (I/O
        thread only)."""
        if not self._marked:
            self._marked = True
            get_frame_clock().mark_dirty(self)

    def flush(self) -> None:
        self._marked = False
        self._fn()


class BaseWidget(AudienceMixin, anywidget.AnyWidget):
    """The bundle shared by every rt_widgets widget. Its synced traits come from a ``_contract``
    mixin listed before this class, whose ``_view`` picks the renderer in the bundle."""

    _esm = STATIC / "widget.js"
    if (STATIC / "widget.css").exists():
        _css = STATIC / "widget.css"

    @property
    def closed(self) -> bool:
        return self.comm is None

    def _ipython_display_(self) -> None:
        """IPython shows the view and, as an output of its own, a copy of the data that an export
        with saved widget state still shows (see ``_static``)."""
        from ._static import show

        show(self)

    # The trait that carries what the frame clock throttles; state asked for from outside brings it up
    # to date first (see get_state).
    _throttled_trait = ""

    def get_state(self, key: str | Iterable[str] | None = None, drop_defaults: bool = False
                  ) -> dict[str, Any]:
        """The synced state. Asked for from outside the I/O thread (saving or embedding the widget
        state), it is brought up to date first rather than showing the last throttled flush."""
        wanted = key is None or key == self._throttled_trait or (
            not isinstance(key, str) and self._throttled_trait in key)
        live = self.comm is not None and not self.__dict__.get("_is_closed", True)
        if wanted and live and not iothread.in_io_thread():
            with contextlib.suppress(Exception):  # the I/O thread is gone (interpreter exit)
                read_on_io(self._sync_now)
        state: dict[str, Any] = super().get_state(key, drop_defaults=drop_defaults)
        return state

    def close(self) -> None:
        # ipywidgets does not close the Layout widget every DOMWidget creates for itself; left open,
        # each re-run cell would leak one comm and one registry entry.
        layout = self._trait_values.get("layout")
        super().close()
        if layout is not None and hasattr(layout, "close"):
            layout.close()


class DataView(DataTraits, BaseWidget):
    """A widget whose state lives in a store and reaches the view as deltas and snapshots.

    Each kind of data view takes the payloads of its messages through :meth:`feed` too, for
    messages that were dispatched before it subscribed (the explorer hands a new view the message
    that made it want one).
    """

    _throttled_trait = "_snapshot"
    # Whether its deltas may travel bundled with its page's others. Not for views of events (toasts,
    # log entries): a delta lost on the way (its carrier's view went) is recovered by a snapshot,
    # which brings back the state but not the event's moment.
    _bundled = True
    # How often the ``_snapshot`` trait follows a changing store (a view that misses deltas asks
    # for a snapshot anyway); a view whose state is large may refresh it less often.
    _snapshot_interval = SNAPSHOT_INTERVAL

    def __init__(self, store: _Store, connection: Connection, fps: float, message_type: str,
                 **kwargs: Any) -> None:
        self._store = store
        self._conn = connection
        self._fps = fps = check_fps(fps)
        self._flusher = Flusher(self._flush)
        self._unsubscribe: list[Callable[[], None]] = []
        self._snap_at = -1e18
        # The interval between refreshes, longer for a snapshot that is large (see _refresh_snapshot).
        self._snap_every = self._snapshot_interval
        self._snap_timer: asyncio.TimerHandle | None = None
        self._is_closed = False
        # Pausing (I/O thread): the ``paused`` trait as the I/O thread last applied it, the updates
        # the view has not been sent, and the timer of the next ``waiting`` count.
        self._held = False
        self._unsent = 0
        self._waiting_sent = 0
        self._waiting_at = -1e18
        self._waiting_timer: asyncio.TimerHandle | None = None
        # Where its views are: view id -> (page, until when it counts); the group it joined.
        self._pages: dict[str, tuple[str | None, float]] = {}
        self._group: str | None = None
        super().__init__(message_type=message_type, _snapshot=self._snapshot_copy(),
                         _route=uuid.uuid4().hex, **kwargs)
        self.on_msg(self._on_front_end)
        self.observe(self._follow_paused, names="paused")
        register_flusher(self._flusher, fps)

    def feed(self, payloads: Iterable[Any]) -> None:
        """Apply ``payloads`` as if each had arrived, in order, as a message this view follows.

        On the I/O thread (in a handler) they are applied at once; from another thread this waits
        until the I/O thread applied them.

        >>> w.table("trade").feed([{"id": 1, "px": 10.5}])   # doctest: +SKIP
        """
        batch = list(payloads)
        if batch:
            read_on_io(lambda: self._apply(batch))

    def _apply(self, payloads: list[Any]) -> None:
        """Apply payloads of this view's messages (I/O thread); each data view defines it."""
        raise NotImplementedError

    # -- pausing ---------------------------------------------------------------------------------

    def pause(self) -> None:
        """Hold the view's picture still; the data keeps arriving and the view shows how many
        updates are waiting. Costs no comm traffic but that count.

        >>> table.pause(); table.paused                          # doctest: +SKIP
        True
        """
        self.paused = True

    def resume(self) -> None:
        """Show the current state again (one snapshot), then follow live data."""
        self.paused = False

    def _follow_paused(self, change: Mapping[str, Any]) -> None:
        # Any thread sets the trait (its change has gone to the views already): the I/O thread
        # applies it, in the order the changes came.
        paused = bool(change["new"])
        if iothread.in_io_thread():
            self._apply_paused(paused)
        else:
            iothread.call_soon(self._apply_paused, paused)

    def _apply_paused(self, paused: bool) -> None:
        if self._is_closed or paused == self._held:
            return
        self._held = paused
        if paused:
            self._waiting_sent = 0
            if self._unsent:
                self._schedule_waiting()
            return
        if self._waiting_timer is not None:
            self._waiting_timer.cancel()
            self._waiting_timer = None
        # The view dropped what it held back: the whole current state, then deltas from it.
        self._store.drain()
        self._unsent = 0
        self._send_counted({"kind": SNAPSHOT, **self._state()})
        get_frame_clock().spend()

    def _schedule_waiting(self) -> None:
        if self._waiting_timer is None:
            loop = iothread.get_loop()
            wait = self._waiting_at + WAITING_INTERVAL - loop.time()
            self._waiting_timer = loop.call_later(max(wait, 0.0), self._send_waiting)

    def _send_waiting(self) -> None:
        self._waiting_timer = None
        if self._is_closed or not self._held or self._unsent == self._waiting_sent:
            return
        if not get_frame_clock().has_room():
            self._waiting_timer = iothread.get_loop().call_later(0.1, self._send_waiting)
            return
        self._waiting_at = iothread.get_loop().time()
        self._waiting_sent = self._unsent
        self.send({"kind": WAITING, "count": self._unsent})
        get_frame_clock().spend()

    # -- I/O thread ---------------------------------------------------------------------------

    def _changed(self, n: int = 1) -> None:
        """Called on the I/O thread after the store changed (``n``: by that many updates)."""
        self._unsent += n
        if self._held:
            if self._waiting_timer is None:
                self._schedule_waiting()
            return
        self._flusher.mark()

    def _flush(self) -> None:
        if self._is_closed or self._held:
            return
        delta = self._store.drain()
        if delta is not None:
            self._unsent = 0
            self._send_delta(delta)

    def _send_delta(self, delta: dict[str, Any]) -> None:
        if self._silent:
            return  # nobody is watching: the snapshot sent when a view returns has it all
        # Packed for the wire by the sync layer's codec (js/sync.ts unpacks it).
        content, buffers = encode_delta(self._view, {"kind": DELTA, **delta})
        nbytes = message_bytes(content) + sum(map(len, buffers))
        clock = get_frame_clock()
        if not clock.collect(self._route, content, buffers, self.send, nbytes):
            self.send(content, buffers or None)
            clock.spend_bytes(nbytes)
        loop = iothread.get_loop()
        elapsed = loop.time() - self._snap_at
        # The delta and the snapshot both count against the process budget.
        if elapsed >= self._snap_every and get_frame_clock().has_room(2):
            self._refresh_snapshot()
        elif self._snap_timer is None:
            self._snap_timer = loop.call_later(max(self._snap_every - elapsed, 0.1),
                                               self._snapshot_timer)

    def _snapshot_timer(self) -> None:
        self._snap_timer = None
        if self._is_closed or self._held:
            return
        if self._store.dirty:
            # A flush is pending; it drains first and then sees the snapshot is due. Taking one
            # now would include changes the next delta repeats (metrics history would double).
            return
        if self._snapshot.get("seq") != self._store.seq:
            if not get_frame_clock().has_room():
                self._snap_timer = iothread.get_loop().call_later(0.1, self._snapshot_timer)
                return
            self._refresh_snapshot()

    def _sync_now(self) -> None:
        if self._is_closed:
            return
        self._flush()  # pending changes go out as a delta first, so views stay in sequence
        if self._snapshot.get("seq") != self._store.seq:
            self._refresh_snapshot()

    def _refresh_snapshot(self) -> None:
        self._snap_at = iothread.get_loop().time()
        snapshot = self._snapshot_copy()
        with self.hold_sync():
            self._snapshot = snapshot
            self.as_of = now_iso()
        clock = get_frame_clock()
        clock.spend()
        nbytes = message_bytes(snapshot)
        clock.spend_bytes(nbytes)
        self._snap_every = clock.snapshot_interval(nbytes, self._snapshot_interval)

    def _send_counted(self, message: dict[str, Any]) -> None:
        """Send a custom message to the view, counting its bytes against the byte budget."""
        self.send(message)
        get_frame_clock().spend_bytes(message_bytes(message))

    def _state(self) -> dict[str, Any]:
        """The whole state the view is sent (its contract's ``*State``): the store's snapshot."""
        return self._store.snapshot()

    def _snapshot_copy(self) -> dict[str, Any]:
        """The state, detached from the live store (the trait may be read from another thread,
        and must not change under a reader)."""
        detached: dict[str, Any] = _detach(self._state())
        return detached

    def _answer_snapshot_request(self) -> None:
        if self._is_closed or self._held:  # the resume that ends a pause sends one
            return
        delta = self._store.drain()
        if delta is not None:
            self._send_delta(delta)
            get_frame_clock().spend()
        self._send_counted({"kind": SNAPSHOT, **self._state()})
        get_frame_clock().spend()

    # -- any thread ---------------------------------------------------------------------------

    def _on_front_end(self, _widget: Any, content: Any, _buffers: Any) -> None:
        # May run on the shell thread or a subshell thread: the work belongs on the I/O thread.
        request = parse_data_request(content)
        if request is None or self._is_closed:
            return
        if request["kind"] == PAUSE:
            self.paused = True
        elif request["kind"] == RESUME:
            self.paused = False
        else:
            iothread.call_soon(self._answer_snapshot_request)

    def _view_page(self, view: str, lease: float, page: str | None) -> None:
        pages = self._pages
        now = iothread.get_loop().time()
        if lease > 0 and (view in pages or len(pages) < MAX_PAGED_VIEWS):
            pages[view] = (page, now + lease + LATE)
        else:
            pages.pop(view, None)
        for gone in [v for v, (_, until) in pages.items() if until <= now]:
            del pages[gone]
        on = {p for p, _ in pages.values()}
        # One page, every view of it named: bundled with that page's others. A view on another
        # page, or one that names none, gets every message on this widget's own comm.
        group = (next(iter(on)) if self._bundled and len(on) == 1 and len(pages) < MAX_PAGED_VIEWS
                 else None)
        if group != self._group and not self._is_closed:
            self._group = group
            get_frame_clock().set_group(self._flusher, group)

    def _subscribe(self, type: str, handler: Callable[[Any], Any]) -> None:
        self._unsubscribe.append(self._conn.on(type, handler))

    def close(self) -> None:
        """Stop following the connection and close the view."""
        # Also reached from __del__ of an object whose __init__ rejected its arguments.
        if self.__dict__.get("_is_closed", True):
            return
        self._is_closed = True
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        flusher = self._flusher

        def forget() -> None:
            get_frame_clock().unregister(flusher)
            if self._snap_timer is not None:
                self._snap_timer.cancel()
                self._snap_timer = None
            if self._waiting_timer is not None:
                self._waiting_timer.cancel()
                self._waiting_timer = None

        # On the I/O thread, and waited for: once it returns no flush of this view is running
        # or will run, so closing the comm cannot race a delta being sent.
        with contextlib.suppress(Exception):  # the I/O thread is gone (interpreter exit)
            read_on_io(forget)
        super().close()


def message_bytes(message: Any) -> int:
    """The size of ``message`` as JSON, in bytes (what the comm sends of it, near enough)."""
    try:
        return len(orjson.dumps(message, option=orjson.OPT_NON_STR_KEYS, default=str))
    except (TypeError, orjson.JSONEncodeError):
        return len(json.dumps(message, default=str))


def now_iso() -> str:
    """The time now as the ``as_of`` traits carry it: ISO 8601, UTC, to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def _detach(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _detach(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_detach(v) for v in value]
    return value

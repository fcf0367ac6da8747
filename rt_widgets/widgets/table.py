"""LiveTable: rows keyed by a field (or a tuple of fields), upserted by messages of one type."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

from .. import iothread
from ..dispatch import Batched
from ..protocol import Message
from ..stores import TableStore
from ..summary import AGGREGATES, MAX_GROUPS
from ..sync import encode_window, get_frame_clock
from ..window import (
    GROUP_ID,
    MAX_WINDOWS,
    WINDOW_AT,
    Window,
    WindowSpec,
    group_rows,
    order_keys,
    parse_window_spec,
)
from ._audience import LATE
from ._base import (
    DataView,
    check_positive_int,
    check_type,
    message_bytes,
    read_on_io,
    reject_unknown,
)
from ._contract import SNAPSHOT, WINDOW, TableTraits
from .summary import LiveSummary

if TYPE_CHECKING:
    import pandas

    from ..connection import Connection

__all__ = ["LiveTable"]

log = logging.getLogger("rt_widgets")

T = TypeVar("T")

#: Windows sent to a view at most this many times a second (the rows on screen change in place).
WINDOW_FPS = 10.0
#: Seconds a window counts after its view last named it (views name theirs every presence beat).
WINDOW_LEASE = 5.0 + LATE
#: The rows a windowed table's ``_snapshot`` holds (the newest; a saved notebook shows those).
WINDOW_SNAPSHOT_ROWS = 50
#: How often a windowed table's ``_snapshot`` trait follows the table.
WINDOW_SNAPSHOT_INTERVAL = 30.0


class LiveTable(TableTraits, DataView):
    """A live table of the payloads of one message type, keyed by ``key``.

    Created by :meth:`RealtimeWidget.table`; display it in a cell. Each message upserts one row (or
    a list of rows): new keys append, known keys merge the given fields. ``key`` is a field or a
    tuple of fields (``("symbol", "id", "side")``); rows are told apart by the JSON value of their
    key (``1``, ``true`` and ``"1"`` are three rows), and a row that lacks a key field is counted
    in ``errors`` (``last_error`` says why), not stored. Messages of ``delete_type`` remove rows
    by key. At most ``max_rows`` rows are kept, oldest evicted first.

    When the connection's messages carry an action (``Fields(action=...)``, BitMEX-style), each
    message is applied as its action says: ``"delete"`` deletes its rows, ``"partial"`` replaces the
    table's contents with the partial's rows, anything else upserts.

    >>> missions = w.table("mission_update", key="id")     # doctest: +SKIP
    >>> missions.rows[-1]                                    # doctest: +SKIP
    {'id': 'm-17', 'status': 'running', 'progress': 0.4}
    >>> book = w.table("orderBookL2", key=("symbol", "id", "side"))   # doctest: +SKIP
    >>> missions.to_pandas()                                 # doctest: +SKIP

    A table of more than ``window_rows`` rows (2,000, ``rt_widgets.window.WINDOW_AT``) is sent to
    each view as the rows it shows: the view names its window (scroll position, sort column, filter
    text) and the kernel sorts and filters every row and sends only that window's changes, so a view
    costs the wire the same at 10,000 rows as at 50; grouping in the view is done in the kernel
    too. ``table.window_rows = None`` sends every row instead.

    :meth:`group_by` makes a live summary of the rows: one row per group value with ``count``
    and the sum, mean, min, max and last of each numeric column, kept exact as rows come and go.

    >>> trades = w.table("trade", key="id")                                   # doctest: +SKIP
    >>> summary = trades.group_by("symbol")   # displayable; .rows, .to_pandas()  # doctest: +SKIP
    """

    def __init__(
        self,
        connection: Connection,
        type: str = "mission_update",
        *,
        key: str | tuple[str, ...] = "id",
        max_rows: int = 10_000,
        delete_type: str | None = None,
        columns: Iterable[str] | None = None,
        fps: float = 20,
        window_rows: int | None = WINDOW_AT,
        **kwargs: Any,
    ) -> None:
        reject_unknown("LiveTable", kwargs)
        check_type("type", type)
        if isinstance(key, list):
            key = tuple(key)
        if not (isinstance(key, str) and key) and not (
                isinstance(key, tuple) and key and all(isinstance(f, str) and f for f in key)):
            raise ValueError(f"key must be the name of the row field that identifies a row, or a "
                             f"tuple of such names, got {key!r}")
        check_positive_int("max_rows", max_rows)
        if delete_type is not None:
            check_type("delete_type", delete_type)
        if columns is not None:
            if isinstance(columns, str):
                raise ValueError("columns must be a list of field names, not a single string")
            columns = list(columns)
            if not all(isinstance(c, str) for c in columns):
                raise ValueError(f"columns must be field names (strings), got {columns!r}")
        self._table = TableStore(key=key, max_rows=max_rows, columns=columns)
        self.delete_type = delete_type
        self._type = type
        self._summaries: list[LiveSummary] = []
        # Visible-window sync (I/O thread): each view's window, whether the views hold windows,
        # the orders computed for them (order -> keys, when, cost) and when windows were last sent.
        self._windows: dict[str, Window] = {}
        self._window_rows = _check_window_rows(window_rows)
        self._windowed = False
        self._orders: dict[Any, tuple[Any, float, float]] = {}
        self._groups: dict[Any, tuple[Any, float, float]] = {}
        self._window_sent_at = -1e18
        self._window_timer: Any = None
        super().__init__(self._table, connection, fps, type)
        if connection.protocol.sets_actions:
            # Only a whole Message carries its action, and only "*" handlers get one. Such feeds
            # are decoded a message at a time anyway (no batch path to lose).
            self._subscribe("*", self._on_message)
            self._unsubscribe.append(connection.on_state(self._on_state))
        else:
            self._subscribe(type, Batched(self._on_row, self._on_rows))
        if delete_type is not None:
            self._subscribe(delete_type, self._on_delete)

    def _on_message(self, message: Message) -> None:
        if message.type == self._type:
            self._table.apply_action(message.payload, message.action)
            self._changed()

    def _on_state(self, _old: object, new: object) -> None:
        # A new link's partial is a new image of the table, even with nothing between it and the
        # last link's partial.
        if getattr(new, "value", new) == "connected":
            self._table.end_partial()

    def _on_row(self, payload: Any) -> None:
        self._table.queue(payload)
        self._changed()

    def _on_rows(self, payloads: list[Any]) -> None:
        self._table.queue_many(payloads)
        self._changed(len(payloads))

    _apply = _on_rows

    def _on_delete(self, payload: Any) -> None:
        self._table.apply_delete(payload)
        self._changed()

    # -- visible-window sync (rt_widgets.window) ------------------------------------------------

    def _on_front_end(self, widget: Any, content: Any, buffers: Any) -> None:
        if isinstance(content, dict) and content.get("kind") == WINDOW:
            try:
                spec = parse_window_spec(content)
            except ValueError as e:
                log.warning("table %r: %s", self.message_type, e)
                return
            iothread.call_soon(self._set_window, spec)
            return
        super()._on_front_end(widget, content, buffers)

    def _set_window(self, spec: WindowSpec) -> None:
        if self._is_closed:
            return
        now = iothread.get_loop().time()
        windows = self._windows
        window = windows.get(spec.view)
        if spec.count == 0:  # the view went
            windows.pop(spec.view, None)
            return
        if window is None:
            if len(windows) >= MAX_WINDOWS:
                del windows[min(windows, key=lambda v: windows[v].until)]
            windows[spec.view] = Window(spec, now + WINDOW_LEASE)
        else:
            window.until = now + WINDOW_LEASE
            if window.spec == spec:
                return
            if window.spec.group != spec.group:
                window.reset()  # rows become groups or groups rows: the view holds none of them
            window.spec = spec
        if self._windowed:
            self._window_sent_at = -1e18  # an answer to the view's move, not a frame of the feed
            self._flusher.mark()

    def _drop_lapsed_windows(self, now: float) -> None:
        windows = self._windows
        for gone in [v for v, w in windows.items() if w.until <= now]:
            del windows[gone]

    def _flush(self) -> None:
        if self._is_closed or self._held:
            return
        size = len(self._table)
        limit = self._window_rows
        if self._windowed:
            if limit is not None and size > limit // 2:
                self._table.skip()
                self._send_windows()
                return
            self._leave_windows()
        elif limit is not None and size > limit:
            self._enter_windows()
            return
        super()._flush()

    def _enter_windows(self) -> None:
        self._windowed = True
        self._table.skip()
        for window in self._windows.values():
            window.reset()
        if not self._silent:
            self._send_counted({"kind": SNAPSHOT, **self._state()})
            get_frame_clock().spend()
        # A view made from here on starts from the trait: it must say the table is windowed (no
        # delta would come to tell an older trait's view it is behind).
        self._refresh_snapshot()
        self._window_sent_at = -1e18
        self._send_windows()

    def _leave_windows(self) -> None:
        # The table is small again (or no view names a window): every view holds every row.
        self._windowed = False
        self._orders.clear()
        self._groups.clear()
        self._table.skip()
        if not self._silent:
            self._send_counted({"kind": SNAPSHOT, **self._state()})
            get_frame_clock().spend()
        self._refresh_snapshot()

    def _send_windows(self) -> None:
        if self._silent:
            return
        loop = iothread.get_loop()
        now = loop.time()
        wait = self._window_sent_at + 1 / WINDOW_FPS - now
        clock = get_frame_clock()
        if wait > 0 or not clock.has_room():
            if self._window_timer is None:
                self._window_timer = loop.call_later(max(wait, 0.05), self._window_due)
            return
        self._window_sent_at = now
        self._drop_lapsed_windows(now)
        table = self._table
        rows = table.row_map()
        columns = table.columns
        orders: dict[tuple[str | None, bool, str], list[Any]] = {}
        for window in list(self._windows.values()):
            order = orders.get(window.spec.order)
            if order is None:
                order = orders[window.spec.order] = self._order(window.spec, rows, columns, now)
            if window.spec.group is not None:
                body = self._grouped_diff(window, rows, order, columns, now)
            else:
                body = window.diff(rows, order, key_fields=table.key_fields, columns=columns,
                                   errors=table.errors, last_error=table.last_error,
                                   public=table.public_key, for_view=table.view_row)
            if body is not None:
                content, buffers = encode_window({"kind": WINDOW, **body})
                self.send(content, buffers or None)
                clock.spend()
                clock.spend_bytes(message_bytes(content) + sum(map(len, buffers)))
        if now - self._snap_at >= WINDOW_SNAPSHOT_INTERVAL and clock.has_room(2) \
                and self._snapshot.get("seq") != table.seq:
            self._refresh_snapshot()

    def _grouped_diff(self, window: Window, rows: Any, order: list[Any], columns: list[str],
                      now: float) -> dict[str, Any] | None:
        """A grouped view's window: every group of the rows its filter keeps (at most
        MAX_GROUPS), as rows keyed by group, and ``grouped``: the grouped table's column labels
        (with its columns) and how many rows the groups hold. Reused like a sorted order."""
        spec = window.spec
        assert spec.group is not None
        by = spec.group
        cols, groups, dropped = self._reuse(self._groups, (spec.order[2], by), now,
                                            lambda: group_rows(rows, order, by, columns))
        values = {ident: grow[GROUP_ID] for ident, grow in groups.items()}
        body = window.diff(groups, list(groups), key_fields=(GROUP_ID,),
                           columns=[c for c, _ in cols], errors=self._table.errors,
                           last_error=self._table.last_error, public=values.__getitem__,
                           for_view=_as_is)
        if body is None:
            return None
        body["size"] = len(rows)  # the table's rows (the diff counted the groups)
        meta: dict[str, Any] = {"rows": len(order) - dropped}
        if "columns" in body:
            meta["labels"] = [label for _, label in cols]
        body["grouped"] = meta
        return body

    def _refresh_by(self, when: float) -> None:
        """An order or grouping older than the rows was reused: windows go again once it may be
        made anew, so the last change of a feed that then goes quiet is placed and counted."""
        if self._window_timer is None:
            loop = iothread.get_loop()
            self._window_timer = loop.call_later(max(when - loop.time(), 0.05), self._window_due)

    def _window_due(self) -> None:
        self._window_timer = None
        if not self._is_closed and self._windowed:
            self._flusher.mark()

    def _order(self, spec: WindowSpec, rows: Any, columns: list[str], now: float) -> list[Any]:
        """The rows' keys in the order ``spec``'s view shows them. Table order is read each time
        (a list of the keys); a sorted or filtered order is reused for 10x what it cost to make
        (at least 0.2 s), so a large table's sort costs the I/O thread at most a tenth of its time."""
        if spec.order == (None, False, ""):
            return list(rows)
        keys: list[Any] = self._reuse(self._orders, spec.order, now,
                                      lambda: order_keys(rows, spec, columns))
        return keys

    def _reuse(self, cache: dict[Any, tuple[Any, float, float]], key: Any, now: float,
               make: Callable[[], T]) -> T:
        """``cache[key]``'s value while it is younger than 10x what it cost to make (at least
        0.2 s; windows go again then: see _refresh_by), else ``make()``'s, kept for the next."""
        cached = cache.get(key)
        if cached is not None:
            until = cached[1] + max(0.2, 10 * cached[2])
            if now < until:
                self._refresh_by(until)
                return cast(T, cached[0])
        started = time.perf_counter()
        value = make()
        cache[key] = (value, now, time.perf_counter() - started)
        if len(cache) > MAX_WINDOWS:
            cache.pop(next(iter(cache)))
        return value

    def _state(self) -> dict[str, Any]:
        if not self._windowed:
            return self._table.snapshot()
        state = self._table.snapshot(newest=WINDOW_SNAPSHOT_ROWS)
        state["window"] = len(self._table)
        return state

    def _answer_snapshot_request(self) -> None:
        if not self._windowed:
            super()._answer_snapshot_request()
            return
        if self._is_closed or self._held:
            return
        # A view asks when it missed something: its window comes whole again, after the snapshot.
        self._table.skip()
        self._send_counted({"kind": SNAPSHOT, **self._state()})
        get_frame_clock().spend()
        for window in self._windows.values():
            window.reset()
        self._window_sent_at = -1e18
        self._flusher.mark()

    def _apply_paused(self, paused: bool) -> None:
        if self._windowed and not paused and self._held:
            # Resumed: the view is sent the current state, and every window whole.
            self._table.skip()
            for window in self._windows.values():
                window.reset()
            self._window_sent_at = -1e18
            self._flusher.mark()
        super()._apply_paused(paused)

    def group_by(self, by: str | Sequence[str], aggregates: str | Iterable[str] = AGGREGATES,
                 columns: Iterable[str] | None = None, *, max_groups: int = MAX_GROUPS,
                 fps: float | None = None) -> LiveSummary:
        """A live summary of the rows grouped by ``by`` (a field, or a tuple of fields): a live
        table with one row per group value, keyed by it, updated at ``fps`` (the table's) as rows
        are upserted, deleted and evicted.

        Its columns: ``count`` (the rows of the group) and, for each numeric column and each other
        aggregate, ``<column>_<aggregate>``: ``sum``, ``mean``, ``min``, ``max``, ``last`` (the
        value of the group's newest row, in the table's order, that has a number there).
        ``columns=None``: every field that held a number (an int, a float or a numeric string
        like ``"192.31"``) in some row, but the key and group fields, at most 50. The aggregates
        are exact over the rows the table holds; values that are no numbers are skipped (counted
        in ``skipped``), rows with a missing or null group value are left out (``ungrouped``);
        group values are told apart as JSON values (``1``, ``"1"`` and ``true`` are three
        groups). At most ``max_groups`` groups (1,000): rows of further groups are counted in
        ``rows_dropped`` and ``groups_dropped``. With the numeric columns as numbers,
        ``summary.to_pandas()`` equals::

            table.to_pandas().groupby(by).agg(count=(by, "size"), price_sum=("price", "sum"),
                                               price_mean=("price", "mean"), ...,
                                               price_last=("price", "last"))

        >>> by_symbol = trades.group_by("symbol", aggregates=("count", "mean"))  # doctest: +SKIP
        >>> by_symbol.rows                                                        # doctest: +SKIP
        [{'symbol': 'BTC', 'count': 41, 'price_mean': 64010.5, 'size_mean': 0.21}]
        """
        if self.closed:
            raise RuntimeError(f"the table of {self.message_type!r} is closed: make a new one "
                               f"(w.table({self.message_type!r})) to summarise")
        summary = LiveSummary(self._conn, self._table, self.message_type, by,
                              aggregates=aggregates, columns=columns, max_groups=max_groups,
                              fps=self._fps if fps is None else fps)
        self._summaries = [s for s in self._summaries if not s.closed] + [summary]
        return summary

    def close(self) -> None:
        """Stop following the connection and close the view and its summaries."""
        for summary in self.__dict__.get("_summaries", ()):
            summary.close()
        super().close()

    def clear(self) -> None:
        """Remove every row (the view empties too)."""
        def clear() -> None:
            self._table.clear()
            self._changed()

        read_on_io(clear)

    @property
    def window_rows(self) -> int | None:
        """Past this many rows each view holds only the rows it shows (``None``: every view holds
        every row, and sorts, filters and groups them in the page, whatever their number)."""
        return self._window_rows

    @window_rows.setter
    def window_rows(self, value: int | None) -> None:
        self._window_rows = _check_window_rows(value)
        if not self.closed:
            iothread.call_soon(self._flusher.mark)

    @property
    def key(self) -> str | tuple[str, ...]:
        """The key as given: a field, or a tuple of fields."""
        return self._table.key

    @property
    def row_keys(self) -> list[Any]:
        """The rows' keys as JSON values (a list of values per row for a tuple key), oldest first.
        (``keys`` is taken: ipywidgets lists a widget's synced traits under that name.)"""
        return read_on_io(lambda: self._table.keys)

    @property
    def max_rows(self) -> int:
        return self._table.max_rows

    @property
    def rows(self) -> list[dict[str, Any]]:
        """Copies of the rows, oldest first (newest last)."""
        return read_on_io(lambda: self._table.rows)

    @property
    def columns(self) -> list[str]:
        return read_on_io(lambda: self._table.columns)

    @property
    def errors(self) -> int:
        """Rows ignored because they were not objects or lacked a key field (the view says so)."""
        return read_on_io(lambda: self._table.errors)

    @property
    def last_error(self) -> str | None:
        return read_on_io(lambda: self._table.last_error)

    @property
    def columns_dropped(self) -> int:
        """Fields no column shows: the table has its 500 columns (they stay in ``rows``)."""
        return read_on_io(lambda: self._table.columns_dropped)

    def __len__(self) -> int:
        return read_on_io(lambda: len(self._table))

    def __bool__(self) -> bool:
        # A widget is truthy even while its table is empty (``__len__`` would say otherwise).
        return True

    def to_pandas(self) -> pandas.DataFrame:
        """The rows as a DataFrame (columns in first-seen order), oldest first."""
        try:
            import pandas
        except ImportError:
            raise ImportError(
                "LiveTable.to_pandas() needs pandas, which is not installed: "
                "pip install 'rt_widgets[pandas]' (or pip install pandas)") from None
        rows, columns = read_on_io(lambda: (self._table.rows, self._table.columns))
        extra = [c for row in rows for c in row if c not in columns]
        return pandas.DataFrame(rows, columns=columns + list(dict.fromkeys(extra)))

    def __repr__(self) -> str:
        return (f"LiveTable(type={self.message_type!r}, key={self.key!r}, rows={len(self)}, "
                f"max_rows={self.max_rows})")


def _check_window_rows(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 2:
        raise ValueError(f"window_rows must be a number of rows (an integer >= 2) past which views "
                         f"hold only the rows they show, or None (never), got {value!r}")
    return value


def _as_is(row: Any) -> Any:
    return row

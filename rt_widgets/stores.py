"""Live stores: the state behind tables, metrics and notifications.

Pure logic: no asyncio, no widgets. Each store applies messages as they arrive (O(1) per message,
whatever the store size) and remembers what changed since the last :meth:`drain`, so a view can be
kept in step with one small delta per frame instead of one message per input message.

>>> table = TableStore(key="id", max_rows=2)
>>> table.apply({"id": 1, "status": "queued"})
>>> table.apply({"id": 1, "progress": 0.5})   # partial update: merged into the row
>>> table.rows
[{'id': 1, 'status': 'queued', 'progress': 0.5}]
>>> table.drain()["upsert"]
[{'id': 1, 'status': 'queued', 'progress': 0.5}]
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

__all__ = ["Alert", "MetricsStore", "NotificationStore", "TableStore"]

Clock = Callable[[], float]
Level = Literal["info", "success", "warning", "error"]
LEVELS: tuple[str, ...] = ("info", "success", "warning", "error")

_ERROR_SAMPLE_CHARS = 80


def _sample(value: Any) -> str:
    text = repr(value)
    if len(text) > _ERROR_SAMPLE_CHARS:
        text = text[: _ERROR_SAMPLE_CHARS - 3] + "..."
    return text


def _check_positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


class TableStore:
    """Rows keyed by ``key``, kept in first-insertion order (oldest first, newest last).

    - ``apply(row)`` upserts: a new key appends a row; a known key merges the given fields into the
      existing row and keeps its position. A list applies each element in order (a batch).
    - ``delete(key)`` removes a row. Past ``max_rows`` the oldest row (first inserted) is evicted.
    - A row that is not a dict or lacks ``key`` is not applied: it is counted in ``errors`` and
      described in ``last_error``.
    - ``columns``: the given list, or every field seen so far in first-seen order.
    - ``drain()`` returns what changed since the previous drain (or ``None``) and increments
      ``seq``; ``snapshot()`` returns the whole state at the current ``seq``.
    """

    def __init__(
        self,
        key: str = "id",
        max_rows: int = 10_000,
        columns: Iterable[str] | None = None,
    ) -> None:
        if not isinstance(key, str) or not key:
            raise ValueError(f"key must be a non-empty string, got {key!r}")
        self.key = key
        self.max_rows = _check_positive_int("max_rows", max_rows)
        # OrderedDict: evicting the oldest row is O(1) (popitem(last=False)); a plain dict scans
        # over the holes left at its front by earlier evictions.
        self._rows: OrderedDict[Hashable, dict[str, Any]] = OrderedDict()
        self._fixed_columns = columns is not None
        self._columns: list[str] = list(columns) if columns is not None else [key]
        self._column_set = set(self._columns)
        self._dirty: dict[Hashable, None] = {}
        self._deleted: dict[Hashable, None] = {}
        self._cleared = False
        self._columns_changed = False
        self.seq = 0
        self.errors = 0
        self.evicted = 0
        self.last_error: str | None = None

    # -- mutation -------------------------------------------------------------------------

    def apply(self, payload: Any) -> None:
        """Upsert one row (a dict) or a batch (a list of dicts)."""
        # One method for both, so the per-message case (a dict) costs a single call.
        if not isinstance(payload, dict):
            if isinstance(payload, list):
                for row in payload:
                    if isinstance(row, dict):
                        self.apply(row)
                    else:
                        self._reject(row)
            else:
                self._reject(payload)
            return
        row = payload
        try:
            k = row[self.key]
            existing = self._rows.get(k)
        except KeyError:
            self._error(f"table row ignored: it has no {self.key!r} field: {_sample(row)}")
            return
        except TypeError:
            self._error(f"table row ignored: its {self.key!r} is not a usable key: {_sample(row)}")
            return
        if existing is None:
            existing = dict(row)
            self._rows[k] = existing
            if len(self._rows) > self.max_rows:
                old, _ = self._rows.popitem(last=False)
                self.evicted += 1
                self._mark_deleted(old)
        else:
            existing.update(row)
        # A key deleted and inserted again within one frame stays in ``_deleted`` too: the view
        # deletes before it upserts, which moves the row to the end as it is in the store.
        self._dirty[k] = None
        if not self._fixed_columns and not self._column_set.issuperset(row):
            seen = self._column_set
            for name in row:
                if name not in seen:
                    seen.add(name)
                    self._columns.append(name)
                    self._columns_changed = True

    def _reject(self, row: Any) -> None:
        self._error(f"table row ignored: expected an object with key {self.key!r}, got {_sample(row)}")

    def delete(self, key: Hashable) -> bool:
        """Remove the row with this key; returns whether it existed."""
        try:
            found = self._rows.pop(key, None) is not None
        except TypeError:
            self._error(f"table delete ignored: {_sample(key)} is not a usable key")
            return False
        if found:
            self._mark_deleted(key)
        return found

    def apply_delete(self, payload: Any) -> None:
        """Delete by a message payload: a key, a row holding the key, or a list of either."""
        items = payload if isinstance(payload, list) else [payload]
        for item in items:
            if isinstance(item, dict):
                if self.key not in item:
                    self._error(f"table delete ignored: it has no {self.key!r} field: "
                                f"{_sample(item)}")
                    continue
                self.delete(item[self.key])
            else:
                self.delete(item)

    def clear(self) -> None:
        """Remove every row."""
        self._rows.clear()
        self._dirty.clear()
        self._deleted.clear()
        self._cleared = True

    def _mark_deleted(self, key: Hashable) -> None:
        self._dirty.pop(key, None)
        self._deleted[key] = None

    def _error(self, message: str) -> None:
        self.errors += 1
        self.last_error = message

    # -- reading --------------------------------------------------------------------------

    @property
    def columns(self) -> list[str]:
        return list(self._columns)

    @property
    def rows(self) -> list[dict[str, Any]]:
        """Copies of the rows, oldest first."""
        return [dict(row) for row in self._rows.values()]

    def get(self, key: Hashable) -> dict[str, Any] | None:
        row = self._rows.get(key)
        return None if row is None else dict(row)

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, key: object) -> bool:
        try:
            return key in self._rows
        except TypeError:
            return False

    @property
    def dirty(self) -> bool:
        """Whether something changed since the last drain."""
        return bool(self._dirty or self._deleted or self._cleared or self._columns_changed)

    def drain(self) -> dict[str, Any] | None:
        """The changes since the previous drain as a delta body, or ``None`` when nothing changed.

        Keys: ``seq``; ``clear`` (True: drop every row), ``delete`` (keys), ``upsert`` (full rows:
        merge into a known key, append a new one), ``columns`` (when changed). A view applies them
        in that order (clear, delete, upsert) and then holds the store's rows in the store's order.
        The rows are the store's own dicts: serialise the delta before the store changes again.
        """
        if not self.dirty:
            return None
        self.seq += 1
        delta: dict[str, Any] = {"seq": self.seq}
        if self._cleared:
            delta["clear"] = True
        rows = self._rows
        if self._dirty:
            delta["upsert"] = [rows[k] for k in self._dirty]
        # After a clear the view holds nothing that deletions could still apply to.
        if self._deleted and not self._cleared:
            delta["delete"] = list(self._deleted)
        if self._columns_changed:
            delta["columns"] = list(self._columns)
        self._dirty = {}
        self._deleted = {}
        self._cleared = False
        self._columns_changed = False
        return delta

    def snapshot(self) -> dict[str, Any]:
        """The whole state at ``seq``: ``seq``, ``key``, ``columns``, ``rows`` (oldest first)."""
        return {
            "seq": self.seq,
            "key": self.key,
            "columns": list(self._columns),
            "rows": list(self._rows.values()),
        }


class Alert:
    """A threshold crossing reported by :class:`MetricsStore`."""

    __slots__ = ("name", "threshold", "value", "when")

    def __init__(self, name: str, when: Literal["above", "below"], threshold: float,
                 value: float) -> None:
        self.name = name
        self.when = when
        self.threshold = threshold
        self.value = value

    @property
    def message(self) -> str:
        return f"{self.name} is {self.value:g}, {self.when} {self.threshold:g}"

    def __repr__(self) -> str:
        return f"Alert({self.message!r})"


class MetricsStore:
    """Latest value and a bounded history per numeric series.

    ``apply({"cpu": 41.5, "mem": 62})`` merges into ``latest`` and appends ``(t, value)`` to each
    series' history (at most ``history`` points). Values that are not finite numbers (strings,
    booleans, nested objects, NaN) are ignored and counted in ``ignored``. ``t`` is the given time
    or ``clock()`` (epoch seconds).

    Thresholds: ``set_threshold("cpu", above=90)`` calls ``on_alert(Alert)`` each time a series
    moves into breach (edge-triggered: once per crossing, not once per value while it stays beyond).
    """

    def __init__(
        self,
        history: int = 300,
        *,
        series: Iterable[str] | None = None,
        thresholds: Mapping[str, Mapping[str, float]] | None = None,
        on_alert: Callable[[Alert], None] | None = None,
        clock: Clock = time.time,
    ) -> None:
        self.history_size = _check_positive_int("history", history)
        self._clock = clock
        self.latest: dict[str, float] = {}
        self._history: dict[str, deque[tuple[float, float]]] = {}
        self.series: list[str] | None = list(series) if series is not None else None
        self.thresholds: dict[str, dict[str, float]] = {}
        self._breached: dict[str, bool] = {}
        self.on_alert = on_alert
        self.ignored = 0
        self.seq = 0
        # Points appended since the last drain, per series; _pairs holds (history, pending) per series
        # so the per-value path does one lookup.
        self._append: dict[str, deque[tuple[float, float]]] = {}
        self._pairs: dict[str, tuple[deque[tuple[float, float]], deque[tuple[float, float]]]] = {}
        self._fresh = False
        self._config_changed = False
        for name, bounds in (thresholds or {}).items():
            self.set_threshold(name, **bounds)

    def set_threshold(self, name: str, *, above: float | None = None,
                      below: float | None = None) -> None:
        """Alert when ``name`` rises above ``above`` or falls below ``below``; both None removes."""
        bounds: dict[str, float] = {}
        for label, bound in (("above", above), ("below", below)):
            if bound is None:
                continue
            if isinstance(bound, bool) or not isinstance(bound, int | float):
                raise ValueError(f"threshold {label} for {name!r} must be a number, got {bound!r}")
            bounds[label] = float(bound)
        if bounds:
            self.thresholds[name] = bounds
        else:
            self.thresholds.pop(name, None)
        self._breached.pop(name, None)
        self._config_changed = True

    def set_series(self, series: Iterable[str] | None) -> None:
        """Names of the series a view shows, or ``None`` for all."""
        self.series = list(series) if series is not None else None
        self._config_changed = True

    def apply(self, payload: Any, t: float | None = None) -> None:
        """Merge a ``{name: number}`` payload (a list applies each element in order)."""
        if isinstance(payload, list):
            for item in payload:
                self.apply(item, t)
            return
        if not isinstance(payload, dict):
            self.ignored += 1
            return
        when = self._clock() if t is None else t
        # The hot path (every message of a metrics feed): exact type checks and local names.
        # type() rather than isinstance() also leaves out bool, which is an int.
        latest = self.latest
        pairs = self._pairs
        thresholds = self.thresholds
        isfinite = math.isfinite
        self._fresh = True
        for name, value in payload.items():
            kind = type(value)
            if not ((kind is float and isfinite(value)) or kind is int):
                if isinstance(value, int | float) and not isinstance(value, bool) and isfinite(value):
                    self._record(name, when, value)  # a subclass of int or float
                else:
                    self.ignored += 1
                continue
            # A name seen before is known to be a string: _record checked it on first sight.
            pair = pairs.get(name)
            if pair is None:
                self._record(name, when, value)
                continue
            latest[name] = value
            point = (when, value)
            pair[0].append(point)
            pair[1].append(point)
            if thresholds:
                bounds = thresholds.get(name)
                if bounds is not None:
                    self._check(name, value, bounds)

    def _record(self, name: Any, t: float, value: float) -> None:
        if not isinstance(name, str):
            self.ignored += 1
            return
        self._fresh = True
        self.latest[name] = value
        point = (t, value)
        series = self._history.get(name)
        if series is None:
            series = self._history[name] = deque(maxlen=self.history_size)
            self._append[name] = deque(maxlen=self.history_size)
            self._pairs[name] = (series, self._append[name])
        series.append(point)
        self._append[name].append(point)
        bounds = self.thresholds.get(name)
        if bounds is not None:
            self._check(name, value, bounds)

    def _check(self, name: str, value: float, bounds: dict[str, float]) -> None:
        above = bounds.get("above")
        below = bounds.get("below")
        crossed: tuple[Literal["above", "below"], float] | None = None
        if above is not None and value > above:
            crossed = ("above", above)
        elif below is not None and value < below:
            crossed = ("below", below)
        was = self._breached.get(name, False)
        self._breached[name] = crossed is not None
        if crossed is not None and not was and self.on_alert is not None:
            self.on_alert(Alert(name, crossed[0], crossed[1], value))

    def history(self, name: str) -> list[tuple[float, float]]:
        """The ``(t, value)`` points of one series, oldest first."""
        return list(self._history.get(name, ()))

    @property
    def names(self) -> list[str]:
        return list(self._history)

    @property
    def dirty(self) -> bool:
        return self._fresh or self._config_changed

    def drain(self) -> dict[str, Any] | None:
        """``{"seq", "latest": changed values, "append": {name: [[t, v], ...]}}`` or ``None``.

        ``series``/``thresholds`` are included when they changed.
        """
        if not self.dirty:
            return None
        self.seq += 1
        delta: dict[str, Any] = {"seq": self.seq}
        if self._fresh:
            self._fresh = False
            appended = {name: points for name, points in self._append.items() if points}
            delta["latest"] = {name: self.latest[name] for name in appended}
            delta["append"] = {name: [list(p) for p in points] for name, points in appended.items()}
            for points in appended.values():
                points.clear()
        if self._config_changed:
            delta["series"] = self.series
            delta["thresholds"] = {k: dict(v) for k, v in self.thresholds.items()}
            self._config_changed = False
        return delta

    def snapshot(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "latest": dict(self.latest),
            "history": {name: [list(p) for p in points] for name, points in self._history.items()},
            "series": self.series,
            "thresholds": {k: dict(v) for k, v in self.thresholds.items()},
        }


class NotificationStore:
    """The last ``limit`` notifications, each ``{id, level, title, message, timestamp, source}``.

    >>> store = NotificationStore(limit=2, clock=lambda: 0.0)
    >>> store.add("warning", "Disk", "92% used")["timestamp"]
    '1970-01-01T00:00:00+00:00'
    """

    def __init__(self, limit: int = 200, *, clock: Clock = time.time) -> None:
        self.limit = _check_positive_int("limit", limit)
        self._clock = clock
        self._items: deque[dict[str, Any]] = deque(maxlen=self.limit)
        self._pending: deque[dict[str, Any]] = deque(maxlen=self.limit)
        self._next_id = 1
        self.seq = 0
        self._listeners: list[Callable[[dict[str, Any]], None]] = []

    def add(self, level: str = "info", title: str = "", message: str = "",
            source: str = "server", timestamp: str | None = None) -> dict[str, Any]:
        """Append a notification and return it. Unknown levels become ``"info"``."""
        item = {
            "id": self._next_id,
            "level": level if level in LEVELS else "info",
            "title": str(title),
            "message": str(message),
            "timestamp": timestamp if isinstance(timestamp, str) else
            datetime.fromtimestamp(self._clock(), UTC).isoformat(),
            "source": str(source),
        }
        self._next_id += 1
        self._items.append(item)
        self._pending.append(item)
        for listener in list(self._listeners):
            listener(item)
        return item

    def apply(self, payload: Any, source: str = "server",
              timestamp: str | None = None) -> dict[str, Any] | None:
        """Add from a message payload: a string (the message) or an object with ``level``,
        ``title``, ``message`` (or ``text``/``body``), optional ``timestamp``/``source``."""
        if isinstance(payload, str):
            return self.add("info", "", payload, source, timestamp)
        if not isinstance(payload, dict):
            return self.add("info", "", _sample(payload), source, timestamp)
        message = payload.get("message", payload.get("text", payload.get("body", "")))
        ts = payload.get("timestamp", timestamp)
        return self.add(
            str(payload.get("level", "info")).lower(),
            payload.get("title", ""),
            message if isinstance(message, str) else _sample(message),
            str(payload.get("source", source)),
            ts if isinstance(ts, str) else timestamp,
        )

    def subscribe(self, listener: Callable[[dict[str, Any]], None]) -> Callable[[], None]:
        """Call ``listener(item)`` for every new notification; returns an unsubscribe function."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    @property
    def items(self) -> list[dict[str, Any]]:
        """Copies of the kept notifications, oldest first."""
        return [dict(item) for item in self._items]

    def __len__(self) -> int:
        return len(self._items)

    @property
    def dirty(self) -> bool:
        return bool(self._pending)

    def drain(self) -> dict[str, Any] | None:
        """``{"seq", "add": [items]}`` or ``None``."""
        if not self._pending:
            return None
        self.seq += 1
        delta = {"seq": self.seq, "add": list(self._pending)}
        self._pending.clear()
        return delta

    def snapshot(self) -> dict[str, Any]:
        return {"seq": self.seq, "items": list(self._items)}

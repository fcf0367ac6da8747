"""The store behind a live chart: bounded time series from metrics-shaped payloads or from rows.

Pure logic: no asyncio, no widgets. Two shapes of message feed it:

- metrics-shaped payloads (``by`` is None): each numeric field is a series (or only the fields named
  by ``y``), ``{"cpu": 41.5, "mem": "62"}`` adds a point to ``cpu`` and one to ``mem``;
- rows (``by`` a field name, ``y`` the numeric field or fields): the value of ``by`` names the
  series, ``{"symbol": "AAPL", "price": "187.2"}`` adds a point to ``AAPL``.

Numbers may arrive as numeric strings (``"187.2"``), as most exchange feeds send them. A point's time
is its message's own timestamp when it has one (ISO-8601 text or epoch seconds), else the time it
arrived. Everything is bounded: at most ``max_series`` series (points of further series are dropped
and counted) and ``max_points`` points per series (the oldest go first).

:meth:`ChartStore.drain` returns only the points added since the previous drain, in columns: one
entry per series ``{"s": index, "t": [...], "v": [...]}``, where ``t`` is left out when it is the
same list as the entry before it (the series of one metrics payload share their times).

Message handlers :meth:`~ChartStore.queue` payloads: they are kept as they came (with their point
time, read at once) and applied when the store is read, or when :data:`INBOX_LIMIT` of them wait,
in one pass per series when they are metrics payloads of the series already known (a store nobody
reads for a while, the explorer's chart of a tab not open, costs a list append per message then).

>>> store = ChartStore(clock=lambda: 100.0)
>>> store.apply({"cpu": 41.5, "mem": "62", "host": "a"}, "1970-01-01T00:01:40Z")
>>> store.drain()
{'seq': 1, 'series': ['cpu', 'mem'], 'append': [{'s': 0, 't': [100.0], 'v': [41.5]}, {'s': 1, 'v': [62.0]}]}
>>> rows = ChartStore(y="price", by="symbol", clock=lambda: 5.0)
>>> rows.apply([{"symbol": "AAPL", "price": "187.2"}, {"symbol": "MSFT", "price": 410}])
>>> rows.names, rows.points("AAPL")
(['AAPL', 'MSFT'], [(5.0, 187.2)])
"""

from __future__ import annotations

import math
import re
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from itertools import islice, repeat
from typing import Any

from ._batch import metric_columns

__all__ = ["INBOX_LIMIT", "MAX_NAME", "ChartStore", "parse_time", "to_number"]

Clock = Callable[[], float]

# Longer series names are cut (a feed that puts ids in a field must not send megabytes of names).
MAX_NAME = 120
# Names of the series past max_series are remembered (to count them) up to this many.
_OVER_NAMES = 1000
# Queued payloads are applied once this many wait (and whenever the store is read).
INBOX_LIMIT = 256
_NUMBER = re.compile(r"\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*")


def to_number(value: Any) -> float | None:
    """A finite number from a JSON value: ints, floats and numeric strings; ``None`` otherwise
    (booleans, NaN, infinities, other text).

    >>> to_number(3), to_number("187.20"), to_number("1e3"), to_number(True), to_number("n/a")
    (3, 187.2, 1000.0, None, None)
    """
    kind = type(value)
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is int:
        return value  # type: ignore[no-any-return]
    if kind is str:
        if len(value) > 64 or _NUMBER.fullmatch(value) is None:
            return None
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def parse_time(value: Any) -> float | None:
    """Epoch seconds from a message timestamp: ISO-8601 text (no zone: UTC) or a number of seconds;
    ``None`` when it is neither.

    >>> parse_time("1970-01-01T00:01:40.5Z"), parse_time(12.25), parse_time("soon")
    (100.5, 12.25, None)
    """
    kind = type(value)
    if kind is float or kind is int:
        return float(value) if math.isfinite(value) else None
    if kind is str:
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return when.timestamp()
    return None


def _name(value: Any) -> str:
    name = value if isinstance(value, str) else str(value)
    return name if len(name) <= MAX_NAME else name[: MAX_NAME - 1] + "…"


def _check_positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def _fields(name: str, value: str | Sequence[str] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    fields = (value,) if isinstance(value, str) else tuple(value)
    if not fields or not all(isinstance(f, str) and f for f in fields):
        raise ValueError(f"{name} must be a field name or a list of field names, got {value!r}")
    return fields


class ChartStore:
    """Points of up to ``max_series`` series, at most ``max_points`` each, oldest first.

    ``y``: the field (or fields) to plot; ``None`` plots every numeric field. ``by``: the field whose
    value names the series (rows); it needs ``y``. With several ``y`` fields and a ``by``, series are
    named ``"<by value> <field>"``. Not thread-safe: use a store from one thread.
    """

    def __init__(self, y: str | Sequence[str] | None = None, by: str | None = None, *,
                 max_series: int = 32, max_points: int = 10_000, clock: Clock = time.time
                 ) -> None:
        self.y = _fields("y", y)
        if by is not None and (not isinstance(by, str) or not by):
            raise ValueError(f"by must be a field name, got {by!r}")
        if by is not None and self.y is None:
            raise ValueError(
                "by= splits one numeric field into a series per value: name that field with y= "
                f"too, e.g. chart(type, y='price', by={by!r})")
        self.by = by
        self.max_series = _check_positive_int("max_series", max_series)
        self.max_points = _check_positive_int("max_points", max_points)
        self._clock = clock
        self._names: list[str] = []
        self._index: dict[str, int] = {}
        self._times: list[deque[float]] = []
        self._values: list[deque[float]] = []
        # Points added to each series since the last drain (only the newest max_points matter).
        self._new: list[int] = []
        self._named = 0  # names already sent in a delta
        self._fresh = False
        self._over: set[str] = set()
        self._dropped_points = 0
        self._ignored = 0
        # Queued payloads and their point times, not applied yet (see queue).
        self._inbox: list[Any] = []
        self._inbox_times: list[float] = []
        self._reported: tuple[int, int, int] = (0, 0, 0)
        self._last_text: str | None = None
        self._last_time = 0.0
        self.seq = 0

    # -- mutation -------------------------------------------------------------------------

    def apply(self, payload: Any, timestamp: Any = None) -> None:
        """Add the points of one message payload (a list: each element, all at one time).
        ``timestamp`` is the message's own (``Message.timestamp``); ``None``: now."""
        if self._inbox:
            self._settle()
        self._apply_at(payload, self._time(timestamp))

    def apply_many(self, payloads: Iterable[Any], timestamps: Iterable[Any]) -> None:
        """``apply`` each payload with its timestamp, in order."""
        for payload, timestamp in zip(payloads, timestamps, strict=True):
            self.apply(payload, timestamp)

    def queue(self, payload: Any, timestamp: Any = None) -> None:
        """Like ``apply``, applied when the store is next read: the fast path for handlers. The
        point time is read now (``None``: the time it arrived)."""
        inbox = self._inbox
        inbox.append(payload)
        # The messages of a frame, or of a feed's tick, share their timestamp text: no call then.
        self._inbox_times.append(self._last_time if timestamp == self._last_text
                                 and timestamp is not None else self._time(timestamp))
        if len(inbox) >= INBOX_LIMIT:
            self._settle()

    def queue_many(self, payloads: list[Any], timestamps: Sequence[Any] | None = None) -> None:
        """``queue`` each payload with its timestamp (``None``: every one now), in order."""
        if timestamps is not None and len(timestamps) != len(payloads):
            raise ValueError(f"{len(payloads)} payloads but {len(timestamps)} timestamps")
        if len(payloads) == 0:
            return
        self._inbox_times += (repeat(self._time(None), len(payloads)) if timestamps is None
                              else map(self._time, timestamps))
        self._inbox += payloads
        if len(self._inbox) >= INBOX_LIMIT:
            self._settle()

    def _settle(self) -> None:
        """Apply the queued payloads, in order."""
        payloads = self._inbox
        if not payloads:
            return
        times = self._inbox_times
        self._inbox = []
        self._inbox_times = []
        if not self._settle_by_series(payloads, times):
            for payload, t in zip(payloads, times, strict=True):
                self._apply_at(payload, t)

    def _settle_by_series(self, payloads: list[Any], times: list[float]) -> bool:
        """Apply metrics payloads (``by`` None) that all hold exactly the same series, each known
        already, with int or float values: a column per series; ``False`` (nothing applied) when
        they need the payload-by-payload path. Its result is that path's."""
        if self.by is not None or type(payloads[0]) is not dict:
            return False
        names = self.y if self.y is not None else tuple(payloads[0])
        if self.y is not None and len(set(names)) != len(names):
            return False  # a field named twice: its points alternate, payload by payload
        index = self._index
        if not all(type(name) is str and name in index for name in names):
            return False
        columns = metric_columns(payloads, names)
        if columns is None:
            return False
        new = self._new
        for name, values in zip(names, columns, strict=True):
            i = index[name]
            self._times[i].extend(times)
            self._values[i].extend(values)
            new[i] += len(values)
        self._fresh = True
        return True

    def _apply_at(self, payload: Any, t: float) -> None:
        if type(payload) is list:
            for item in payload:
                self._add_item(item, t)
        else:
            self._add_item(payload, t)

    def _time(self, timestamp: Any) -> float:
        if timestamp is None:
            return round(self._clock(), 3)
        if type(timestamp) is str:
            # Messages of one frame often share their timestamp text: parse it once.
            if timestamp == self._last_text:
                return self._last_time
            parsed = parse_time(timestamp)
            if parsed is None:
                return round(self._clock(), 3)
            self._last_text = timestamp
            self._last_time = t = round(parsed, 3)
            return t
        parsed = parse_time(timestamp)
        return round(self._clock() if parsed is None else parsed, 3)

    def _add_item(self, item: Any, t: float) -> None:
        if type(item) is not dict:
            self._ignored += 1
            return
        y = self.y
        if self.by is None:
            if y is None:
                for name, value in item.items():
                    number = to_number(value)
                    if number is not None:
                        self._add(name, t, number)
                return
            for name in y:
                number = to_number(item.get(name))
                if number is None:
                    self._ignored += 1
                else:
                    self._add(name, t, number)
            return
        label = item.get(self.by)
        if label is None or y is None:
            self._ignored += 1
            return
        single = len(y) == 1
        for name in y:
            number = to_number(item.get(name))
            if number is None:
                self._ignored += 1
            else:
                self._add(label if single else f"{label} {name}", t, number)

    def _add(self, name: Any, t: float, value: float) -> None:
        index = self._index.get(name) if type(name) is str else None
        if index is None:
            index = self._new_series(name)
            if index is None:
                return
        self._times[index].append(t)
        self._values[index].append(value)
        self._new[index] += 1
        self._fresh = True

    def _new_series(self, raw: Any) -> int | None:
        name = _name(raw)
        index = self._index.get(name)
        if index is not None:  # a cut or non-string name seen before
            return index
        if len(self._names) >= self.max_series:
            self._dropped_points += 1
            if len(self._over) < _OVER_NAMES:
                self._over.add(name)
            return None
        index = len(self._names)
        self._names.append(name)
        self._index[name] = index
        self._times.append(deque(maxlen=self.max_points))
        self._values.append(deque(maxlen=self.max_points))
        self._new.append(0)
        return index

    # -- reading --------------------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        """The series, in the order they first appeared."""
        self._settle()
        return list(self._names)

    @property
    def dropped_series(self) -> int:
        """Series not kept because ``max_series`` were already there (counted up to 1,000)."""
        self._settle()
        return len(self._over)

    @property
    def dropped_points(self) -> int:
        """Points not kept: those of the series past ``max_series``."""
        self._settle()
        return self._dropped_points

    @property
    def ignored(self) -> int:
        """Values not plotted: not numbers, or items without the fields."""
        self._settle()
        return self._ignored

    def points(self, name: str) -> list[tuple[float, float]]:
        """The ``(t, value)`` points of one series, oldest first (t in epoch seconds)."""
        self._settle()
        index = self._index.get(name)
        if index is None:
            return []
        return list(zip(self._times[index], self._values[index], strict=True))

    def __len__(self) -> int:
        """Points held, over all series."""
        self._settle()
        return sum(map(len, self._values))

    @property
    def dirty(self) -> bool:
        self._settle()
        return self._fresh or self._named < len(self._names) or self._counts() != self._reported

    def _counts(self) -> tuple[int, int, int]:
        return (len(self._over), self._dropped_points, self._ignored)

    def _columns(self, new: Sequence[int] | None) -> list[dict[str, Any]]:
        """Per series with points to send: ``{"s", "t"?, "v"}``, the last ``new[i]`` points of
        series ``i`` (every point when ``new`` is None)."""
        out: list[dict[str, Any]] = []
        previous: list[float] | None = None
        for index, (times, values) in enumerate(zip(self._times, self._values, strict=True)):
            n = len(times) if new is None else min(new[index], len(times))
            if n == 0:
                continue
            start = len(times) - n
            t = list(islice(times, start, None))
            column: dict[str, Any] = {"s": index}
            if t != previous:
                column["t"] = t
                previous = t
            column["v"] = list(islice(values, start, None))
            out.append(column)
        return out

    def drain(self) -> dict[str, Any] | None:
        """What changed since the previous drain, or ``None``: ``seq``; ``series`` (names of new
        series, which take the next indexes); ``append`` (columns of the new points);
        ``dropped_series``, ``dropped_points``, ``ignored`` when they changed."""
        if not self.dirty:
            return None
        self.seq += 1
        delta: dict[str, Any] = {"seq": self.seq}
        if self._named < len(self._names):
            delta["series"] = self._names[self._named:]
            self._named = len(self._names)
        if self._fresh:
            self._fresh = False
            delta["append"] = self._columns(self._new)
            self._new = [0] * len(self._new)
        counts = self._counts()
        if counts != self._reported:
            self._reported = counts
            delta["dropped_series"], delta["dropped_points"], delta["ignored"] = counts
        return delta

    def snapshot(self) -> dict[str, Any]:
        """The whole state at ``seq``: every series and point, the bounds and the counters."""
        self._settle()
        return {
            "seq": self.seq,
            "series": list(self._names),
            "columns": self._columns(None),
            "max_series": self.max_series,
            "max_points": self.max_points,
            "dropped_series": len(self._over),
            "dropped_points": self._dropped_points,
            "ignored": self._ignored,
        }


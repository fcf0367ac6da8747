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
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Mapping
from datetime import UTC, datetime
from itertools import islice, repeat
from operator import itemgetter
from typing import Any, Literal

from ._batch import coalesce_rows, metric_columns

__all__ = ["Alert", "MetricsStore", "NotificationStore", "TableStore"]

Clock = Callable[[], float]
Level = Literal["info", "success", "warning", "error"]
LEVELS: tuple[str, ...] = ("info", "success", "warning", "error")

_ERROR_SAMPLE_CHARS = 80
# Rows (or metrics payloads) a store queues before it applies them without being read. It bounds the
# memory of a store nobody reads; a longer queue applies in fewer passes but its messages no longer
# fit in the CPU cache (bench.ingest, batched: 256 and 1,024 alike, 4,096 12% slower).
INBOX_LIMIT = 256


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

    ``queue(row)`` is ``apply`` for message handlers: every read (``rows``, ``len``, ``drain``,
    ``errors``, ...) and every ``apply``/``delete`` applies the queue first, in arrival order, so
    what a reader sees is as if each row had been applied on arrival. Applying many rows together
    is what makes a fast feed cheap: when each key's last queued row holds every field, earlier rows
    of that key are superseded, and the last one is stored without a copy (see
    ``_settle_coalesced``). Stored rows are never changed in place (a merge makes a new dict), so a
    row handed out in a delta or kept by the caller stays as it was. Not thread-safe: use a store
    from one thread.
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
        # A plain dict keeps rows in insertion order and stores a row ~6x faster than an
        # OrderedDict, but finding its oldest key scans the holes earlier evictions left at its
        # front. So the insertion order is also kept as (key, generation) pairs, oldest first:
        # ``_born`` says which generation of a key is current, and the pairs of deleted keys are
        # skipped when they reach the front (or dropped when the deque is compacted).
        self._rows: dict[Hashable, dict[str, Any]] = {}
        self._order: deque[tuple[Hashable, int]] = deque()
        self._born: dict[Hashable, int] = {}
        self._generation = 0
        self._key_of = itemgetter(key)
        self._fixed_columns = columns is not None
        self._columns: list[str] = list(columns) if columns is not None else [key]
        # Every field seen in any row (with fixed columns, also those not shown).
        self._fields: set[str] = set(self._columns)
        self._inbox: list[Any] = []
        self._dirty: dict[Hashable, object] = {}
        # The row each key had in the last delta (what a view holds), to send only what changed.
        self._sent: dict[Hashable, dict[str, Any]] = {}
        self._deleted: dict[Hashable, None] = {}
        self._cleared = False
        self._columns_changed = False
        self.seq = 0
        self._errors = 0
        self._evicted = 0
        self._last_error: str | None = None

    # -- mutation -------------------------------------------------------------------------

    def apply(self, payload: Any) -> None:
        """Upsert one row (a dict) or a batch (a list of dicts), now (after anything queued)."""
        if self._inbox:
            self._settle()
        self._apply_each([payload], adopt=False)

    def queue(self, payload: Any) -> None:
        """Like ``apply``, applied on the next read: the fast path for message handlers.

        The store keeps the payload object (it does not copy a row that holds every field): pass
        an object nobody changes afterwards, such as a decoded message's payload.
        """
        inbox = self._inbox
        if not inbox and type(payload) is dict and len(payload) == len(self._fields):
            # A row that holds every field seen so far (the common row of a feed) replaces the
            # stored one as it is: applied now, while it is still in the CPU cache.
            rows = self._rows
            try:
                k = payload[self.key]
                known = k in rows
                if self._fields.issuperset(payload) and (known or len(rows) < self.max_rows):
                    rows[k] = payload
                    if not known:
                        self._inserted(k)
                    self._dirty[k] = None
                    return
            except (KeyError, TypeError):
                pass  # the row-by-row path reports it
        inbox.append(payload)
        if len(inbox) >= INBOX_LIMIT:
            self._settle()

    def queue_many(self, payloads: list[Any]) -> None:
        """``queue`` each of ``payloads`` in order (the store keeps the list's elements)."""
        inbox = self._inbox
        inbox += payloads
        if len(inbox) >= INBOX_LIMIT:
            self._settle()

    def _settle(self) -> None:
        """Apply the queued rows, in order."""
        batch = self._inbox
        if not batch:
            return
        self._inbox = []
        if not self._settle_coalesced(batch):
            self._apply_each(batch, adopt=True)

    def _apply_each(self, payloads: list[Any], adopt: bool) -> None:
        for payload in payloads:
            for row in payload if isinstance(payload, list) else (payload,):
                if isinstance(row, dict):
                    self._upsert(row, adopt)
                else:
                    self._reject(row)

    def _settle_coalesced(self, batch: list[Any]) -> bool:
        """Apply ``batch`` with one pass over its rows (``_batch.coalesce_rows``) and one store per
        key; ``False`` (nothing applied) when it needs the row-by-row path: non-dict or keyless rows,
        a new field, or an eviction of a row the batch also holds."""
        coalesced = coalesce_rows(batch, self.key, self._fields)
        if coalesced is None:
            return False
        last, whole = coalesced
        rows = self._rows
        room = self.max_rows - len(rows)
        if len(last) > room:
            # Known keys take no room; each new key past it evicts the oldest row. When none of
            # those rows is in the batch, evicting them first gives what row by row gives.
            excess = len(last.keys() - rows.keys()) - room
            if excess > 0:
                oldest = self._oldest(excess)
                if len(oldest) < excess or not last.keys().isdisjoint(oldest):
                    return False
                for _ in oldest:
                    self._mark_deleted(self._evict_oldest())
                self._evicted += excess
        before = len(rows)
        if whole:
            # The last row of each key holds every field ever seen, so every field that earlier
            # rows of that key (or the stored row) could hold: merging all of them in order gives
            # that last row. It becomes the stored row as it is (stored rows are never changed).
            rows.update(last)
        else:
            get = rows.get
            for k, row in zip(map(self._key_of, batch), batch, strict=True):
                existing = get(k)
                rows[k] = row if existing is None else existing | row
        if len(rows) != before:  # new keys, in the order they came
            born = self._born
            new = [k for k in last if k not in born]
            generations = range(self._generation + 1, self._generation + 1 + len(new))
            self._generation += len(new)
            born.update(zip(new, generations, strict=True))
            self._order.extend(zip(new, generations, strict=True))
        self._dirty.update(last)  # only the keys matter: no dict made for them
        return True

    def _upsert(self, row: dict[str, Any], adopt: bool) -> None:
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
            self._rows[k] = row if adopt else dict(row)
            self._inserted(k)
            if len(self._rows) > self.max_rows:
                self._mark_deleted(self._evict_oldest())
                self._evicted += 1
        else:
            # A new dict, never a change in place: the stored row may be a queued payload, or in
            # a delta that is still being sent. Reassigning a key keeps its position.
            self._rows[k] = existing | row
        # A key deleted and inserted again within one frame stays in ``_deleted`` too: the view
        # deletes before it upserts, which moves the row to the end as it is in the store.
        self._dirty[k] = None
        if not self._fields.issuperset(row):
            fields = self._fields
            for name in row:
                if name not in fields:
                    fields.add(name)
                    if not self._fixed_columns:
                        self._columns.append(name)
                        self._columns_changed = True

    def _inserted(self, k: Hashable) -> None:
        """Record that ``k`` was just added to the rows (it is the newest)."""
        self._generation += 1
        self._born[k] = self._generation
        self._order.append((k, self._generation))

    def _evict_oldest(self) -> Hashable:
        """Remove the row inserted first; returns its key."""
        order = self._order
        born = self._born
        while True:
            k, generation = order.popleft()
            if born.get(k) == generation:
                del born[k]
                del self._rows[k]
                return k

    def _oldest(self, n: int) -> list[Hashable]:
        """The keys of the ``n`` rows inserted first (fewer when the table holds fewer)."""
        born = self._born
        found: list[Hashable] = []
        for k, generation in self._order:
            if len(found) == n:
                break
            if born.get(k) == generation:
                found.append(k)
        return found

    def _forget(self, k: Hashable) -> None:
        """Record that ``k`` was deleted: its pair stays in the order until it reaches the front,
        or until the pairs of deleted keys outnumber the rows and the order is rebuilt."""
        del self._born[k]
        if len(self._order) > 2 * len(self._rows) + 1024:
            born = self._born
            self._order = deque((key, born[key]) for key in self._rows)

    def _reject(self, row: Any) -> None:
        self._error(f"table row ignored: expected an object with key {self.key!r}, got {_sample(row)}")

    def delete(self, key: Hashable) -> bool:
        """Remove the row with this key; returns whether it existed."""
        self._settle()
        try:
            found = self._rows.pop(key, None) is not None
        except TypeError:
            self._error(f"table delete ignored: {_sample(key)} is not a usable key")
            return False
        if found:
            self._forget(key)
            self._mark_deleted(key)
        return found

    def apply_delete(self, payload: Any) -> None:
        """Delete by a message payload: a key, a row holding the key, or a list of either."""
        items = payload if isinstance(payload, list) else [payload]
        for item in items:
            if isinstance(item, dict):
                if self.key not in item:
                    self._settle()
                    self._error(f"table delete ignored: it has no {self.key!r} field: "
                                f"{_sample(item)}")
                    continue
                self.delete(item[self.key])
            else:
                self.delete(item)

    def clear(self) -> None:
        """Remove every row."""
        self._settle()
        self._rows.clear()
        self._order.clear()
        self._born.clear()
        self._dirty.clear()
        self._deleted.clear()
        self._sent.clear()
        self._cleared = True

    def _mark_deleted(self, key: Hashable) -> None:
        self._dirty.pop(key, None)
        self._sent.pop(key, None)
        self._deleted[key] = None

    def _error(self, message: str) -> None:
        self._errors += 1
        self._last_error = message

    # -- reading (each applies the queue first) -------------------------------------------

    @property
    def errors(self) -> int:
        """Rows not applied (not an object, or without a usable key)."""
        self._settle()
        return self._errors

    @property
    def last_error(self) -> str | None:
        self._settle()
        return self._last_error

    @property
    def evicted(self) -> int:
        """Rows removed to stay within ``max_rows``."""
        self._settle()
        return self._evicted

    @property
    def columns(self) -> list[str]:
        self._settle()
        return list(self._columns)

    @property
    def rows(self) -> list[dict[str, Any]]:
        """Copies of the rows, oldest first."""
        self._settle()
        return [dict(row) for row in self._rows.values()]

    def get(self, key: Hashable) -> dict[str, Any] | None:
        self._settle()
        row = self._rows.get(key)
        return None if row is None else dict(row)

    def __len__(self) -> int:
        self._settle()
        return len(self._rows)

    def __contains__(self, key: object) -> bool:
        self._settle()
        try:
            return key in self._rows
        except TypeError:
            return False

    @property
    def dirty(self) -> bool:
        """Whether something changed since the last drain."""
        self._settle()
        return bool(self._dirty or self._deleted or self._cleared or self._columns_changed)

    def drain(self) -> dict[str, Any] | None:
        """The changes since the previous drain as a delta body, or ``None`` when nothing changed.

        Keys: ``seq``; ``clear`` (True: drop every row), ``delete`` (keys), ``upsert`` (rows: a new
        row whole, a row sent before as the key and the fields that changed since; merge into a
        known key, append a new one), ``columns`` (when changed). A view applies them in that order
        (clear, delete, upsert) and then holds the store's rows in the store's order. Do not change
        the rows: whole ones are the store's own.
        """
        if not self.dirty:
            return None
        upsert: list[dict[str, Any]] = []
        if self._dirty:
            rows = self._rows
            sent = self._sent
            key = self.key
            for k in self._dirty:
                row = rows[k]
                before = sent.get(k)
                if before is row:
                    continue
                sent[k] = row  # stored rows are never changed in place: a reference will do
                if before is None:
                    upsert.append(row)
                    continue
                changed = {name: value for name, value in row.items()
                           if name not in before or before[name] != value}
                if changed:
                    changed[key] = k
                    upsert.append(changed)
            self._dirty = {}
        if not (upsert or self._deleted or self._cleared or self._columns_changed):
            return None
        self.seq += 1
        delta: dict[str, Any] = {"seq": self.seq}
        if self._cleared:
            delta["clear"] = True
        if upsert:
            delta["upsert"] = upsert
        # After a clear the view holds nothing that deletions could still apply to.
        if self._deleted and not self._cleared:
            delta["delete"] = list(self._deleted)
        if self._columns_changed:
            delta["columns"] = list(self._columns)
        self._deleted = {}
        self._cleared = False
        self._columns_changed = False
        return delta

    def snapshot(self) -> dict[str, Any]:
        """The whole state at ``seq``: ``seq``, ``key``, ``columns``, ``rows`` (oldest first)."""
        self._settle()
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
    or ``clock()`` (epoch seconds) when ``apply`` is called.

    Thresholds: ``set_threshold("cpu", above=90)`` calls ``on_alert(Alert)`` each time a series
    moves into breach (edge-triggered: once per crossing, not once per value while it stays beyond).

    ``queue(payload)`` is ``apply`` for message handlers, as in :class:`TableStore`: it records the
    time now and applies on the next read (at once while a threshold is set, so that alerts are not
    delayed). Applied together, payloads that hold the same series cost a few C-level passes per
    series, and only the last ``history`` points of each are stored. Not thread-safe: use a store
    from one thread.
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
        self._latest: dict[str, float] = {}
        # Each series' history as two columns: no tuple is made per point, and a batch's points are
        # two extends.
        self._history: dict[str, tuple[deque[float], deque[float]]] = {}
        self.series: list[str] | None = list(series) if series is not None else None
        self.thresholds: dict[str, dict[str, float]] = {}
        self._breached: dict[str, bool] = {}
        self.on_alert = on_alert
        self._ignored = 0
        self.seq = 0
        self._inbox: list[Any] = []
        self._inbox_times: list[float] = []
        # Points appended since the last drain, per series: the newest ones of its history.
        self._new: dict[str, int] = {}
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
        # Values that arrived before the change are judged by the thresholds they arrived under.
        self._settle()
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
        """Merge a ``{name: number}`` payload (a list applies each element in order), now."""
        if self._inbox:
            self._settle()
        self._merge_each([payload], [self._clock() if t is None else t])

    def queue(self, payload: Any, t: float | None = None) -> None:
        """Like ``apply``, applied on the next read: the fast path for message handlers."""
        inbox = self._inbox
        inbox.append(payload)
        self._inbox_times.append(self._clock() if t is None else t)
        if self.thresholds or len(inbox) >= INBOX_LIMIT:
            self._settle()

    def queue_many(self, payloads: list[Any], t: float | None = None) -> None:
        """``queue`` each of ``payloads`` in order, all at time ``t`` (default: now)."""
        self._inbox += payloads
        self._inbox_times += repeat(self._clock() if t is None else t, len(payloads))
        if self.thresholds or len(self._inbox) >= INBOX_LIMIT:
            self._settle()

    def _settle(self) -> None:
        payloads = self._inbox
        if not payloads:
            return
        times = self._inbox_times
        self._inbox = []
        self._inbox_times = []
        if not self._settle_by_series(payloads, times):
            self._merge_each(payloads, times)

    def _merge_each(self, payloads: list[Any], times: list[float]) -> None:
        for payload, when in zip(payloads, times, strict=True):
            for item in payload if isinstance(payload, list) else (payload,):
                self._merge(item, when)

    def _settle_by_series(self, payloads: list[Any], times: list[float]) -> bool:
        """Apply payloads that all hold the same known series, a series at a time; ``False``
        (nothing applied) when they need the payload-by-payload path."""
        if self.thresholds or type(payloads[0]) is not dict:
            return False
        # Every payload holds exactly the first one's series, in any order: read in that order,
        # they are the series' columns.
        names = tuple(payloads[0])
        if not self._history.keys() >= set(names):
            return False
        columns = metric_columns(payloads, names)
        if columns is None:
            return False
        history = self._history
        keep = self.history_size
        recent = times[-keep:] if len(times) > keep else times
        latest = self._latest
        new = self._new
        for name, values in zip(names, columns, strict=True):
            latest[name] = values[-1]
            series_times, series_values = history[name]
            series_times.extend(recent)
            series_values.extend(values[-keep:] if len(values) > keep else values)
            new[name] += len(recent)
        self._fresh = True
        return True

    def _merge(self, payload: Any, when: float) -> None:
        if not isinstance(payload, dict):
            self._ignored += 1
            return
        latest = self._latest
        history = self._history
        thresholds = self.thresholds
        isfinite = math.isfinite
        for name, value in payload.items():
            kind = type(value)
            # A subclass of int or float counts; bool, although an int, does not.
            if not (kind is int or (kind is float and isfinite(value))) and (
                    not isinstance(value, int | float) or isinstance(value, bool)
                    or not isfinite(value)):
                self._ignored += 1
                continue
            series = history.get(name)
            if series is None:
                if not isinstance(name, str):
                    self._ignored += 1
                    continue
                keep = self.history_size
                series = history[name] = (deque(maxlen=keep), deque(maxlen=keep))
                self._new[name] = 0
            self._fresh = True
            latest[name] = value
            series[0].append(when)
            series[1].append(value)
            self._new[name] += 1
            if thresholds:
                bounds = thresholds.get(name)
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

    # -- reading (each applies the queue first) -------------------------------------------

    @property
    def latest(self) -> dict[str, float]:
        """The last value of every series (the store's own dict: copy it to keep it)."""
        self._settle()
        return self._latest

    @property
    def ignored(self) -> int:
        """Values ignored because they were not finite numbers (or payloads not objects)."""
        self._settle()
        return self._ignored

    def history(self, name: str) -> list[tuple[float, float]]:
        """The ``(t, value)`` points of one series, oldest first."""
        self._settle()
        series = self._history.get(name)
        return list(zip(*series, strict=True)) if series is not None else []

    @property
    def names(self) -> list[str]:
        self._settle()
        return list(self._history)

    @property
    def dirty(self) -> bool:
        self._settle()
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
            keep = self.history_size
            new = self._new
            appended = {name: min(n, keep) for name, n in new.items() if n}
            delta["latest"] = {name: self._latest[name] for name in appended}
            delta["append"] = {name: self._points(name, n) for name, n in appended.items()}
            for name in appended:
                new[name] = 0
        if self._config_changed:
            delta["series"] = self.series
            delta["thresholds"] = {k: dict(v) for k, v in self.thresholds.items()}
            self._config_changed = False
        return delta

    def _points(self, name: str, n: int) -> list[list[float]]:
        """The last ``n`` points of a series, as ``[t, value]`` lists (oldest first)."""
        times, values = self._history[name]
        start = max(len(times) - n, 0)
        return list(map(list, zip(islice(times, start, None), islice(values, start, None),
                                  strict=True)))

    def snapshot(self) -> dict[str, Any]:
        self._settle()
        return {
            "seq": self.seq,
            "latest": dict(self._latest),
            "history": {name: self._points(name, self.history_size) for name in self._history},
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

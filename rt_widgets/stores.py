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

import json
import math
import re
import time
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Mapping
from datetime import UTC, datetime
from itertools import islice, repeat
from operator import itemgetter
from typing import Any, Literal

import orjson

from ._batch import coalesce_rows, metric_columns

__all__ = ["Alert", "LogStore", "MetricsStore", "NotificationStore", "TableStore", "epoch_seconds",
           "full_text", "log_text", "number_of"]

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


# Longest value a table sends its view, in characters (of a string, or of the JSON of an object or
# list): the view shows 200 of them and the rest on demand, so a feed of 1 MiB rows sends ~4 KB a
# cell. The store keeps the whole value (``rows``, ``get``, ``to_pandas``).
MAX_VALUE_CHARS = 4096


# Largest table snapshot sent to a view, in characters of JSON (about): past it the snapshot holds
# the newest rows that fit and says how many older ones it left out (``truncated``).
MAX_SNAPSHOT_CHARS = 4 << 20


def _larger_than(value: dict[Any, Any] | list[Any], limit: int) -> bool:
    """Whether the JSON of ``value`` may exceed ``limit`` characters."""
    return _json_size(value, limit) > limit


def _json_size(value: Any, limit: int) -> int:
    """About the length of the JSON of ``value``: strings by their length, anything else as a
    few characters; stops counting as soon as it is past ``limit``."""
    size = 0
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is str:
            size += len(item) + 3
        elif kind is dict:
            stack.extend(item.values())
            size += 2 + sum(len(k) + 4 if type(k) is str else 8 for k in item)
        elif kind is list or kind is tuple:
            stack.extend(item)
            size += 2
        else:
            size += 8
        if size > limit:
            break
    return size


def clip_value(value: Any, limit: int = MAX_VALUE_CHARS) -> Any:
    """``value`` as a view is sent it: a string or an object (as its JSON text) past ``limit``
    characters is cut there and ends with an ellipsis; anything else is itself.

    >>> clip_value("x" * 10, 4), clip_value([1, 2], 40), clip_value({"a": "bcdef"}, 8)
    ('xxxx…', [1, 2], '{"a": "b…')
    """
    kind = type(value)
    if kind is str:
        return value if len(value) <= limit else f"{value[:limit]}…"
    if (kind is dict or kind is list) and _larger_than(value, limit):
        return f"{json.dumps(value, default=str)[:limit]}…"
    return value


def _check_positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


_NUMERIC = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_NUMBERS = frozenset((int, float))
_first = itemgetter(0)


def number_of(text: str) -> float | None:
    """The number a numeric string spells (``"192.31"``, ``"-1e-3"``), or ``None``: digits with
    an optional sign, point and exponent only (no spaces, ``inf``, ``nan``, hex or ``_``), finite.

    >>> number_of("192.31"), number_of("1e3"), number_of("12 "), number_of("nan")
    (192.31, 1000.0, None, None)
    """
    if len(text) > 64 or not _NUMERIC.fullmatch(text):
        return None
    value = float(text)
    return value if math.isfinite(value) else None


def epoch_seconds(value: Any) -> float | None:
    """A timestamp as epoch seconds: a number (seconds), an ISO-8601 string (UTC when it has no
    offset) or a numeric string (its unit inferred from its size: s, ms, µs or ns); ``None``
    otherwise.

    >>> epoch_seconds("1970-01-01T00:01:00Z"), epoch_seconds("1672515782136"), epoch_seconds(True)
    (60.0, 1672515782.136, None)
    """
    kind = type(value)
    if kind is float or kind is int:
        return float(value)
    if kind is not str:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        number = number_of(value)
        if number is None:
            return None
        size = abs(number)
        return number * (1e-9 if size >= 1e17 else 1e-6 if size >= 1e14 else
                         1e-3 if size >= 1e11 else 1.0)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


class _Bool:
    """The identity of a JSON ``true``/``false`` key: ``True == 1`` in Python, but a row keyed
    ``true`` and a row keyed ``1`` are two rows."""

    __slots__ = ("value",)

    def __init__(self, value: bool) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "true" if self.value else "false"


_TRUE = _Bool(True)
_FALSE = _Bool(False)
_NO_KEY = _Bool(False)  # a row with no usable key (never stored: only compared by identity)


_PLAIN_KEYS = frozenset((str, int, float, type(None)))


def _identity(value: Any) -> Hashable:
    """A key value as the store tells rows apart: by JSON value (``1``, ``true`` and ``"1"`` are
    three rows; ``1`` and ``1.0`` one, as in JSON). An array or object raises TypeError."""
    kind = type(value)
    if kind in _PLAIN_KEYS:
        return value  # type: ignore[no-any-return]
    if kind is bool:
        return _TRUE if value else _FALSE
    if kind is list or kind is dict:  # a JSON array or object is no key (a misconfiguration)
        raise TypeError(f"unusable key {value!r}")
    hash(value)  # a hashable Python value someone applied by hand: itself (TypeError otherwise)
    return value  # type: ignore[no-any-return]


def _public(k: Hashable) -> Any:
    """A stored key as a JSON value (what a view is sent and ``keys`` returns)."""
    if type(k) is _Bool:
        return k.value
    if type(k) is tuple:
        return [_public(v) for v in k]
    return k


def _key_fields(key: Any) -> tuple[str, ...]:
    fields = (key,) if isinstance(key, str) else tuple(key) if isinstance(key, tuple | list) else ()
    if not fields or not all(isinstance(f, str) and f for f in fields) or len(set(fields)) != len(
            fields):
        raise ValueError(f"key must be a field name or a tuple of distinct field names, got {key!r}")
    return fields


class TableStore:
    """Rows keyed by ``key``, kept in first-insertion order (oldest first, newest last).

    - ``key`` is a field (``"id"``) or a tuple of fields (``("symbol", "id", "side")``): a row's
      key is that field's value or the tuple of those values, told apart by JSON value (``1``,
      ``true`` and ``"1"`` key three rows; ``1.5`` and ``"1.5"`` two).
    - ``apply(row)`` upserts: a new key appends a row; a known key merges the given fields into the
      existing row and keeps its position. A list applies each element in order (a batch).
    - ``delete(key)`` removes a row. Past ``max_rows`` the oldest row (first inserted) is evicted.
    - ``apply_action(row, action)`` applies a feed's action (BitMEX-style): ``"delete"`` deletes the
      row's key, ``"partial"`` replaces the table's contents with the rows of the partial (the rows
      of partial messages in a row, up to any other action or :meth:`end_partial`), anything else
      upserts.
    - A row that is not a dict or lacks a key field is not applied: it is counted in ``errors`` and
      described in ``last_error``.
    - ``columns``: the given list, or the fields seen so far in first-seen order, at most
      ``max_columns`` of them: past that a new field is stored in its row but shown in no column,
      and counted once in ``columns_dropped``.
    - A deletion reaches the view (``delete`` in a delta) only for a row the view holds: a row
      added and removed between two drains (evicted by a flood of new keys, say) is never sent.
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

    >>> t = TableStore(key=("symbol", "side"))
    >>> t.apply([{"symbol": "XBT", "side": "Buy", "size": 1}, {"symbol": "XBT", "side": "Sell"}])
    >>> t.apply_action({"symbol": "XBT", "side": "Buy"}, "delete"); t.keys
    [['XBT', 'Sell']]
    """

    def __init__(
        self,
        key: str | tuple[str, ...] = "id",
        max_rows: int = 10_000,
        columns: Iterable[str] | None = None,
        max_columns: int = 500,
    ) -> None:
        fields = _key_fields(key)
        #: The key as given: a field name, or a tuple of field names.
        self.key: str | tuple[str, ...] = key if isinstance(key, str) else fields
        #: The key's fields, in order (one for a single-field key).
        self.key_fields = fields
        self._single = len(fields) == 1
        # What the batch passes read the key with: the field, or the fields (a tuple per row).
        self._spec: str | tuple[str, ...] = fields[0] if self._single else fields
        self.max_rows = _check_positive_int("max_rows", max_rows)
        self.max_columns = _check_positive_int("max_columns", max_columns)
        # A plain dict keeps rows in insertion order and stores a row ~6x faster than an
        # OrderedDict, but finding its oldest key scans the holes earlier evictions left at its
        # front. So the insertion order is also kept as (key, generation) pairs, oldest first:
        # ``_born`` says which generation of a key is current, and the pairs of deleted keys are
        # skipped when they reach the front (or dropped when the deque is compacted).
        self._rows: dict[Hashable, dict[str, Any]] = {}
        self._order: deque[tuple[Hashable, int]] = deque()
        self._born: dict[Hashable, int] = {}
        self._generation = 0
        self._key_of = itemgetter(*fields)
        self._fixed_columns = columns is not None
        self._columns: list[str] = list(columns) if columns is not None else list(fields)
        # Every field seen in any row (with fixed columns, also those not shown).
        self._fields: set[str] = set(self._columns) | set(fields)
        # The fields a view shows (the columns and the key fields), and whether some row holds a
        # field outside them: such fields stay in the store and never travel to the view.
        self._shown: set[str] = set(self._columns) | set(fields)
        self._hides = False
        self._inbox: list[Any] = []
        self._dirty: dict[Hashable, object] = {}
        # The row each key had in the last delta (what a view holds), to send only what changed.
        self._sent: dict[Hashable, dict[str, Any]] = {}
        self._deleted: dict[Hashable, None] = {}
        # Keys added since the view last heard (a drain or a snapshot): deleting one sends nothing.
        self._fresh: set[Hashable] = set()
        # Fields past ``max_columns``: counted once each while this many are remembered, and at
        # every sighting beyond (a feed that makes up a name per row keeps the count moving).
        self._dropped_names: set[str] = set()
        self._columns_dropped = 0
        self._cleared = False
        self._columns_changed = False
        # How many of the columns the deltas so far named (the first snapshot holds the given ones);
        # the next delta names the rest. A snapshot leaves it alone: see snapshot().
        self._columns_sent = len(self._columns)
        self._errors_changed = False
        self._in_partial = False
        self.seq = 0
        self._errors = 0
        self._evicted = 0
        self._last_error: str | None = None
        # Called with the keys of the rows each change touches (see ``listen``).
        self._listeners: list[Callable[[Iterable[Hashable] | None], None]] = []

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
                # A bool key (or one in a tuple) has an identity of its own: the row-by-row path.
                if self._single:
                    k = payload[self._spec]
                    plain = type(k) is not bool
                else:
                    k = self._key_of(payload)
                    plain = _PLAIN_KEYS.issuperset(map(type, k))
                if plain:
                    known = k in rows
                    if self._fields.issuperset(payload) and (known or len(rows) < self.max_rows):
                        rows[k] = payload
                        if not known:
                            self._inserted(k)
                        self._dirty[k] = None
                        if self._listeners:
                            self._tell((k,))
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

    def apply_action(self, payload: Any, action: str | None) -> None:
        """Apply a message's rows (a row or a list of rows) as its ``action`` says: ``"delete"``
        deletes them (by their key fields), ``"partial"`` makes them the table's contents (the first
        partial message after anything else clears the table; the partial messages that follow it
        add to it), anything else (``"insert"``, ``"update"``, ``None``) upserts."""
        if action == "partial":
            if not self._in_partial:
                self.clear()
                self._in_partial = True
            self.queue(payload)
            return
        self._in_partial = False
        if action == "delete":
            self.apply_delete(payload)
        else:
            self.queue(payload)

    def end_partial(self) -> None:
        """The next ``partial`` starts the table afresh even if nothing came since the last one
        (a new connection: its partial is a new image)."""
        self._in_partial = False

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
        keys that are not plain JSON scalars, a new field, or an eviction of a row the batch also
        holds."""
        coalesced = coalesce_rows(batch, self._spec, self._fields)
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
            self._fresh.update(new)
        self._dirty.update(last)  # only the keys matter: no dict made for them
        if self._listeners:
            self._tell(last)
        return True

    def _key(self, row: dict[str, Any]) -> Hashable:
        """The identity of ``row``'s key, or ``_NO_KEY`` (an error recorded) when it has none
        (``None`` is a key: a row keyed ``null``)."""
        try:
            k = self._key_of(row)
        except KeyError:
            missing = [f for f in self.key_fields if f not in row]
            names = ", ".join(map(repr, missing))
            self._error(f"table row ignored: it has no {names} field"
                        f"{'s' if len(missing) > 1 else ''} (the table's key): {_sample(row)}")
            return _NO_KEY
        try:
            return _identity(k) if self._single else tuple(map(_identity, k))
        except TypeError:
            self._error(f"table row ignored: its key {_sample(k)} is not a usable key (a JSON "
                        f"string, number, boolean or null): {_sample(row)}")
            return _NO_KEY

    def _upsert(self, row: dict[str, Any], adopt: bool) -> None:
        k = self._key(row)
        if k is _NO_KEY:
            return
        existing = self._rows.get(k)
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
        if self._listeners:
            self._tell((k,))
        if not self._fields.issuperset(row):
            self._new_fields(row)

    def _new_fields(self, row: dict[str, Any]) -> None:
        """Make columns of the fields of ``row`` not seen before, up to ``max_columns``."""
        fields = self._fields
        for name in row:
            if name in fields:
                continue
            if self._fixed_columns:
                # Fixed columns show only what was given; the set only speeds up the check.
                self._hides = True
                if len(fields) < self.max_columns + len(self._columns):
                    fields.add(name)
            elif len(self._columns) < self.max_columns:
                fields.add(name)
                self._shown.add(name)
                self._columns.append(name)
                self._columns_changed = True
            else:
                self._hides = True
                if name not in self._dropped_names:
                    self._columns_dropped += 1
                    if len(self._dropped_names) < 10 * self.max_columns:
                        self._dropped_names.add(name)

    def _for_view(self, row: dict[str, Any]) -> dict[str, Any]:
        """``row`` as its view is sent it: only the fields a column shows (a field past
        ``max_columns`` stays in the store), values past MAX_VALUE_CHARS cut (see clip_value), the
        key fields whole (the view tells rows apart by them). The row itself when nothing is cut."""
        if self._hides and not self._shown.issuperset(row):
            shown = self._shown
            row = {n: v for n, v in row.items() if n in shown}
        for name, value in row.items():
            kind = type(value)
            if ((kind is str and len(value) > MAX_VALUE_CHARS) or kind is dict or kind is list) \
                    and name not in self.key_fields and clip_value(value) is not value:
                keys = self.key_fields
                return {n: v if n in keys else clip_value(v) for n, v in row.items()}
        return row

    def _inserted(self, k: Hashable) -> None:
        """Record that ``k`` was just added to the rows (it is the newest)."""
        self._generation += 1
        self._born[k] = self._generation
        self._order.append((k, self._generation))
        self._fresh.add(k)

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
        self._error(f"table row ignored: expected an object with key {self._describe_key()}, "
                    f"got {_sample(row)}")

    def _describe_key(self) -> str:
        return repr(self.key_fields[0]) if self._single else repr(self.key_fields)

    def _lookup(self, key: Any) -> Hashable:
        """The identity of a key given by a caller: the field's value, or a tuple (or list) of the
        fields' values. Raises TypeError when it cannot be a key."""
        if self._single:
            return _identity(key)
        if not isinstance(key, tuple | list) or len(key) != len(self.key_fields):
            raise TypeError(f"expected {len(self.key_fields)} values")
        return tuple(map(_identity, key))

    def delete(self, key: Any) -> bool:
        """Remove the row with this key (a tuple of values for a tuple key); returns whether it
        existed."""
        self._settle()
        try:
            k = self._lookup(key)
        except TypeError:
            self._error(f"table delete ignored: {_sample(key)} is not a key of this table "
                        f"(keyed by {self._describe_key()})")
            return False
        found = self._rows.pop(k, None) is not None
        if found:
            self._forget(k)
            self._mark_deleted(k)
        return found

    def apply_delete(self, payload: Any) -> None:
        """Delete by a message payload: a key, a row holding the key, or a list of either."""
        if not isinstance(payload, list):
            items = [payload]
        elif self._single or any(isinstance(v, dict | list) for v in payload):
            items = payload
        else:  # the values of one tuple key
            items = [payload]
        for item in items:
            if isinstance(item, dict):
                self._settle()
                k = self._key(item)
                if k is _NO_KEY:
                    continue
                if self._rows.pop(k, None) is not None:
                    self._forget(k)
                    self._mark_deleted(k)
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
        self._fresh.clear()
        self._cleared = True
        if self._listeners:
            self._tell(None)

    def _mark_deleted(self, key: Hashable) -> None:
        if self._listeners:
            self._tell((key,))
        self._dirty.pop(key, None)
        self._sent.pop(key, None)
        if key in self._fresh:
            # The view never had it: nothing to delete there.
            self._fresh.discard(key)
        else:
            self._deleted[key] = None

    # -- listening (what a summary of the rows follows) ------------------------------------

    def listen(self, listener: Callable[[Iterable[Hashable] | None], None]) -> Callable[[], None]:
        """Call ``listener(keys)`` with the keys of the rows each change upserts, deletes or
        evicts, as it is applied (keys as the store holds them: pass them to :meth:`stored`), and
        ``listener(None)`` when every row is removed. The listener must not read the store (it is
        called mid-change): it notes the keys and reads them later. Returns an unsubscribe function.

        >>> t = TableStore(); seen = []; _ = t.listen(seen.append)
        >>> t.apply({"id": 1}); _ = t.delete(1); [list(keys) for keys in seen]
        [[1], [1]]
        """
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def _tell(self, keys: Iterable[Hashable] | None) -> None:
        for listener in self._listeners:
            listener(keys)

    def settle(self) -> None:
        """Apply the queued rows now (every read does it first)."""
        self._settle()

    def held(self) -> list[Hashable]:
        """The keys of the rows held, as :meth:`listen` reports them, oldest first."""
        self._settle()
        return list(self._rows)

    def stored(self, k: Hashable) -> tuple[int, dict[str, Any]] | None:
        """``(position, row)`` of the row held under ``k`` (a key as :meth:`listen` reports it;
        ``position`` grows with each insertion, so it orders rows as ``rows`` does), or ``None``.
        The row is the store's own: do not change it. Call :meth:`settle` first."""
        row = self._rows.get(k)
        return None if row is None else (self._born[k], row)

    def _error(self, message: str) -> None:
        self._errors += 1
        self._last_error = message
        self._errors_changed = True

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
    def columns_dropped(self) -> int:
        """How many fields no column shows because ``max_columns`` was reached."""
        self._settle()
        return self._columns_dropped

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

    @property
    def keys(self) -> list[Any]:
        """The rows' keys as JSON values (a list of values for a tuple key), oldest first."""
        self._settle()
        return [_public(k) for k in self._rows]

    def get(self, key: Any) -> dict[str, Any] | None:
        self._settle()
        try:
            row = self._rows.get(self._lookup(key))
        except TypeError:
            return None
        return None if row is None else dict(row)

    def __len__(self) -> int:
        self._settle()
        return len(self._rows)

    def __contains__(self, key: object) -> bool:
        self._settle()
        try:
            return self._lookup(key) in self._rows
        except TypeError:
            return False

    @property
    def dirty(self) -> bool:
        """Whether something changed since the last drain."""
        self._settle()
        return bool(self._dirty or self._deleted or self._cleared or self._columns_changed
                    or self._errors_changed)

    def drain(self) -> dict[str, Any] | None:
        """The changes since the previous drain as a delta body, or ``None`` when nothing changed.

        Keys: ``seq``; ``clear`` (True: drop every row), ``delete`` (keys as JSON values: a list
        of values for a tuple key), ``upsert`` (rows: a new row whole, a row sent before as its
        key fields and the fields that changed since; merge into a known key, append a new one),
        ``add_columns`` (the columns made since the view last heard, to append to those it holds),
        ``errors`` and ``last_error`` (when rows were ignored). A
        view applies them in that order (clear, delete, upsert) and then holds the store's rows in
        the store's order. Do not change the rows: whole ones are the store's own.
        """
        if not self.dirty:
            return None
        upsert: list[dict[str, Any]] = []
        if self._dirty:
            rows = self._rows
            sent = self._sent
            fields = self.key_fields
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
                if changed and self._hides:
                    # A change only to fields no column shows is no news to the view.
                    changed = {n: v for n, v in changed.items() if n in self._shown}
                if changed:
                    for name in fields:
                        changed[name] = row[name]
                    upsert.append(changed)
            self._dirty = {}
        self._fresh.clear()
        if not (upsert or self._deleted or self._cleared or self._columns_changed
                or self._errors_changed):
            return None
        self.seq += 1
        delta: dict[str, Any] = {"seq": self.seq}
        if self._cleared:
            delta["clear"] = True
        if upsert:
            delta["upsert"] = list(map(self._for_view, upsert))
        # After a clear the view holds nothing that deletions could still apply to.
        if self._deleted and not self._cleared:
            delta["delete"] = list(map(_public, self._deleted))
        if self._columns_changed and len(self._columns) > self._columns_sent:
            # Columns only grow, at the end: the view is sent the new ones.
            delta["add_columns"] = self._columns[self._columns_sent:]
            self._columns_sent = len(self._columns)
        if self._errors_changed:
            delta["errors"] = self._errors
            delta["last_error"] = self._last_error
        self._deleted = {}
        self._cleared = False
        self._columns_changed = False
        self._errors_changed = False
        return delta

    def skip(self) -> bool:
        """Forget what changed since the previous drain, as if it had been drained and sent
        (a view that holds only a window of the rows is sent those by other means); ``True`` when
        something had changed (``seq`` then moves on)."""
        if not self.dirty:
            return False
        rows, sent = self._rows, self._sent
        for k in self._dirty:
            sent[k] = rows[k]
        self._dirty = {}
        self._fresh.clear()
        self._deleted = {}
        self._cleared = False
        self._columns_changed = False
        self._columns_sent = len(self._columns)
        self._errors_changed = False
        self.seq += 1
        return True

    def row_map(self) -> Mapping[Hashable, dict[str, Any]]:
        """The rows by key identity, in table order (read only; valid until the next change)."""
        self._settle()
        return self._rows

    def public_key(self, k: Hashable) -> Any:
        """A key identity of :meth:`row_map` as its JSON value (a list for a tuple key)."""
        return _public(k)

    def view_row(self, row: Mapping[str, Any]) -> Mapping[str, Any]:
        """``row`` as a view is sent it (only shown fields, long values cut)."""
        return self._for_view(dict(row) if not isinstance(row, dict) else row)

    def snapshot(self, newest: int | None = None) -> dict[str, Any]:
        """The whole state at ``seq``: ``seq``, ``key`` (its first field), ``keys`` (every key
        field), ``columns``, ``rows`` (oldest first), ``errors``, ``last_error``; and
        ``truncated``, how many of the oldest rows it leaves out, when they would make it larger
        than MAX_SNAPSHOT_CHARS (or than ``newest`` rows, when given)."""
        self._settle()
        # A view reset to this holds every row (a later deletion must reach it).
        self._fresh.clear()
        # The columns made since the last delta are still named by the next one: this snapshot may
        # never reach a view (the static copy reads it), or reach one that ignores it (a view that
        # already holds its seq, while the columns came with rows settled just now). A view that
        # holds a column appends it only once.
        values: Iterable[dict[str, Any]] = self._rows.values()
        skipped = 0
        if newest is not None and len(self._rows) > newest:
            skipped = len(self._rows) - newest
            values = islice(values, skipped, None)
        rows = list(map(self._for_view, values))
        # The newest rows that fit in MAX_SNAPSHOT_CHARS: a huge table is not sent whole.
        room = MAX_SNAPSHOT_CHARS
        first = len(rows)
        while first > 0:
            room -= _json_size(rows[first - 1], room)
            if room < 0:
                break
            first -= 1
        state: dict[str, Any] = {
            "seq": self.seq,
            "key": self.key_fields[0],
            "keys": list(self.key_fields),
            "columns": list(self._columns),
            "rows": rows[first:] if first else rows,
            "errors": self._errors,
            "last_error": self._last_error,
        }
        if first or skipped:
            state["truncated"] = first + skipped
        return state


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
    series' history (at most ``history`` points). A numeric string (``"192.31"``, as exchanges send
    prices) is a number; values that are not finite numbers (other strings, booleans, nested
    objects, NaN) are ignored and counted in ``ignored``. At most ``max_series`` series are kept:
    the values of a new name past that are ignored, and each such name is counted once in
    ``series_dropped``.

    ``t`` is the message's own time when it has one: epoch seconds, or an ISO-8601 string (read
    when the point is first read, so a fast feed parses only the points that are shown); else
    ``clock()`` (epoch seconds) when the payload arrives. Histories are read in time order, so the
    points of a server that sends several at once keep their own times instead of piling up at
    one instant. A time that cannot be read is the time it was read at.

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
        max_series: int = 1000,
    ) -> None:
        self.history_size = _check_positive_int("history", history)
        self.max_series = _check_positive_int("max_series", max_series)
        # Names past ``max_series``: counted once each while this many are remembered, and at
        # every sighting beyond.
        self._dropped_names: set[str] = set()
        self._series_dropped = 0
        self._clock = clock
        self._latest: dict[str, float] = {}
        # Each series' history as two columns: no tuple is made per point, and a batch's points are
        # two extends.
        # Times are epoch seconds, or ISO strings not read yet (see _resolve).
        self._history: dict[str, tuple[deque[float | str], deque[float]]] = {}
        self.series: list[str] | None = list(series) if series is not None else None
        self.thresholds: dict[str, dict[str, float]] = {}
        self._breached: dict[str, bool] = {}
        self.on_alert = on_alert
        self._ignored = 0
        self.seq = 0
        self._inbox: list[Any] = []
        self._inbox_times: list[float | str] = []
        # Whether a time may still be a string (an ISO timestamp not read yet).
        self._unread_times = False
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

    def apply(self, payload: Any, t: float | str | None = None) -> None:
        """Merge a ``{name: number}`` payload (a list applies each element in order), now, at
        time ``t`` (epoch seconds or ISO-8601; default: now)."""
        if self._inbox:
            self._settle()
        self._merge_each([payload], [self._time(t)])

    def queue(self, payload: Any, t: float | str | None = None) -> None:
        """Like ``apply``, applied on the next read: the fast path for message handlers."""
        inbox = self._inbox
        inbox.append(payload)
        self._inbox_times.append(self._time(t))
        if self.thresholds or len(inbox) >= INBOX_LIMIT:
            self._settle()

    def queue_many(self, payloads: list[Any], t: float | str | None = None) -> None:
        """``queue`` each of ``payloads`` in order, all at time ``t`` (default: now)."""
        self._inbox += payloads
        self._inbox_times += repeat(self._time(t), len(payloads))
        if self.thresholds or len(self._inbox) >= INBOX_LIMIT:
            self._settle()

    def queue_stamped(self, payloads: list[Any], stamps: list[Any]) -> None:
        """``queue`` each of ``payloads`` at its own time: ``stamps[i]`` (epoch seconds, an
        ISO-8601 string, or ``None``: now), as a ``Timed`` handler is given them."""
        if len(stamps) != len(payloads):
            raise ValueError(f"{len(payloads)} payloads but {len(stamps)} timestamps")
        if stamps.count(None):
            now = self._clock()
            stamps = [now if t is None else t for t in stamps]
        if not self._unread_times and not _NUMBERS.issuperset(map(type, stamps)):
            self._unread_times = True
        self._inbox += payloads
        self._inbox_times += stamps
        if self.thresholds or len(self._inbox) >= INBOX_LIMIT:
            self._settle()

    def _time(self, t: Any) -> float | str:
        if t is None:
            return self._clock()
        if type(t) is not float:
            self._unread_times = True
        return t  # type: ignore[no-any-return]

    def _settle(self) -> None:
        payloads = self._inbox
        if not payloads:
            return
        times = self._inbox_times
        self._inbox = []
        self._inbox_times = []
        if not self._settle_by_series(payloads, times):
            self._merge_each(payloads, times)

    def _merge_each(self, payloads: list[Any], times: list[float | str]) -> None:
        for payload, when in zip(payloads, times, strict=True):
            for item in payload if isinstance(payload, list) else (payload,):
                self._merge(item, when)

    def _settle_by_series(self, payloads: list[Any], times: list[float | str]) -> bool:
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

    def _merge(self, payload: Any, when: float | str) -> None:
        if not isinstance(payload, dict):
            self._ignored += 1
            return
        latest = self._latest
        history = self._history
        thresholds = self.thresholds
        isfinite = math.isfinite
        for name, value in payload.items():
            kind = type(value)
            if kind is int or (kind is float and isfinite(value)):
                pass
            elif kind is str:  # "192.31": a price as exchanges send it
                value = number_of(value)
                if value is None:
                    self._ignored += 1
                    continue
            # A subclass of int or float counts; bool, although an int, does not.
            elif (not isinstance(value, int | float) or isinstance(value, bool)
                    or not isfinite(value)):
                self._ignored += 1
                continue
            series = history.get(name)
            if series is None:
                if not isinstance(name, str):
                    self._ignored += 1
                    continue
                if len(history) >= self.max_series:
                    if name not in self._dropped_names:
                        self._series_dropped += 1
                        if len(self._dropped_names) < 10 * self.max_series:
                            self._dropped_names.add(name)
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
    def series_dropped(self) -> int:
        """How many series names were not kept because ``max_series`` was reached."""
        self._settle()
        return self._series_dropped

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
        """The ``(t, value)`` points of one series, in time order (oldest first)."""
        self._settle()
        series = self._history.get(name)
        if series is None:
            return []
        self._resolve(series[0], 0, {})
        points: list[tuple[float, float]] = list(zip(*series, strict=True))  # type: ignore[arg-type]
        points.sort(key=_first)
        return points

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
            memo: dict[str, float] = {}
            delta["append"] = {name: self._points(name, n, memo) for name, n in appended.items()}
            for name in appended:
                new[name] = 0
        if self._config_changed:
            delta["series"] = self.series
            delta["thresholds"] = {k: dict(v) for k, v in self.thresholds.items()}
            self._config_changed = False
        return delta

    def _points(self, name: str, n: int, memo: dict[str, float] | None = None
                ) -> list[list[float]]:
        """The last ``n`` points of a series, as ``[t, value]`` lists in time order."""
        times, values = self._history[name]
        start = max(len(times) - n, 0)
        self._resolve(times, start, {} if memo is None else memo)
        points: list[list[float]] = list(map(list, zip(islice(times, start, None),  # type: ignore[arg-type]
                                                       islice(values, start, None), strict=True)))
        points.sort(key=_first)  # already in order but for a late point: a linear pass
        return points

    def _resolve(self, times: deque[float | str], start: int, memo: dict[str, float]) -> None:
        """Read the ISO-8601 times from ``start`` on into epoch seconds, in place (each is read
        once, only when a reader first needs it; ``memo``: times already read in this pass)."""
        if not self._unread_times:
            return
        for i in range(start, len(times)):
            t = times[i]
            if type(t) is float:
                continue
            seconds = memo.get(t) if type(t) is str else None
            if seconds is None:
                seconds = epoch_seconds(t)
                if seconds is None:
                    seconds = self._clock()
                if type(t) is str:
                    memo[t] = seconds
            times[i] = seconds

    def snapshot(self) -> dict[str, Any]:
        self._settle()
        memo: dict[str, float] = {}
        return {
            "seq": self.seq,
            "latest": dict(self._latest),
            "history": {name: self._points(name, self.history_size, memo)
                        for name in self._history},
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


# A log entry's text: at most this many characters of a string value or of a field name, items of
# an array or object, levels of nesting, and characters in all (then "…" says what was cut).
LOG_VALUE_CHARS = 200
LOG_NAME_CHARS = 60
LOG_ITEMS = 25
LOG_DEPTH = 6
LOG_TEXT_CHARS = 2000
# The text of every entry of one delta, and of a snapshot, at most (newest entries first).
LOG_DELTA_CHARS = 64_000
LOG_SNAPSHOT_CHARS = 256_000
# The full text of one entry, at most.
LOG_FULL_CHARS = 1_000_000
_ELLIPSIS = "…"


class _Render:
    """What one entry's rendering has produced so far."""

    __slots__ = ("size", "truncated")

    def __init__(self) -> None:
        self.size = 0
        self.truncated = False


def _cut(text: str, limit: int, state: _Render) -> str:
    if len(text) > limit:
        state.truncated = True
        return text[:limit] + _ELLIPSIS
    return text


def _quoted(text: str, limit: int, state: _Render) -> str:
    if len(text) > limit:
        state.truncated = True
        return _json_string(text[:limit])[:-1] + _ELLIPSIS + '"'
    return _json_string(text)


def _json_string(text: str) -> str:
    try:
        return orjson.dumps(text).decode()
    except TypeError:  # a lone surrogate (never in decoded JSON; maybe in a str given by hand)
        return json.dumps(text)


def _scalar(value: Any, state: _Render) -> str | None:
    if isinstance(value, str):
        return _quoted(value, LOG_VALUE_CHARS, state)
    if value is None or isinstance(value, bool | int | float):
        try:
            return orjson.dumps(value).decode()
        except TypeError:  # an int past 64 bits
            return _cut(str(value), LOG_VALUE_CHARS, state)
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        shown = data[:32].hex(" ")
        if len(data) > 32:
            shown += " " + _ELLIPSIS
            state.truncated = True
        return f"<{len(data)} bytes: {shown}>"
    return None


_INLINE_CHARS = 72


def _inline(value: dict[Any, Any] | list[Any] | tuple[Any, ...], state: _Render) -> str | None:
    """A container of scalars on one line: an object when it fits (``{"x": 1}``), an array as
    many of its first items as fit (``[1, 2, … 98 more]``); ``None`` to show it a line per item."""
    is_dict = isinstance(value, dict)
    probe = _Render()
    parts: list[str] = []
    size = 0
    pairs = value.items() if isinstance(value, dict) else ((None, v) for v in value)
    for i, (name, item) in enumerate(pairs):
        if isinstance(item, dict | list | tuple) and item:
            return None
        shown = _scalar(item, probe) or ("{}" if isinstance(item, dict) else "[]")
        if is_dict:
            shown = f"{_quoted(str(name), LOG_NAME_CHARS, probe)}: {shown}"
        size += len(shown) + 2
        if size > _INLINE_CHARS or i == LOG_ITEMS:
            if is_dict or not parts:
                return None
            probe.truncated = True
            parts.append(f"{_ELLIPSIS} {len(value) - i} more")
            break
        parts.append(shown)
    if probe.truncated:
        state.truncated = True
    body = ", ".join(parts)
    return "{" + body + "}" if is_dict else "[" + body + "]"


def _render(value: Any, pad: str, depth: int, state: _Render) -> str:
    text = _scalar(value, state)
    if text is None:
        is_dict = isinstance(value, dict)
        if not isinstance(value, dict | list | tuple):
            text = _cut(repr(value), LOG_VALUE_CHARS, state)
        elif not value:
            text = "{}" if is_dict else "[]"
        elif depth >= LOG_DEPTH or state.size >= LOG_TEXT_CHARS:
            state.truncated = True
            text = ("{" if is_dict else "[") + _ELLIPSIS + ("}" if is_dict else "]")
        else:
            text = _inline(value, state)
        if text is None:
            inner = pad + "  "
            lines: list[str] = []
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for i, (name, item) in enumerate(items):
                if i == LOG_ITEMS or state.size >= LOG_TEXT_CHARS:
                    state.truncated = True
                    lines.append(f"{inner}{_ELLIPSIS} {len(value) - i} more")
                    break
                head = f"{_quoted(str(name), LOG_NAME_CHARS, state)}: " if is_dict else ""
                line = inner + head + _render(item, inner, depth + 1, state)
                state.size += len(line) + 2
                lines.append(line)
            opening, closing = ("{", "}") if is_dict else ("[", "]")
            text = opening + "\n" + ",\n".join(lines) + "\n" + pad + closing
    return text


def log_text(value: Any) -> tuple[str, bool]:
    """A message payload as a log shows it: pretty JSON, with long strings and names, long arrays
    and objects, deep nesting and the whole cut short; and whether anything was cut.

    >>> print(log_text({"s": "BTCUSDT", "p": "0.001", "levels": [[1, 2], [3, 4]]})[0])
    {
      "s": "BTCUSDT",
      "p": "0.001",
      "levels": [
        [1, 2],
        [3, 4]
      ]
    }
    >>> log_text("x" * 300)[1]
    True
    """
    state = _Render()
    text = _render(value, "", 0, state)
    if len(text) > LOG_TEXT_CHARS:
        state.truncated = True
        text = text[:LOG_TEXT_CHARS] + _ELLIPSIS
    return text, state.truncated


def full_text(value: Any) -> str:
    """The whole payload as pretty JSON (up to :data:`LOG_FULL_CHARS` characters)."""
    try:
        text = orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        text = repr(value) if not isinstance(value, bytes | bytearray | memoryview) else (
            bytes(value).hex(" "))
    if len(text) > LOG_FULL_CHARS:
        text = text[:LOG_FULL_CHARS] + f"\n{_ELLIPSIS} ({len(text) - LOG_FULL_CHARS:,} more characters)"
    return text


def _iso(t: Any) -> str:
    if isinstance(t, str):
        return t[:40]
    return datetime.fromtimestamp(float(t), UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


class LogStore:
    """The last ``limit`` messages (of one type, or of every type), newest last, for a log view.

    ``add(type, payload, t)`` keeps the message as it is: nothing is formatted per message. What a
    view is sent is rendered when it is drained, and only for the entries it is sent: each entry
    is ``{"id", "type", "time", "text", "truncated", "size"}``, its ``text`` the payload as
    :func:`log_text` renders it (bounded), ``time`` the message's own time when it has one
    (``t``: epoch seconds or ISO-8601), else its arrival. :meth:`full` gives the whole text of
    an entry still kept. Not thread-safe: use a store from one thread.

    >>> log = LogStore(limit=2, clock=lambda: 0.0)
    >>> for i in range(3): log.add("tick", {"n": i})
    >>> [e["text"].replace(chr(10), "") for e in log.snapshot()["entries"]], log.total
    (['{"n": 1}', '{"n": 2}'], 3)
    """

    def __init__(self, limit: int = 200, *, clock: Clock = time.time) -> None:
        self.limit = _check_positive_int("limit", limit)
        self._clock = clock
        # [id, type, payload, time, rendered entry or None]
        self._items: deque[list[Any]] = deque(maxlen=self.limit)
        self._next_id = 1
        self._sent_id = 0
        self.seq = 0
        #: Messages logged since the store was made (the kept ones are the last ``limit``).
        self.total = 0

    def add(self, type: str, payload: Any, t: float | str | None = None) -> None:
        """Log one message (``t``: its own time, if it has one)."""
        self._items.append([self._next_id, type, payload, self._clock() if t is None else t, None])
        self._next_id += 1
        self.total += 1

    def add_many(self, type: str, payloads: list[Any], stamps: list[Any] | None = None) -> None:
        """Log several messages of one type, in order (``stamps``: their own times, or ``None``)."""
        if len(payloads) > self.limit:  # only the last ``limit`` would stay
            skipped = len(payloads) - self.limit
            payloads = payloads[skipped:]
            stamps = None if stamps is None else stamps[skipped:]
            self._next_id += skipped
            self.total += skipped
        now = self._clock()
        first = self._next_id
        self._items.extend(
            [first + i, type, payload, now if stamps is None or stamps[i] is None else stamps[i],
             None] for i, payload in enumerate(payloads))
        self._next_id += len(payloads)
        self.total += len(payloads)

    def __len__(self) -> int:
        return len(self._items)

    @property
    def dirty(self) -> bool:
        return self._next_id - 1 > self._sent_id

    def _entry(self, item: list[Any]) -> dict[str, Any]:
        entry: dict[str, Any] | None = item[4]
        if entry is None:
            text, truncated = log_text(item[2])
            t = item[3]
            entry = item[4] = {
                "id": item[0], "type": _cut(str(item[1]), LOG_NAME_CHARS * 4, _Render()),
                "time": _iso(t) if isinstance(t, str) or epoch_seconds(t) is not None else "",
                "text": text, "truncated": truncated, "size": _size(item[2]),
            }
        return entry

    def _newest(self, count: int, budget: int) -> list[dict[str, Any]]:
        """The rendered newest ``count`` entries (fewer past ``budget`` characters), oldest first."""
        out: list[dict[str, Any]] = []
        used = 0
        items = self._items
        for i in range(len(items) - 1, max(len(items) - count, 0) - 1, -1):
            entry = self._entry(items[i])
            used += len(entry["text"]) + 100
            if out and used > budget:
                break
            out.append(entry)
        out.reverse()
        return out

    def drain(self) -> dict[str, Any] | None:
        """``{"seq", "add": [entries, oldest first], "total"}`` with the entries logged since the
        last drain (the newest of them, within a size budget), or ``None``."""
        if not self.dirty:
            return None
        new = self._next_id - 1 - self._sent_id
        self._sent_id = self._next_id - 1
        self.seq += 1
        return {"seq": self.seq, "add": self._newest(min(new, len(self._items)), LOG_DELTA_CHARS),
                "total": self.total}

    def snapshot(self) -> dict[str, Any]:
        """``{"seq", "limit", "total", "entries"}``: the kept entries (the newest within a size
        budget), oldest first."""
        return {"seq": self.seq, "limit": self.limit, "total": self.total,
                "entries": self._newest(len(self._items), LOG_SNAPSHOT_CHARS)}

    def full(self, id: int) -> str | None:
        """The whole text of entry ``id``, or ``None`` once it is no longer kept."""
        items = self._items
        if not items or isinstance(id, bool) or not isinstance(id, int):
            return None
        index = id - items[0][0]
        if not 0 <= index < len(items) or items[index][0] != id:
            return None
        return full_text(items[index][2])

    @property
    def entries(self) -> list[dict[str, Any]]:
        """Every kept entry, rendered, oldest first."""
        return [dict(self._entry(item)) for item in self._items]


def _size(value: Any) -> int:
    """The payload's size in bytes as JSON (bytes: their length)."""
    if isinstance(value, bytes | bytearray | memoryview):
        return len(value)
    try:
        return len(orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS))
    except TypeError:
        return len(repr(value))

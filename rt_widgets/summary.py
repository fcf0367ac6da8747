"""Live group-by summaries: the rows of a table grouped by a field, with aggregates kept exact.

Pure logic: no asyncio, no widgets. A :class:`GroupSummary` takes rows by key (``upsert``,
``remove``, ``clear``, or :meth:`GroupSummary.follow` a :class:`~rt_widgets.stores.TableStore`) and
keeps, per group, the aggregates of the rows it holds *now*: an upsert that changes a row's group or
values takes its old contribution away and adds the new one. Its summary rows live in a
``TableStore`` of their own (``table``, keyed by the group field), so a view of it is a table view
kept in step by the same deltas.

>>> s = GroupSummary("symbol", aggregates=("count", "mean", "max"))
>>> s.upsert(1, {"symbol": "XBT", "price": 10}); s.upsert(2, {"symbol": "XBT", "price": 20})
>>> s.upsert(3, {"symbol": "ETH", "price": "3.5"})     # numeric strings are numbers
>>> _ = s.remove(2); s.rows
[{'symbol': 'XBT', 'count': 1, 'price_mean': 10.0, 'price_max': 10}, \
{'symbol': 'ETH', 'count': 1, 'price_mean': 3.5, 'price_max': 3.5}]

Exactness: sums are kept as integers in units of 2**-1074 (every double is a whole number of them),
so adding and taking away never drifts, and ``sum`` and ``mean`` are the correctly rounded values of
the exact ones. ``min``, ``max`` and ``last`` use heaps whose stale entries are dropped when they
reach the top (O(log n) per change, amortized; a heap is rebuilt from its group when stale entries
outnumber live ones).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Sequence
from heapq import heapify, heappop, heappush
from operator import attrgetter, itemgetter
from typing import TYPE_CHECKING, Any

from .stores import TableStore, _identity, _public, number_of

if TYPE_CHECKING:
    import pandas

__all__ = ["AGGREGATES", "MAX_COLUMNS", "MAX_GROUPS", "GroupSummary", "summary_frame"]

#: The aggregates a summary can keep, in the order its columns come by default.
AGGREGATES: tuple[str, ...] = ("count", "sum", "mean", "min", "max", "last")
#: Groups a summary keeps by default; rows of further groups are counted, not summarised.
MAX_GROUPS = 1000
#: Numeric columns a summary aggregates at most when it finds them itself (``columns=None``).
MAX_COLUMNS = 50

_SHIFT = 1074  # a double is a whole number of 2**-1074
_ONE = 1 << _SHIFT


def _number(value: Any) -> int | float | None:
    """``value`` as a number when it is one: an int (not a bool), a finite float or a numeric
    string (``"192.31"``); ``None`` otherwise."""
    kind = type(value)
    if kind is int:
        return value  # type: ignore[no-any-return]
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is str:
        return number_of(value)
    return None


def _scaled(value: int | float) -> int:
    """``value`` in units of 2**-1074, exactly."""
    if type(value) is int:
        return value << _SHIFT
    n, d = value.as_integer_ratio()  # d is a power of two, at most 2**1074
    return n << (_SHIFT + 1 - d.bit_length())


def _ratio(numerator: int, denominator: int) -> float:
    """``numerator / denominator`` correctly rounded (infinite past the largest double)."""
    try:
        return numerator / denominator
    except OverflowError:
        return math.copysign(math.inf, numerator)


def _names(name: str, value: Any) -> tuple[str, ...]:
    fields = (value,) if isinstance(value, str) else tuple(value) if isinstance(
        value, tuple | list) else ()
    if not fields or not all(isinstance(f, str) and f for f in fields) or len(set(fields)) != len(
            fields):
        raise ValueError(f"{name} must be a field name or a tuple of distinct field names, "
                         f"got {value!r}")
    return fields


def _aggregates(value: Any) -> tuple[str, ...]:
    names = (value,) if isinstance(value, str) else tuple(value) if isinstance(
        value, Iterable) else ()
    unknown = [n for n in names if n not in AGGREGATES]
    if not names or unknown:
        raise ValueError(f"aggregates must name some of {', '.join(AGGREGATES)}, got {value!r}")
    return tuple(dict.fromkeys(names))


class _Member:
    """One row as the summary holds it: its group (``None``: not summarised; then ``gid`` says
    whether it has a group value at all), its position, the row, and its numbers per column."""

    __slots__ = ("gid", "group", "key", "order", "row", "skipped", "values")

    def __init__(self, key: Hashable, order: int, row: dict[str, Any]) -> None:
        self.key = key
        self.order = order
        self.row = row
        self.gid: Hashable | None = None
        self.group: _Group | None = None
        self.values: list[int | float | None] = []
        self.skipped = 0


class _Group:
    """The aggregates of one group, per numeric column ``i``: ``n[i]`` numbers, their exact
    ``sums[i]``, how many are floats, and heaps for the aggregates wanted of min, max and last.

    ``lo[i]`` holds the values, ``hi[i]`` their negatives, ``last[i]`` the negated positions of
    the rows with a number there; a value taken away is counted in ``lo_gone[i]`` and
    ``hi_gone[i]`` and dropped when it reaches the top (equal numbers stand for each other), a
    position is stale once its row left (``orders``) or has no number there."""

    __slots__ = ("floats", "gid", "hi", "hi_gone", "last", "lo", "lo_gone", "n", "orders",
                 "public", "sums")

    def __init__(self, gid: Hashable, public: Any, width: int, aggregates: tuple[str, ...]
                 ) -> None:
        self.gid = gid
        self.public = public
        self.orders: dict[int, _Member] = {}  # the group's rows by position
        self.n = [0] * width
        self.sums = [0] * width
        self.floats = [0] * width
        self.lo: list[list[Any]] | None = None
        self.lo_gone: list[dict[Any, int]] = []
        self.hi: list[list[Any]] | None = None
        self.hi_gone: list[dict[Any, int]] = []
        self.last: list[list[int]] | None = None
        if "min" in aggregates:
            self.lo = [[] for _ in range(width)]
            self.lo_gone = [{} for _ in range(width)]
        if "max" in aggregates:
            self.hi = [[] for _ in range(width)]
            self.hi_gone = [{} for _ in range(width)]
        if "last" in aggregates:
            self.last = [[] for _ in range(width)]


class GroupSummary:
    """Rows grouped by ``by`` (a field, or a tuple of fields), with live aggregates.

    - ``aggregates``: some of ``count`` (rows in the group, a column named ``count``), ``sum``,
      ``mean``, ``min``, ``max`` and ``last`` (the value of the group's newest row that has a
      number there, newest in the table's order: first insertion). Each of the last five makes a
      column per numeric column, named ``<column>_<aggregate>`` (``price_mean``).
    - ``columns``: the numeric columns to aggregate; ``None``: every field that held a number (an
      int, a float or a numeric string) in some row, in first-seen order, at most
      :data:`MAX_COLUMNS` (``columns_dropped`` counts the others), leaving out ``by`` and
      ``exclude`` (a table's key fields).
    - Group values are told apart as JSON values: ``1``, ``"1"`` and ``true`` are three groups
      (``1`` and ``1.0`` one). A row whose group field is missing, null or an array or object is
      not summarised: ``ungrouped`` counts them.
    - A value of an aggregated column that is present but no number (text, a bool, an object) is
      skipped: ``skipped`` counts them, over the rows summarised.
    - At most ``max_groups`` groups: a row of a further group is not summarised while it stays
      in it (``rows_dropped`` counts such rows, ``groups_dropped`` their group values); a group
      whose rows are all gone makes room.
    - With no number in a column, a group's ``sum`` is 0 and its ``mean``, ``min``, ``max`` and
      ``last`` are ``None`` (as pandas has them).

    Changes are applied at once; the summary rows in ``table`` are brought up to date by
    :meth:`sync` (every read here does it). Not thread-safe: use a summary from one thread.
    """

    def __init__(
        self,
        by: str | Sequence[str],
        aggregates: str | Iterable[str] = AGGREGATES,
        columns: Iterable[str] | None = None,
        *,
        max_groups: int = MAX_GROUPS,
        exclude: Iterable[str] = (),
    ) -> None:
        fields = _names("by", by)
        self.by: str | tuple[str, ...] = by if isinstance(by, str) else fields
        self.by_fields = fields
        self._single = len(fields) == 1
        self.aggregates = _aggregates(aggregates)
        self._per_column = tuple(a for a in self.aggregates if a != "count")
        if "count" in self.aggregates and "count" in fields:
            raise ValueError("a summary grouped by a field named 'count' cannot also have a "
                             "'count' column: leave 'count' out of aggregates")
        if isinstance(max_groups, bool) or not isinstance(max_groups, int) or max_groups <= 0:
            raise ValueError(f"max_groups must be a positive integer, got {max_groups!r}")
        self.max_groups = max_groups
        self._fixed = columns is not None
        self._columns: list[str] = []
        self._index: dict[str, int] = {}
        # Fields never aggregated when the summary finds its columns itself.
        self._excluded = set(fields) | set(exclude)
        if columns is not None:
            if isinstance(columns, str):
                raise ValueError("columns must be a list of field names, not a single string")
            wanted = list(dict.fromkeys(columns))
            if not all(isinstance(c, str) and c for c in wanted):
                raise ValueError(f"columns must be field names (strings), got {columns!r}")
            for name in wanted:
                if not self._fits(name):
                    raise ValueError(f"column {name!r} cannot be aggregated: it is a group field, "
                                     f"or one of its summary columns would be named like one")
                self._index[name] = len(self._columns)
                self._columns.append(name)
        self._members: dict[Hashable, _Member] = {}
        self._groups: dict[Hashable, _Group] = {}
        # Groups changed since the summary rows were last brought up to date: id -> public value.
        self._dirty: dict[Hashable, Any] = {}
        self._overflow: Counter[Hashable] = Counter()
        self._ungrouped = 0
        self._skipped = 0
        self._dropped_names: set[str] = set()
        self._columns_dropped = 0
        self._next_order = 0
        out_key = self.by if isinstance(self.by, str) else fields
        #: The summary rows, keyed by the group field(s): what a table view of the summary shows.
        self.table = TableStore(key=out_key, max_rows=max_groups,
                                max_columns=len(fields) + 1 + MAX_COLUMNS * len(AGGREGATES))
        # Following a table: its store, the keys changed since the last sync, whether it was
        # cleared, and whether so many keys changed that a sync reads every row instead.
        self._source: TableStore | None = None
        self._pending: set[Hashable] = set()
        self._cleared = False
        self._rescan = False
        #: Called (with no argument) after each change of the followed table.
        self.on_change: Callable[[], None] | None = None

    # -- the names ----------------------------------------------------------------------------

    def _fits(self, name: str) -> bool:
        return name not in self.by_fields and not any(
            f"{name}_{a}" in self.by_fields for a in self._per_column)

    @property
    def columns(self) -> list[str]:
        """The numeric columns aggregated, in order."""
        return list(self._columns)

    @property
    def output_columns(self) -> list[str]:
        """The summary's columns: the group field(s), ``count``, then ``<column>_<aggregate>``
        for each numeric column and aggregate."""
        names = list(self.by_fields)
        if "count" in self.aggregates:
            names.append("count")
        names += [f"{c}_{a}" for c in self._columns for a in self._per_column]
        return names

    # -- changes ------------------------------------------------------------------------------

    def upsert(self, key: Hashable, row: dict[str, Any], order: int | None = None) -> None:
        """Hold ``row`` under ``key`` (replacing what ``key`` held): a new key is the newest row,
        a known key keeps its place, unless ``order`` gives the row's place (larger: newer)."""
        if not self._fixed and self._discover(row):
            self._rebuild()
        member = self._members.get(key)
        if order is None:
            order = self._next_order if member is None else member.order
        if order >= self._next_order:
            self._next_order = order + 1
        if member is None:
            self._add(key, row, order)
            return
        if member.row is row and member.order == order:
            return
        group = member.group
        if group is not None and member.order == order and self._gid(row) == group.gid:
            self._update(member, group, row)
        else:
            self._leave(member)
            self._add(key, row, order)

    def remove(self, key: Hashable) -> bool:
        """Forget the row held under ``key``; returns whether there was one."""
        member = self._members.get(key)
        if member is None:
            return False
        self._leave(member)
        return True

    def clear(self) -> None:
        """Forget every row."""
        for group in self._groups.values():
            self._dirty[group.gid] = group.public
        self._groups.clear()
        self._members.clear()
        self._overflow.clear()
        self._ungrouped = 0
        self._skipped = 0

    def _gid(self, row: dict[str, Any]) -> Hashable | None:
        """The identity of ``row``'s group, or ``None`` when it has no usable group value."""
        try:
            if self._single:
                value = row.get(self.by_fields[0])
                if value is None or (type(value) is float and not math.isfinite(value)):
                    return None
                return _identity(value)
            values = tuple(row.get(f) for f in self.by_fields)
            if None in values or any(type(v) is float and not math.isfinite(v) for v in values):
                return None
            return tuple(map(_identity, values))
        except TypeError:  # an array or an object
            return None

    def _values(self, row: dict[str, Any]) -> tuple[list[int | float | None], int]:
        """The numbers of ``row`` per column, and how many present values were no numbers."""
        values: list[int | float | None] = []
        skipped = 0
        get = row.get
        for name in self._columns:
            raw = get(name)
            number = _number(raw) if raw is not None else None
            if number is None and raw is not None:
                skipped += 1
            values.append(number)
        return values, skipped

    def _discover(self, row: dict[str, Any]) -> bool:
        """Make columns of the numeric fields of ``row`` not seen before; whether it made any."""
        found = False
        index = self._index
        for name, value in row.items():
            if name in index or name in self._excluded or _number(value) is None:
                continue
            if type(name) is not str or not self._fits(name):
                continue
            if len(self._columns) >= MAX_COLUMNS:
                if name not in self._dropped_names:
                    self._columns_dropped += 1
                    if len(self._dropped_names) < 10 * MAX_COLUMNS:
                        self._dropped_names.add(name)
                continue
            index[name] = len(self._columns)
            self._columns.append(name)
            found = True
        return found

    def _rebuild(self) -> None:
        """Take every row in again (the columns changed): in table order, so the groups that
        get in under ``max_groups`` are those of the oldest rows."""
        members = sorted(self._members.values(), key=attrgetter("order"))
        self.clear()
        for member in members:
            self._add(member.key, member.row, member.order)

    def _add(self, key: Hashable, row: dict[str, Any], order: int) -> None:
        member = _Member(key, order, row)
        self._members[key] = member
        gid = member.gid = self._gid(row)
        if gid is None:
            self._ungrouped += 1
            return
        group = self._groups.get(gid)
        if group is None:
            if len(self._groups) >= self.max_groups:
                self._overflow[gid] += 1
                return
            public = _public(gid)
            group = self._groups[gid] = _Group(gid, public, len(self._columns), self.aggregates)
        member.group = group
        group.orders[order] = member
        member.values, member.skipped = self._values(row)
        self._skipped += member.skipped
        for i, value in enumerate(member.values):
            if value is not None:
                self._give(group, i, value, member)
        self._dirty[gid] = group.public

    def _leave(self, member: _Member) -> None:
        del self._members[member.key]
        group = member.group
        if group is None:
            if member.gid is None:
                self._ungrouped -= 1
            else:
                overflow = self._overflow
                overflow[member.gid] -= 1
                if overflow[member.gid] <= 0:
                    del overflow[member.gid]
            return
        del group.orders[member.order]
        self._skipped -= member.skipped
        for i, value in enumerate(member.values):
            if value is not None:
                self._take(group, i, value)
        self._dirty[group.gid] = group.public
        if not group.orders:
            del self._groups[group.gid]
        member.group = None

    def _update(self, member: _Member, group: _Group, row: dict[str, Any]) -> None:
        """A new row of a member that stays in its group at its place: only changed numbers
        move."""
        values, skipped = self._values(row)
        old_values = member.values
        member.row = row
        member.values = values
        self._skipped += skipped - member.skipped
        member.skipped = skipped
        changed = False
        for i, (old, new) in enumerate(zip(old_values, values, strict=True)):
            if type(old) is type(new) and old == new:
                continue
            changed = True
            if old is not None:
                self._take(group, i, old)
            if new is not None:
                self._give(group, i, new, member, last=old is None)
        if changed:
            self._dirty[group.gid] = group.public

    def _give(self, group: _Group, i: int, value: int | float, member: _Member,
              last: bool = True) -> None:
        group.n[i] += 1
        group.sums[i] += _scaled(value)
        if type(value) is float:
            group.floats[i] += 1
        # Past twice the live entries, a heap is rebuilt: stale entries stay a bounded share.
        limit = 2 * group.n[i] + 16
        if group.lo is not None:
            heap = group.lo[i]
            heappush(heap, value)
            if len(heap) > limit:
                self._compact(group, i)
        if group.hi is not None:
            heap = group.hi[i]
            heappush(heap, -value)
            if len(heap) > limit:
                self._compact(group, i)
        if last and group.last is not None:  # an entry already there reads the current value
            positions = group.last[i]
            heappush(positions, -member.order)
            if len(positions) > limit:
                self._compact(group, i)

    @staticmethod
    def _take(group: _Group, i: int, value: int | float) -> None:
        group.n[i] -= 1
        group.sums[i] -= _scaled(value)
        if type(value) is float:
            group.floats[i] -= 1
        if group.lo is not None:
            gone = group.lo_gone[i]
            gone[value] = gone.get(value, 0) + 1
        if group.hi is not None:
            gone = group.hi_gone[i]
            gone[value] = gone.get(value, 0) + 1

    @staticmethod
    def _compact(group: _Group, i: int) -> None:
        """Rebuild column ``i``'s heaps of ``group`` from its rows (stale entries gone)."""
        held: list[tuple[int | float, int]] = [
            (v, order) for order, m in group.orders.items() if (v := m.values[i]) is not None]
        if group.lo is not None:
            group.lo[i] = lo = [v for v, _ in held]
            heapify(lo)
            group.lo_gone[i] = {}
        if group.hi is not None:
            group.hi[i] = hi = [-v for v, _ in held]
            heapify(hi)
            group.hi_gone[i] = {}
        if group.last is not None:
            group.last[i] = last = [-order for _, order in held]
            heapify(last)

    @staticmethod
    def _top(heap: list[Any], gone: dict[Any, int], sign: int) -> Any:
        """The smallest entry of ``heap`` not counted in ``gone`` (times ``sign``), or None."""
        while heap:
            value = sign * heap[0]
            count = gone.get(value)
            if not count:
                return value
            if count == 1:
                del gone[value]
            else:
                gone[value] = count - 1
            heappop(heap)
        return None

    @staticmethod
    def _newest(group: _Group, heap: list[int], i: int) -> Any:
        orders = group.orders
        while heap:
            member = orders.get(-heap[0])
            if member is not None:
                current = member.values[i]
                if current is not None:
                    return current
            heappop(heap)
        return None

    def _row(self, group: _Group) -> dict[str, Any]:
        """The summary row of ``group``."""
        if self._single:
            row: dict[str, Any] = {self.by_fields[0]: group.public}
        else:
            row = dict(zip(self.by_fields, group.public, strict=True))
        if "count" in self.aggregates:
            row["count"] = len(group.orders)
        for i, name in enumerate(self._columns):
            n = group.n[i]
            for aggregate in self._per_column:
                if aggregate == "sum":
                    total = group.sums[i]
                    value: Any = total >> _SHIFT if not group.floats[i] else _ratio(total, _ONE)
                elif n == 0:
                    value = None
                elif aggregate == "mean":
                    value = _ratio(group.sums[i], n << _SHIFT)
                elif aggregate == "min":
                    assert group.lo is not None
                    value = self._top(group.lo[i], group.lo_gone[i], 1)
                elif aggregate == "max":
                    assert group.hi is not None
                    value = self._top(group.hi[i], group.hi_gone[i], -1)
                else:
                    assert group.last is not None
                    value = self._newest(group, group.last[i], i)
                row[f"{name}_{aggregate}"] = value
        return row

    # -- following a table ---------------------------------------------------------------------

    def follow(self, table: TableStore) -> Callable[[], None]:
        """Summarise the rows of ``table`` from now on (the rows it holds, then each change, as
        of each :meth:`sync`); returns a function that stops following.

        >>> t = TableStore(key="id"); s = GroupSummary("g", ("count", "sum")); _ = s.follow(t)
        >>> t.apply([{"id": 1, "g": "a", "x": 2}, {"id": 2, "g": "a", "x": 3}]); _ = t.delete(1)
        >>> s.rows
        [{'g': 'a', 'count': 1, 'x_sum': 3}]
        """
        if self._source is not None:
            raise ValueError("this summary follows a table already")
        self._source = table
        self._excluded.update(table.key_fields)
        unlisten = table.listen(self._note)
        table.settle()
        self._rescan = True  # the rows held already: read them all at the first sync
        return unlisten

    def _note(self, keys: Iterable[Hashable] | None) -> None:
        # Mid-change of the table: only note what to read at the next sync.
        if keys is None:
            self._cleared = True
            self._pending.clear()
        elif not self._rescan:
            pending = self._pending
            pending.update(keys)
            source = self._source
            # Keys of rows gone since stay noted until a sync: past a table's worth, read every
            # row instead (a table nobody syncs, a paused view, holds no more than that).
            if source is not None and len(pending) > source.max_rows + 1024:
                self._rescan = True
                pending.clear()
        if self.on_change is not None:
            self.on_change()

    def sync(self) -> None:
        """Bring the summary up to date with the followed table (if any) and its summary rows in
        ``table`` up to date with the groups."""
        source = self._source
        if source is not None:
            source.settle()
            if self._cleared:
                self._cleared = False
                self.clear()
            if self._rescan:
                self._rescan = False
                keys: Iterable[Hashable] = source.held()
                held = set(keys)
                for key in [k for k in self._members if k not in held]:
                    self.remove(key)
                self._pending.clear()
            else:
                keys = self._pending
                self._pending = set()
            upserts: list[tuple[int, Hashable, dict[str, Any]]] = []
            for key in keys:
                found = source.stored(key)
                if found is None:
                    self.remove(key)
                else:
                    upserts.append((found[0], key, found[1]))
            upserts.sort(key=itemgetter(0))  # in table order: positions are unique
            for order, key, row in upserts:
                self.upsert(key, row, order)
        dirty = self._dirty
        if dirty:
            self._dirty = {}
            out = self.table
            groups = self._groups
            for gid, public in dirty.items():
                group = groups.get(gid)
                if group is not None:
                    out.apply(self._row(group))
                else:
                    out.delete(public)

    # -- reading --------------------------------------------------------------------------------

    @property
    def rows(self) -> list[dict[str, Any]]:
        """The summary rows (copies), one per group, in the order the groups appeared."""
        self.sync()
        return self.table.rows

    def __len__(self) -> int:
        """The number of groups."""
        self.sync()
        return len(self._groups)

    @property
    def ungrouped(self) -> int:
        """Rows held with no usable group value (missing, null, an array or an object)."""
        self.sync()
        return self._ungrouped

    @property
    def rows_dropped(self) -> int:
        """Rows held whose group did not fit in ``max_groups``."""
        self.sync()
        return sum(self._overflow.values())

    @property
    def groups_dropped(self) -> int:
        """Group values of the rows held that did not fit in ``max_groups``."""
        self.sync()
        return len(self._overflow)

    @property
    def skipped(self) -> int:
        """Values of aggregated columns that are no numbers, in the rows summarised."""
        self.sync()
        return self._skipped

    @property
    def columns_dropped(self) -> int:
        """Numeric fields not aggregated because :data:`MAX_COLUMNS` were found already."""
        return self._columns_dropped


def summary_frame(rows: list[dict[str, Any]], by: str | Sequence[str],
                  columns: list[str]) -> pandas.DataFrame:
    """Summary rows as a DataFrame indexed by the group field(s), sorted by group when the group
    values can be ordered (as ``DataFrame.groupby`` has them), in the order given otherwise."""
    try:
        import pandas
    except ImportError:
        raise ImportError(
            "LiveSummary.to_pandas() needs pandas, which is not installed: "
            "pip install 'rt_widgets[pandas]' (or pip install pandas)") from None
    fields = [by] if isinstance(by, str) else list(by)
    frame = pandas.DataFrame(rows, columns=columns)
    for name in columns[len(fields):]:  # numbers, with NaN for None (a group with no number)
        frame[name] = pandas.to_numeric(frame[name], errors="coerce")
    frame = frame.set_index(fields[0] if len(fields) == 1 else fields)
    try:
        return frame.sort_index()
    except TypeError:  # group values of mixed types
        return frame

"""Visible-window sync for large tables: a view of a big table holds only the rows it shows.

Pure logic: no asyncio, no widgets. A table view past :data:`WINDOW_AT` rows names the window it
shows (:class:`WindowSpec`: the first row, how many, the sort column and direction, the filter
text); the kernel orders the table's rows as the view would (:func:`order_keys`) and sends each view
its window (:meth:`Window.diff`): the keys in it when they change, the rows that came into it whole,
the changed fields of the rows that stayed, and how many rows the filter keeps and the table holds.
A view so holds at most :data:`MAX_WINDOW_ROWS` rows whatever the table's size, and a feed that
changes 10,000 rows a second costs the wire only the changes of the few dozen on screen. A view
grouped by a column gets every group instead (:func:`group_rows`, at most :data:`MAX_GROUPS`).

The order follows the view's rules (``js/table.ts``): the filter keeps a row when one of the shown
columns' text contains it (case-insensitive; numbers match as written, ``1234.5``, and as grouped,
``1,234.5``); a sort puts numbers (and numeric strings) first by value, then text in natural order
(``"a2"`` before ``"a10"``, case-insensitive), and rows without the column last in both directions,
ties in table order.

>>> rows = {"a": {"id": "a", "px": 3}, "b": {"id": "b", "px": 1}, "c": {"id": "c"}}
>>> order_keys(rows, WindowSpec(view="v", start=0, count=2, sort="px", desc=False, filter=""),
...            ["id", "px"])
['b', 'a', 'c']
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from .stores import number_of

__all__ = [
    "GROUP_ID",
    "MAX_GROUPS",
    "MAX_WINDOWS",
    "MAX_WINDOW_ROWS",
    "WINDOW_AT",
    "Window",
    "WindowSpec",
    "group_rows",
    "order_keys",
    "parse_window_spec",
]

#: A table with more rows than this is sent to a view as its visible window only.
WINDOW_AT = 2_000
#: The most rows one window holds (a view asks for what it shows and some rows either side).
MAX_WINDOW_ROWS = 500
#: The most windows one table keeps (views of it); a further view's window replaces the oldest.
MAX_WINDOWS = 16
#: Longest filter text a window may carry.
MAX_FILTER_CHARS = 200
#: The most groups a grouped window holds; rows of further groups are counted in no group.
MAX_GROUPS = 1_000
#: The group value's field in a group row (``js/table.ts`` ``GROUP_ID``).
GROUP_ID = "group"
AGGREGATES = ("sum", "mean", "min", "max", "last")


@dataclass(frozen=True, slots=True)
class WindowSpec:
    """What one view shows: rows ``start`` to ``start + count`` of the table sorted by ``sort``
    (``None``: table order), descending when ``desc``, filtered by ``filter``."""

    view: str
    start: int
    count: int
    sort: str | None
    desc: bool
    filter: str
    #: The column the view groups by (``None``: rows): the kernel sends every group, at most
    #: MAX_GROUPS, and the view sorts them.
    group: str | None = None

    @property
    def order(self) -> tuple[str | None, bool, str]:
        """What the row order depends on (views that share it share one ordering)."""
        return (self.sort, self.desc, self.filter.strip().lower())


def parse_window_spec(content: Mapping[str, Any]) -> WindowSpec:
    """The spec of a ``window`` request; ``ValueError`` saying what is wrong with a bad one."""
    view, start, count = content.get("view"), content.get("start"), content.get("count")
    sort, desc, text = content.get("sort"), content.get("desc", False), content.get("filter", "")
    if not isinstance(view, str) or not 0 < len(view) <= 200:
        raise ValueError(f"window: view must be a view id (1-200 characters), got {view!r}")
    for name, value in (("start", start), ("count", count)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"window: {name} must be an integer >= 0, got {value!r}")
    assert isinstance(start, int) and isinstance(count, int)
    if sort is not None and not isinstance(sort, str):
        raise ValueError(f"window: sort must be a column name or null, got {sort!r}")
    if not isinstance(desc, bool):
        raise ValueError(f"window: desc must be true or false, got {desc!r}")
    if not isinstance(text, str) or len(text) > MAX_FILTER_CHARS:
        raise ValueError(f"window: filter must be text of at most {MAX_FILTER_CHARS} characters")
    group = content.get("group")
    if group is not None and not isinstance(group, str):
        raise ValueError(f"window: group must be a column name or null, got {group!r}")
    if group is not None:  # groups are sorted in the view: one order for every sort
        return WindowSpec(view, 0, MAX_GROUPS, None, False, text, group)
    return WindowSpec(view, start, min(count, MAX_WINDOW_ROWS), sort, desc, text)


# -- the view's order ------------------------------------------------------------------------------

_DIGITS = re.compile(r"(\d+)")


def cell_text(value: Any) -> str:
    """What a cell shows of ``value`` (near enough ``js/dom.ts`` ``cellText``)."""
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return _grouped(value)
    try:
        return json.dumps(value, separators=(",", ":"), default=str)
    except (TypeError, ValueError):
        return str(value)


def _grouped(value: float) -> str:
    """A number as the view formats it (en-US grouping, at most 3 decimals)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    magnitude = abs(value)
    if magnitude != 0 and (magnitude < 1e-3 or magnitude >= 1e15):
        return f"{value:.3e}"
    if isinstance(value, int):
        return f"{value:,}"
    text = f"{value:,.3f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _matches(row: Mapping[str, Any], needle: str, columns: Sequence[str]) -> bool:
    for column in columns:
        value = row.get(column)
        if value is None:
            continue
        if needle in cell_text(value).lower():
            return True
        if isinstance(value, int | float) and not isinstance(value, bool) and needle in repr(value):
            return True
    return False


def _natural(text: str) -> tuple[tuple[int, float, str], ...]:
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part.casefold())
                 for part in _DIGITS.split(text) if part)


def _sort_key(value: Any) -> tuple[int, float, tuple[tuple[int, float, str], ...]]:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, float(value), ())
    if isinstance(value, str):
        n = number_of(value)
        if n is not None:
            return (0, n, ())
    return (1, 0.0, _natural(cell_text(value)))


_key0 = itemgetter(0)


def order_keys(rows: Mapping[Hashable, Mapping[str, Any]], spec: WindowSpec,
               columns: Sequence[str]) -> list[Hashable]:
    """The keys of ``rows`` (in table order) as the view shows them: filtered, then sorted."""
    sort, desc, needle = spec.order
    kept = ([(k, r) for k, r in rows.items() if _matches(r, needle, columns)] if needle
            else list(rows.items()))
    if sort is None:
        return [k for k, _ in kept]
    present: list[tuple[Any, Hashable]] = []
    missing: list[Hashable] = []
    for k, row in kept:
        value = row.get(sort)
        if value is None:
            missing.append(k)
        else:
            present.append((_sort_key(value), k))
    # Sorting is stable in both directions (reverse keeps ties in table order, as the view does).
    present.sort(key=_key0, reverse=desc)
    return [k for _, k in present] + missing


# -- one view's window -----------------------------------------------------------------------------


class Window:
    """One view's window and what it was last sent. ``fresh``: the view holds none of its rows
    (it asked first, or its rows were reset): the next diff sends every row whole."""

    __slots__ = ("columns_sent", "errors_sent", "fresh", "keys", "sent", "size", "spec", "start",
                 "total", "until")

    def __init__(self, spec: WindowSpec, until: float) -> None:
        self.spec = spec
        self.until = until
        self.fresh = True
        self.keys: list[Hashable] = []
        self.sent: dict[Hashable, Mapping[str, Any]] = {}
        self.total = -1
        self.start = -1
        self.size = -1
        self.columns_sent = -1
        self.errors_sent = -1

    def reset(self) -> None:
        self.fresh = True
        self.keys = []
        self.sent = {}

    def diff(self, rows: Mapping[Hashable, Mapping[str, Any]], order: Sequence[Hashable], *,
             key_fields: Sequence[str], columns: Sequence[str], errors: int,
             last_error: str | None, public: Callable[[Hashable], Any],
             for_view: Callable[[Mapping[str, Any]], Mapping[str, Any]]) -> dict[str, Any] | None:
        """The ``window`` message body that brings the view from what it was sent to ``order``'s
        rows at the spec's place, or ``None`` when it already holds them. Rows are never changed
        in place by their store, so holding the dicts sent is enough to diff against."""
        spec = self.spec
        total = len(order)
        start = max(0, min(spec.start, total - spec.count))
        keys = [k for k in order[start:start + spec.count] if k in rows]
        body: dict[str, Any] = {}
        fresh = self.fresh
        if fresh:
            body["reset"] = True
        if fresh or keys != self.keys:
            body["order"] = [public(k) for k in keys]
        upsert: list[Mapping[str, Any]] = []
        sent = self.sent
        now: dict[Hashable, Mapping[str, Any]] = {}
        for k in keys:
            row = rows[k]
            now[k] = row
            before = sent.get(k)
            if before is row:
                continue
            if before is None:
                upsert.append(for_view(row))
                continue
            changed = {n: v for n, v in row.items() if n not in before or before[n] != v}
            if changed:
                for name in key_fields:
                    changed[name] = row[name]
                upsert.append(for_view(changed))
        if upsert:
            body["upsert"] = upsert
        if fresh or len(columns) != self.columns_sent:
            body["columns"] = list(columns)
        if fresh or errors != self.errors_sent:
            body["errors"] = errors
            body["last_error"] = last_error
        if not body and (total, len(rows), start) == (self.total, self.size, self.start):
            self.sent = now
            return None
        self.fresh = False
        self.keys = keys
        self.sent = now
        self.total = total
        self.start = start
        self.size = len(rows)
        self.columns_sent = len(columns)
        self.errors_sent = errors
        body.update(view=spec.view, start=start, total=total, size=len(rows))
        return body


# -- a windowed table grouped -------------------------------------------------------------------


def _numeric(value: Any) -> float | None:
    """A cell's number as the view reads it (``js/dom.ts`` ``numeric``): a finite number or a
    numeric string; ``None`` otherwise (a bool is no number)."""
    if type(value) is int:
        return value
    if type(value) is float:
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return number_of(value)
    return None


def _group_identity(value: Any) -> Hashable:
    """Group values told apart as JSON values, as the view does (``1``, ``"1"`` and ``true``
    are three groups; ``1`` and ``1.0`` one)."""
    if value is True or value is False:
        return ("bool", value)
    if type(value) is float and value.is_integer():
        return int(value)
    if isinstance(value, str | int | float) or value is None:
        return value
    return ("json", json.dumps(value, sort_keys=True, separators=(",", ":"), default=str))


def group_rows(rows: Mapping[Hashable, Mapping[str, Any]], keys: Sequence[Hashable], by: str,
               columns: Sequence[str], max_groups: int = MAX_GROUPS
               ) -> tuple[list[tuple[str, str]], dict[Hashable, dict[str, Any]], int]:
    """The rows of ``keys`` (in table order) grouped by ``by`` as the view groups them
    (``js/table.ts`` ``groupBy``): one row per group value (a missing value groups with null), in
    order of first appearance, with ``group`` (the value), ``count`` and, for each other column
    whose every value is a number or a numeric string, ``sum.<i>``, ``mean.<i>``, ``min.<i>``,
    ``max.<i>`` and ``last.<i>`` (``i``: its place among the other columns). Returns the grouped
    table's columns as ``(id, label)``, its rows by group identity, and how many rows fell in no
    group (past ``max_groups``)."""
    cols = [c for c in columns if c != by]
    width = len(cols)
    numeric_col = [True] * width
    seen = [False] * width
    groups: dict[Hashable, list[Any]] = {}
    dropped = 0
    for k in keys:
        row = rows[k]
        value = row.get(by)
        ident = _group_identity(value)
        acc = groups.get(ident)
        if acc is None:
            if len(groups) >= max_groups:
                dropped += 1
                continue
            acc = groups[ident] = [value, 0, [0] * width, [0.0] * width, [math.inf] * width,
                                   [-math.inf] * width, [0.0] * width]
        acc[1] += 1
        n, total, low, high, last = acc[2], acc[3], acc[4], acc[5], acc[6]
        for c in range(width):
            if not numeric_col[c]:
                continue
            v = row.get(cols[c])
            if v is None:
                continue
            x = _numeric(v)
            if x is None:
                numeric_col[c] = False
                continue
            seen[c] = True
            n[c] += 1
            total[c] += x
            if x < low[c]:
                low[c] = x
            if x > high[c]:
                high[c] = x
            last[c] = x
    aggregated = [c for c in range(width) if numeric_col[c] and seen[c]]
    out = [(GROUP_ID, by), ("count", "count")] + [
        (f"{agg}.{c}", f"{agg}({cols[c]})") for c in aggregated for agg in AGGREGATES]
    result: dict[Hashable, dict[str, Any]] = {}
    for ident, (value, count, n, total, low, high, last) in groups.items():
        grow: dict[str, Any] = {GROUP_ID: value, "count": count}
        for c in aggregated:
            has = n[c] > 0
            grow[f"sum.{c}"] = total[c] if has else None
            grow[f"mean.{c}"] = total[c] / n[c] if has else None
            grow[f"min.{c}"] = low[c] if has else None
            grow[f"max.{c}"] = high[c] if has else None
            grow[f"last.{c}"] = last[c] if has else None
        result[ident] = grow
    return out, result, dropped

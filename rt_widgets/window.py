"""Visible-window sync for large tables: a view of a big table holds only the rows it shows.

Pure logic: no asyncio, no widgets. A table view past :data:`WINDOW_AT` rows names the window it
shows (:class:`WindowSpec`: the first row, how many, the sort column and direction, the filter
text); the kernel orders the table's rows as the view would (:func:`order_keys`) and sends each view
its window (:meth:`Window.diff`): the keys in it when they change, the rows that came into it whole,
the changed fields of the rows that stayed, and how many rows the filter keeps and the table holds.
A view so holds at most :data:`MAX_WINDOW_ROWS` rows whatever the table's size, and a feed that
changes 10,000 rows a second costs the wire only the changes of the few dozen on screen.

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
    "MAX_WINDOWS",
    "MAX_WINDOW_ROWS",
    "WINDOW_AT",
    "Window",
    "WindowSpec",
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

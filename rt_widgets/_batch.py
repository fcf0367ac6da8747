"""The per-element passes of batch ingest: grouping an array frame by type, coalescing queued table
rows, reading metrics payloads as columns.

Pure logic. Each function returns ``None``, having changed nothing, when its input needs the
element-by-element path (which reports what is wrong with it). The functions here are the
reference; ``rt_widgets/_speedups.c`` implements the same contracts in C and is used when it was
built (``pip install`` compiles it when a C compiler is available) unless the environment variable
``RT_WIDGETS_PURE_PYTHON`` is set to a non-empty value. ``IMPLEMENTATION`` says which is in use.

>>> group_by_type([{"type": "a", "payload": 1}, {"type": "b"}, {"type": "a", "payload": 2}])[0]
['a', 'b']
>>> coalesce_rows([{"id": 1, "x": 1}, {"id": 1, "x": 2}], "id", {"id", "x"})
({1: {'id': 1, 'x': 2}}, True)
>>> metric_columns([{"cpu": 1, "mem": 2.5}, {"cpu": 3, "mem": 4.0}], ("cpu", "mem"))
[[1, 3], [2.5, 4.0]]
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from itertools import chain, compress, repeat
from operator import eq, itemgetter
from typing import Any

__all__ = ["IMPLEMENTATION", "coalesce_rows", "group_by_type", "metric_columns"]

Grouped = tuple[list[str], list[list[dict[str, Any]]], list[list[Any]]]

_type_of = itemgetter("type")
_PAYLOAD = repeat("payload")
_NUMBER_TYPES = frozenset((int, float))


def py_group_by_type(data: list[Any]) -> Grouped | None:
    """For a decoded array frame whose every element is a dict with a str ``type``: the distinct
    types in order of first appearance, and for each type its envelopes and their ``payload``
    values (``None`` where absent), in frame order."""
    try:
        kinds = list(map(_type_of, data))
        types = set(kinds)
    except (KeyError, TypeError):  # an element that is not a dict, or an unhashable type
        return None
    if not all(type(kind) is str for kind in types) or not all(type(obj) is dict for obj in data):
        return None
    # In order of first appearance (a set is half the cost of dict.fromkeys; with many types the
    # index scans would add up).
    distinct = sorted(types, key=kinds.index) if len(types) <= 8 else list(dict.fromkeys(kinds))
    if len(distinct) == 1:
        groups = [list(data)]
    else:
        groups = [list(compress(data, map(eq, kinds, repeat(kind)))) for kind in distinct]
    return distinct, groups, [list(map(dict.get, objects, _PAYLOAD)) for objects in groups]


def py_coalesce_rows(rows: list[Any], key: str, fields: set[str]) -> tuple[dict[Any, Any], bool] | None:
    """For queued table rows that are all dicts holding ``key`` (a hashable value) and only str
    fields in ``fields``: each key's last row (keys in order of first appearance), and whether each
    of those rows holds every field (``len(row) == len(fields)``)."""
    if not all(type(row) is dict for row in rows):
        return None
    try:
        last = dict(zip(map(itemgetter(key), rows), rows, strict=True))
    except (KeyError, TypeError):
        return None
    names = set().union(*rows)
    if not fields.issuperset(names) or not all(type(name) is str for name in names):
        return None
    return last, set(map(len, last.values())) <= {len(fields)}


def py_metric_columns(payloads: list[Any], names: tuple[str, ...]) -> list[list[Any]] | None:
    """For metrics payloads that are all dicts holding exactly the series ``names`` (str) with
    finite int or float values (exact types: a bool is not a number here): one list of values per
    name, in payload order."""
    width = len(names)
    if (not names or not all(type(name) is str for name in names)
            or not all(type(payload) is dict for payload in payloads)
            or set(map(len, payloads)) - {width}):
        return None
    try:
        rows = list(map(itemgetter(*names), payloads))
    except KeyError:
        return None
    if width == 1:  # one name: itemgetter gives values, not tuples
        columns = [rows]
    else:
        columns = [list(column) for column in zip(*rows, strict=True)] if rows else [[] for _ in names]
    kinds = set(map(type, chain.from_iterable(columns)))
    if not kinds <= _NUMBER_TYPES:
        return None
    if float in kinds:
        try:
            # A sum of finite numbers is finite unless it overflows: then each value is checked.
            finite = all(map(math.isfinite, map(sum, columns)))
        except OverflowError:
            finite = False
        if not finite and not all(math.isfinite(value) for value in chain.from_iterable(columns)
                                  if type(value) is float):
            return None
    return columns


group_by_type: Callable[[list[Any]], Grouped | None] = py_group_by_type
coalesce_rows: Callable[[list[Any], str, set[str]], tuple[dict[Any, Any], bool] | None] = (
    py_coalesce_rows)
metric_columns: Callable[[list[Any], tuple[str, ...]], list[list[Any]] | None] = py_metric_columns
IMPLEMENTATION = "python"

if not os.environ.get("RT_WIDGETS_PURE_PYTHON"):
    try:
        from . import _speedups
    except ImportError:  # not built: no C compiler when it was installed
        pass
    else:
        group_by_type = _speedups.group_by_type
        coalesce_rows = _speedups.coalesce_rows
        metric_columns = _speedups.metric_columns
        IMPLEMENTATION = "c"

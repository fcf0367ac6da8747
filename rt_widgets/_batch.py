"""The per-element passes of batch ingest: grouping an array frame by type, coalescing queued table
rows, reading metrics payloads as columns.

Pure logic. Each function returns ``None``, having changed nothing, when its input needs the
element-by-element path (which reports what is wrong with it). Each is a few passes of C-level
built-ins (``map``, ``itemgetter``, ``compress``, set and dict constructors) over the whole batch,
with no Python-level loop per element; ``tests/unit/test_batch.py`` checks them against a plain
loop over the elements.

>>> group_by_type([{"type": "a", "payload": 1}, {"type": "b"}, {"type": "a", "payload": 2}])[0]
['a', 'b']
>>> coalesce_rows([{"id": 1, "x": 1}, {"id": 1, "x": 2}], "id", {"id", "x"})
({1: {'id': 1, 'x': 2}}, True)
>>> metric_columns([{"cpu": 1, "mem": 2.5}, {"cpu": 3, "mem": 4.0}], ("cpu", "mem"))
[[1, 3], [2.5, 4.0]]
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable
from itertools import chain, compress, repeat
from operator import itemgetter
from typing import Any

__all__ = ["Grouped", "coalesce_rows", "group_by_type", "metric_columns"]

Grouped = tuple[list[str], list[list[dict[str, Any]]], list[list[Any]]]

_type_of = itemgetter("type")
_payload_of = itemgetter("payload")
_PAYLOAD = repeat("payload")
# "Every element's type is one of these": ``frozenset.issuperset(map(type, items))`` checks exact
# types in C and stops at the first other one.
_DICT = frozenset((dict,))
_STR = frozenset((str,))
_NUMBERS = frozenset((int, float))
_PLAIN_KEYS = frozenset((str, int, float, type(None)))
# Up to this many types, a frame is split with one mask per type (bytes.translate of the types'
# codes: ~1 ns per element) and ``compress``; past it, one pass appends each element to its type's
# list, whose cost does not grow with the number of types.
_MASKED_TYPES = 4
_MASKS = tuple(bytes(int(code == i) for code in range(256)) for i in range(_MASKED_TYPES))
_consume: Callable[[Iterable[Any]], None] = deque[Any](maxlen=0).extend


def group_by_type(data: list[Any], payload: bool = False) -> Grouped | None:
    """For a decoded array frame whose every element is a dict with a str ``type``: the distinct
    types in order of first appearance, and for each type its envelopes and their ``payload``
    values (``None`` where absent), in frame order. Types are told apart by equality: a value equal
    to a str type seen first (a str subclass) belongs to that type, as it does for the handlers.
    ``payload=True``: also ``None`` when an element has no ``payload`` key (it is no envelope)."""
    try:
        kinds = list(map(_type_of, data))
        types = set(kinds)
    except (KeyError, TypeError):  # an element that is not a dict, or an unhashable type
        return None
    if not (_STR.issuperset(map(type, types)) and _DICT.issuperset(map(type, data))):
        return None
    if len(types) <= 1:
        if not types:
            return [], [], []
        payloads = _payloads(data, payload)
        return None if payloads is None else (list(types), [list(data)], [payloads])
    if len(types) <= _MASKED_TYPES:
        distinct = sorted(types, key=kinds.index)
        codes = bytes(map({kind: code for code, kind in enumerate(distinct)}.__getitem__, kinds))
        groups = [list(compress(data, codes.translate(table))) for table in _MASKS[: len(distinct)]]
    else:
        lists: dict[str, list[Any]] = {kind: [] for kind in kinds}
        _consume(map(list.append, map(lists.__getitem__, kinds), data))
        distinct, groups = list(lists), list(lists.values())
    payload_groups = []
    for objects in groups:
        payloads = _payloads(objects, payload)
        if payloads is None:
            return None
        payload_groups.append(payloads)
    return distinct, groups, payload_groups


def _payloads(objects: list[dict[str, Any]], required: bool) -> list[Any] | None:
    try:
        return list(map(_payload_of, objects))
    except KeyError:  # an envelope with no payload
        return None if required else list(map(dict.get, objects, _PAYLOAD))


def coalesce_rows(rows: list[Any], key: str | tuple[str, ...], fields: set[str]
                  ) -> tuple[dict[Any, Any], bool] | None:
    """For queued table rows that are all dicts holding ``key`` (a field, or a tuple of fields
    whose values make the key as a tuple) with no bool among the key values (a tuple key: only str,
    int, float or None), and only fields in ``fields``: each key's last row (keys in order of first
    appearance), and whether each of those rows holds every field (``len(row) == len(fields)``)."""
    if not _DICT.issuperset(map(type, rows)):
        return None
    getter = itemgetter(key) if isinstance(key, str) else itemgetter(*key)
    try:
        last = dict(zip(map(getter, rows), rows, strict=True))
    except (KeyError, TypeError):  # a row without the key, or an unhashable key
        return None
    # Rows are told apart by the JSON value of their key, and True == 1 in Python: a batch with a
    # bool key goes row by row, where each key gets its own identity. Only a key equal to 0 or 1
    # can be or meet a bool, so for one field two lookups spare the look at every key's type.
    if isinstance(key, str):
        if (True in last or False in last) and not _PLAIN_KEYS.issuperset(
                map(type, map(getter, rows))):
            return None
    elif not _PLAIN_KEYS.issuperset(map(type, chain.from_iterable(map(getter, rows)))):
        return None
    # A dict adds its keys to a set with the hashes it stores: no field name is hashed again.
    if len(fields.union(*rows)) != len(fields):  # a field the table does not know yet
        return None
    return last, {len(fields)}.issuperset(map(len, last.values()))


def metric_columns(payloads: list[Any], names: tuple[str, ...]) -> list[list[Any]] | None:
    """For metrics payloads that are all dicts holding exactly the series ``names`` (str) with
    finite int or float values (exact types: a bool is not a number here): one list of values per
    name, in payload order."""
    width = len(names)
    if (not width or not _STR.issuperset(map(type, names)) or not _DICT.issuperset(map(type, payloads))
            or not {width}.issuperset(map(len, payloads))):
        return None
    try:
        rows = list(map(itemgetter(*names), payloads))
    except KeyError:
        return None
    if width == 1:  # one name: itemgetter gives values, not tuples
        columns = [rows]
    else:
        columns = list(map(list, zip(*rows, strict=True))) if rows else [[] for _ in names]
    if not _NUMBERS.issuperset(map(type, chain.from_iterable(columns))):
        return None
    try:
        # A sum of finite numbers is finite unless it overflows: then each float is checked.
        finite = all(map(math.isfinite, map(sum, columns)))
    except OverflowError:  # also an int too large for a float: finite, but its column is checked
        finite = False
    if not finite and not all(math.isfinite(value) for value in chain.from_iterable(columns)
                              if type(value) is float):
        return None
    return columns

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
from operator import eq, itemgetter
from typing import Any

__all__ = ["Grouped", "all_of_type", "coalesce_rows", "group_by_type", "metric_columns"]

Grouped = tuple[list[str], list[list[dict[str, Any]]], list[list[Any]]]

_type_of = itemgetter("type")
_payload_of = itemgetter("payload")
_PAYLOAD = repeat("payload")
# "Every element's type is one of these": ``frozenset.issuperset(map(type, items))`` checks exact
# types in C (for a single type, ``all_of_type`` costs less).
_STR = frozenset((str,))
_PLAIN_KEYS = frozenset((str, int, float, type(None)))
_FLIP = bytes((1, 0)) + bytes(254)  # bytes.translate table: mask 1 -> 0, 0 -> 1
_consume: Callable[[Iterable[Any]], None] = deque[Any](maxlen=0).extend


def all_of_type(cls: type, items: list[Any]) -> bool:
    """Whether every element of ``items`` is exactly of type ``cls`` (no subclass): the list of
    their types holds nothing else (``list.count`` compares by identity first, so this costs
    less than building a set of the types)."""
    return list(map(type, items)).count(cls) == len(items)


def group_by_type(data: list[Any], payload: bool = False) -> Grouped | None:
    """For a decoded array frame (``orjson.loads`` of a JSON array) whose every element is an
    object with a str ``type``: the distinct types in order of first appearance, and for each type
    its envelopes and their ``payload`` values (``None`` where absent), in frame order.
    ``payload=True``: also ``None`` when an element has no ``payload`` key (it is no envelope).

    A decoded frame holds only dicts, lists, str, numbers, bools and None, and of those only a
    dict takes a str index: reading every ``type`` is the check that every element is a dict."""
    try:
        kinds = list(map(_type_of, data))
    except (KeyError, TypeError):  # an element that is not a dict, or has no type
        return None
    if not kinds:
        return [], [], []
    head, middle, tail = kinds[0], kinds[len(kinds) // 2], kinds[-1]
    if head != middle and head != tail and middle != tail:  # three types or more: one pass
        many = _group_by_dict(data, kinds)
        return None if many is None else _with_payloads(*many, payload)
    # One or two types (the common frames): split by equality with the first element's type (the
    # fresh type strings of a decoded frame are not hashed), a mask and ``compress``.
    if type(head) is not str:  # a JSON value of another type equals no str type
        return None
    if _one_type(kinds):
        return _with_payloads([head], [list(data)], payload)
    mask = bytes(map(eq, kinds, repeat(head)))
    rest = mask.translate(_FLIP)
    others = list(compress(data, rest))
    other_kinds = list(compress(kinds, rest))
    if type(other_kinds[0]) is str and _one_type(other_kinds):
        return _with_payloads([head, other_kinds[0]], [list(compress(data, mask)), others], payload)
    # More: the first type came before any other, so the order of first appearance holds.
    many = _group_by_dict(others, other_kinds)
    if many is None:
        return None
    return _with_payloads([head, *many[0]], [list(compress(data, mask)), *many[1]], payload)


def _one_type(kinds: list[Any]) -> bool:
    """Whether every element of ``kinds`` (at least one) equals the first (the last is looked at
    first: in a frame of several types it most often differs)."""
    first = kinds[0]
    return bool(kinds[-1] == first) and kinds.count(first) == len(kinds)


def _group_by_dict(objects: list[Any], kinds: list[Any]
                   ) -> tuple[list[str], list[list[Any]]] | None:
    """The types of ``objects`` (``kinds``: their types) in order of first appearance and each
    type's objects: one pass appends each object to its type's list, whose cost does not grow
    with the number of types."""
    try:
        lists: dict[str, Any] = dict.fromkeys(kinds)
    except TypeError:  # an unhashable type (a list or an object)
        return None
    if not _STR.issuperset(map(type, lists)):
        return None
    for kind in lists:  # a loop over the types, not the objects
        lists[kind] = []
    _consume(map(list.append, map(lists.__getitem__, kinds), objects))
    return list(lists), list(lists.values())


def _with_payloads(distinct: list[str], groups: list[list[Any]], required: bool) -> Grouped | None:
    payload_groups = []
    for objects in groups:
        payloads = _payloads(objects, required)
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
    if not all_of_type(dict, rows):
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
    width = len(fields)
    if len(fields.union(*rows)) != width:  # a field the table does not know yet
        return None
    # No row holds more than the table's fields, so the lengths add up to width x rows only when
    # each row holds every field.
    return last, sum(map(len, last.values())) == width * len(last)


def metric_columns(payloads: list[Any], names: tuple[str, ...]) -> list[list[Any]] | None:
    """For metrics payloads that are all dicts holding exactly the series ``names`` (str) with
    finite int or float values (exact types: a bool is not a number here): one list of values per
    name, in payload order."""
    width = len(names)
    if not width or not _STR.issuperset(map(type, names)) or not all_of_type(dict, payloads):
        return None
    try:
        columns = [list(map(itemgetter(name), payloads)) for name in names]
    except KeyError:
        return None
    # Every payload holds each name, so its length is width or more: the lengths add up to
    # width x payloads only when none holds another key.
    if sum(map(len, payloads)) != width * len(payloads) or not all(map(_numbers, columns)):
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


def _numbers(column: list[Any]) -> bool:
    """Whether every value is exactly an int or a float (a column is most often all one type)."""
    types = list(map(type, column))
    if not types:
        return True
    first = types[0]
    if types.count(first) == len(types):  # one type: counted by identity alone
        return first is float or first is int
    return types.count(float) + types.count(int) == len(types)

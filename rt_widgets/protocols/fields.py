"""``messages=Fields(...)``: any JSON shape described in one line, compiled once into getters.

>>> from rt_widgets.dispatch import Dispatcher
>>> binance = Fields(type="data.e", payload="data", timestamp="data.E", time_unit="ms")
>>> binance.bind(None, Dispatcher())  # type: ignore[arg-type]
>>> seen = []
>>> _ = binance.dispatcher.on("*", seen.append)
>>> binance.receive(b'{"stream": "btcusdt@trade", "data": {"e": "trade", "E": 1672515782136, "s": "BTC"}}')
1
>>> seen[0].type, seen[0].payload["s"], seen[0].timestamp
('trade', 'BTC', 1672515782.136)

Paths are dotted strings (``"data.e"``, ``"data.0.e"``, ``"2"`` for an array position) or tuples of
keys and indexes (for keys that contain dots). Nothing reads the description per message: each path
becomes a getter function when the ``Fields`` is built.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from itertools import repeat
from typing import Any, Final, Literal

import orjson

from ..dispatch import Dispatcher
from ..protocol import Message
from .base import FrameProtocol, Host, Payload

__all__ = ["MISSING", "Fields", "Path", "compile_path", "get_path", "to_seconds"]

Path = str | Sequence[str | int]
TimeUnit = Literal["s", "ms", "us", "ns", "iso"]
_UNITS = ("s", "ms", "us", "ns", "iso")
_SCALE = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


#: What a getter returns when its path is not in the value.
MISSING: Final = _Missing()

Getter = Callable[[Any], Any]


def _steps(path: Path) -> list[tuple[str | None, int | None]]:
    """(dict key, list index) per step: a dotted part that is a number may be either."""
    if isinstance(path, str):
        if path == "":
            return []
        parts: list[str | int] = list(path.split("."))
    elif isinstance(path, Sequence) and all(isinstance(p, str | int) for p in path):
        parts = list(path)
    else:
        raise TypeError(f"a path is a dotted string or a tuple of keys and indexes, got {path!r}")
    steps: list[tuple[str | None, int | None]] = []
    for part in parts:
        if isinstance(part, bool):
            raise TypeError(f"path {path!r}: {part!r} is neither a key nor an index")
        if isinstance(part, int):
            steps.append((None, part))
        elif _is_index(part):
            steps.append((part, int(part)))
        else:
            steps.append((part, None))
    return steps


def _is_index(part: str) -> bool:
    # ASCII digits only: "²".isdigit() is true but int("²") fails, and "--1" is a key, not an index.
    digits = part[1:] if part[:1] == "-" else part
    return digits.isascii() and digits.isdigit()


def get_path(value: Any, path: Path) -> Any:
    """The reference reading of ``path`` in ``value`` (``MISSING`` when absent), one step at a time."""
    for key, index in _steps(path):
        if type(value) is dict and key is not None and key in value:
            value = value[key]
        elif type(value) is list and index is not None and -len(value) <= index < len(value):
            value = value[index]
        else:
            return MISSING
    return value


def _step(key: str | None, index: int | None) -> Getter:
    if index is None:
        def by_key(value: Any) -> Any:
            return value[key] if type(value) is dict and key in value else MISSING
        return by_key
    if key is None:
        def by_index(value: Any) -> Any:
            return value[index] if type(value) is list and -len(value) <= index < len(value) else MISSING
        return by_index

    def either(value: Any) -> Any:
        kind = type(value)
        if kind is dict:
            return value.get(key, MISSING)
        if kind is list and -len(value) <= index < len(value):
            return value[index]
        return MISSING
    return either


def compile_path(path: Path) -> Getter:
    """A function reading ``path`` from a value (``MISSING`` when absent), built once."""
    steps = _steps(path)
    if not steps:
        return lambda value: value
    if all(index is None for _key, index in steps):
        # Keys only, the common case: plain subscripts, absence and wrong types caught. A str key
        # on a list or a str raises TypeError too, so only dict keys are ever found.
        keys = [key for key, _index in steps]
        if len(keys) == 1:
            (k0,) = keys

            def one(value: Any) -> Any:
                try:
                    return value[k0]
                except (KeyError, TypeError, IndexError):
                    return MISSING
            return one
        if len(keys) == 2:
            k0, k1 = keys

            def two(value: Any) -> Any:
                try:
                    return value[k0][k1]
                except (KeyError, TypeError, IndexError):
                    return MISSING
            return two
    getters = [_step(key, index) for key, index in steps]

    def chain(value: Any) -> Any:
        for getter in getters:
            value = getter(value)
            if value is MISSING:
                return MISSING
        return value
    return chain


def to_seconds(value: Any, unit: str | None) -> float | None:
    """A timestamp as seconds since the epoch: a number or numeric string in ``unit`` (``None``:
    inferred from its size), or an ISO-8601 string (UTC when it has no offset); ``None`` when it
    is neither, or not a finite time."""
    if type(value) is str:
        try:
            value = float(value)
        except ValueError:
            return _iso_seconds(value) if unit in (None, "iso") else None
    if type(value) not in (int, float):
        return None
    if unit is None or unit == "iso":
        magnitude = abs(value)
        unit = "ns" if magnitude >= 1e17 else "us" if magnitude >= 1e14 else (
            "ms" if magnitude >= 1e11 else "s")
    try:
        seconds = float(value) * _SCALE[unit]
    except OverflowError:  # an int beyond any float
        return None
    return seconds if math.isfinite(seconds) else None


def _iso_seconds(text: str) -> float | None:
    try:
        parsed = datetime.fromisoformat(text)
        # No offset: UTC, as feeds mean it, not the local time of whoever reads it.
        return (parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)).timestamp()
    except (ValueError, OverflowError):
        return None


def _read(target: str, source: str, path: Any, getter: str, absent: str = "missing") -> list[str]:
    """Source lines setting ``target`` to ``path`` read from ``source`` (``absent`` when it is not
    there): subscripts for a path of keys, else a call of the compiled ``getter``."""
    steps = _steps(path)
    if not steps:
        return [f"{target} = {source}"]
    if any(index is not None for _key, index in steps):
        lines = [f"{target} = {getter}({source})"]
        if absent != "missing":
            lines += [f"if {target} is missing:", f"    {target} = {absent}"]
        return lines
    # Only dict keys are ever found: a str key on a list, a str or a number raises TypeError.
    subscripts = "".join(f"[{key!r}]" for key, _index in steps)
    return ["try:", f"    {target} = {source}{subscripts}",
            "except (KeyError, TypeError, IndexError):", f"    {target} = {absent}"]


class Fields(FrameProtocol):
    """A JSON feed described by where its parts are (see design: Protocols).

    ``type``: a path or a callable(value) -> str (missing: ``default_type``). ``payload``: a path
    (None: the whole value). ``rows``: a path to a list whose elements are each one message of the
    value's type (``""``: the value itself is the list); ``type``, ``action`` and ``seq`` are then
    read from the frame's value and ``payload`` and ``timestamp`` from each element. ``timestamp``:
    a path, in ``time_unit`` ("s", "ms", "us", "ns", "iso"; None: inferred). ``seq``: a path to an
    integer sequence number; gaps are counted in ``stats()["gaps"]``. ``action``: a path whose
    value tables apply (``"delete"``, ``"partial"``; anything else upserts). ``batch``: whether a
    top-level array of objects is a batch ("auto": when every element is an object; True; False).
    """

    def __init__(
        self,
        type: Path | Callable[[Any], str] | None = None,
        payload: Path | None = None,
        rows: Path | None = None,
        timestamp: Path | None = None,
        time_unit: TimeUnit | None = None,
        seq: Path | None = None,
        action: Path | None = None,
        default_type: str = "message",
        batch: bool | Literal["auto"] = "auto",
    ) -> None:
        super().__init__()
        if time_unit is not None and time_unit not in _UNITS:
            raise ValueError(f"time_unit must be one of {_UNITS} or None, got {time_unit!r}")
        if not isinstance(default_type, str) or not default_type:
            raise ValueError(f"default_type must be a non-empty string, got {default_type!r}")
        if batch not in (True, False, "auto"):
            raise ValueError(f"batch must be True, False or 'auto', got {batch!r}")
        self._description = {k: v for k, v in (
            ("type", type), ("payload", payload), ("rows", rows), ("timestamp", timestamp),
            ("time_unit", time_unit), ("seq", seq), ("action", action)) if v is not None}
        self._type_fn: Callable[[Any], str] | None = None
        self._type: Getter | None = None
        if callable(type):
            self._type_fn = type
        elif type is not None:
            self._type = compile_path(type)
        self._payload = compile_path(payload) if payload is not None else None
        self._rows = compile_path(rows) if rows is not None else None
        self._timestamp = compile_path(timestamp) if timestamp is not None else None
        self._unit = time_unit
        self._seq = compile_path(seq) if seq is not None else None
        self._action = compile_path(action) if action is not None else None
        self.sets_actions = action is not None
        self._default_type = default_type
        self._batch = batch
        self._last_seq: dict[str, int] = {}
        self._deliver = self._compile()

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self._description.items())
        return f"Fields({inner})"

    def link_opened(self) -> None:
        self._last_seq.clear()  # sequence numbers start afresh on a new link

    def bind(self, host: Host, dispatcher: Dispatcher) -> None:
        super().bind(host, dispatcher)
        self._deliver = self._compile()

    def receive(self, data: Payload, text: bool = True) -> int:
        try:
            value = orjson.loads(data)
        except orjson.JSONDecodeError:
            kind = "text" if text else "binary"
            body: Any = bytes(data).decode("utf-8", "replace") if text else bytes(data)
            self.dispatcher.dispatch(Message(kind, body))
            return 1
        # (isinstance over repeat(dict) in map: the check runs in C; orjson makes no subclasses.)
        if type(value) is list and self._batch is not False and value and (
                self._batch is True or all(map(isinstance, value, repeat(dict)))):
            return self._deliver(value)
        return self._deliver((value,))

    def _kind(self, value: Any, found: Any = MISSING) -> str:
        """The type of ``value`` the slow way: a type function, a number, or the default type
        (counted in ``unmatched`` when a type was asked for). ``found``: what the type path gave."""
        if self._type_fn is not None:
            try:
                kind = self._type_fn(value)
            except Exception as exc:
                self.dispatcher.report(exc, self._type_fn, Message(self._default_type, value))
                return self._default_type
            if isinstance(kind, str) and kind:
                return kind
        elif self._type is not None:
            if type(found) is str and found:
                return found
            if type(found) in (int, float):
                return str(found)  # an op code, say
        else:
            return self._default_type  # no type asked for: nothing is unmatched
        self.unmatched += 1
        return self._default_type

    def _compile(self) -> Callable[[Any], int]:
        """The function that delivers the messages of a frame's values (the value itself in a
        1-tuple, or a batch's list) and returns how many there were.

        Its source is written once per ``Fields`` and compiled, as ``namedtuple`` and
        ``dataclasses`` do: a path of keys becomes plain subscripts in a ``try`` (what
        :func:`compile_path` does for one or two keys, without the call), a numeric timestamp in
        a named unit a multiplication, and nothing else is called per message but the
        dispatcher. Other paths call their compiled getter."""
        namespace: dict[str, Any] = {
            "dispatch": self.dispatcher.dispatch, "new": tuple.__new__, "Message": Message,
            "missing": MISSING, "slow_kind": self._kind, "count_gap": self._count_gap,
            "to_seconds": to_seconds, "unit": self._unit, "default_type": self._default_type,
            "get_type": self._type, "get_payload": self._payload, "get_stamp": self._timestamp,
            "get_rows": self._rows, "get_action": self._action, "get_seq": self._seq,
        }
        body: list[str] = []
        if self._type_fn is not None:
            body.append("kind = slow_kind(value)")
        elif self._type is None:
            body.append("kind = default_type")
        else:
            body += _read("kind", "value", self._description["type"], "get_type")
            body.append("if type(kind) is not str or not kind:")
            body.append("    kind = slow_kind(value, kind)")
        action = seq = "None"  # constants in the message when not asked for
        if self._action is not None:
            action = "action"
            body += _read("action", "value", self._description["action"], "get_action")
            body.append("if type(action) is not str:")
            body.append("    action = None")
        if self._seq is not None:
            seq = "seq"
            body += _read("seq", "value", self._description["seq"], "get_seq")
            body.append("seq = count_gap(kind, seq) if type(seq) is int else None")
        item = "value" if self._rows is None else "item"
        per_item: list[str] = []
        payload = item
        if self._payload is not None:
            payload = "payload"
            per_item += _read("payload", item, self._description["payload"], "get_payload", "None")
        stamp = "None"
        if self._timestamp is not None:
            stamp = "stamp"
            per_item += _read("raw", item, self._description["timestamp"], "get_stamp")
            scale = _SCALE.get(self._unit) if self._unit is not None else None
            if scale is not None:
                # What to_seconds does, without the call. orjson gives no infinite floats and
                # no int beyond 64 bits, so the product is finite.
                per_item += ["kind_of_raw = type(raw)",
                             "if kind_of_raw is int or kind_of_raw is float:",
                             f"    stamp = raw * {scale!r}",
                             "elif raw is missing:",
                             "    stamp = None",
                             "else:",
                             "    stamp = to_seconds(raw, unit)"]
            else:
                per_item.append("stamp = None if raw is missing else to_seconds(raw, unit)")
        per_item.append(f"dispatch(new(Message, (kind, {payload}, {stamp}, {seq}, None, {action})))")
        if self._rows is None:
            body += per_item
            start, end = ["def deliver(values):"], ["    return len(values)"]
        else:
            body += _read("rows", "value", self._description["rows"], "get_rows")
            body.append("if type(rows) is not list:")
            body.append("    rows = (value,)")
            body.append("for item in rows:")
            body += ["    " + line for line in per_item]
            body.append("count += len(rows)")
            start, end = ["def deliver(values):", "    count = 0"], ["    return count"]
        lines = [*start, "    for value in values:", *("        " + line for line in body), *end]
        source = self._delivery_source = "\n".join(lines) + "\n"
        exec(compile(source, f"<Fields delivery {id(self):#x}>", "exec"), namespace)
        deliver: Callable[[Any], int] = namespace["deliver"]
        return deliver

    def _count_gap(self, kind: str, seq: int) -> int:
        last = self._last_seq.get(kind)
        if last is not None and seq > last + 1:
            self.gaps += seq - last - 1
        self._last_seq[kind] = seq
        if len(self._last_seq) > 10_000:  # bounded: a feed with ever-new types
            self._last_seq.pop(next(iter(self._last_seq)))
        return seq

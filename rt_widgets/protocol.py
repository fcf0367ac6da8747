"""The wire envelope: ``{"type": str, "payload": any, "timestamp": ISO-8601}``, one per frame or a batch.

Pure logic: decoding never raises on bad input; it returns the good messages and one error string per bad
element, so the connection can count them and stay up.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson

__all__ = [
    "Message",
    "decode",
    "decode_objects",
    "encode",
    "make_message",
    "message_of",
    "now_iso",
    "objects_of",
    "undecodable",
]


class Message(NamedTuple):
    """One decoded message, immutable. ``"*"`` handlers receive these; typed handlers receive
    ``payload`` only; ``action`` is a ``Fields(action=...)`` value (``"delete"``, ``"partial"``...).
    (A named tuple rather than a dataclass: it is built for every message on the hot
    path, and a tuple is several times cheaper to create.)"""

    type: str
    payload: Any = None
    #: The message's own time: the envelope's ISO-8601 string, or (``Fields(timestamp=...)``)
    #: seconds since the epoch; ``None`` when the message has none.
    timestamp: str | float | None = None
    seq: int | None = None
    id: Any = None
    action: str | None = None


def now_iso() -> str:
    """The current UTC time as ISO-8601 with milliseconds and a ``Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def make_message(type: str, payload: Any = None) -> dict[str, Any]:
    """Build an envelope stamped with the current time."""
    if not isinstance(type, str) or not type:
        raise ValueError(f"message type must be a non-empty string, got {type!r}")
    return {"type": type, "payload": payload, "timestamp": now_iso()}


def encode(message: dict[str, Any]) -> bytes:
    """Serialise one envelope to UTF-8 JSON (sent as a text frame)."""
    return orjson.dumps(message)


def _describe(value: Any) -> str:
    return type(value).__name__


def _problem(obj: Any) -> str | None:
    """Why ``obj`` is not a valid envelope, or ``None`` if it is."""
    if type(obj) is not dict:
        return f"message is not a JSON object (got {_describe(obj)})"
    kind = obj.get("type")
    if type(kind) is not str:
        return "message has no string 'type'" if kind is None else (
            f"message 'type' must be a string (got {_describe(kind)})"
        )
    return None


def message_of(obj: dict[str, Any]) -> Message:
    """The ``Message`` of an envelope that ``decode_objects`` accepted."""
    ts = obj.get("timestamp")
    seq = obj.get("seq")
    return Message(
        obj["type"],
        obj.get("payload"),
        ts if isinstance(ts, str) else None,
        seq if isinstance(seq, int) and not isinstance(seq, bool) else None,
        obj.get("id"),
    )


def decode_objects(frame: str | bytes) -> tuple[list[dict[str, Any]], list[str]]:
    """Like ``decode`` but returns the envelopes as dicts (each with a string ``type``), so the hot path
    builds a ``Message`` only for handlers that want one."""
    try:
        data = orjson.loads(frame)
    except orjson.JSONDecodeError as exc:
        return [], [undecodable(exc)]
    return objects_of(data)


def undecodable(exc: Exception) -> str:
    # The connection reads text frames as bytes too (no str copy), so it cannot tell them apart.
    return f"frame is not valid UTF-8 JSON: {exc}"


def objects_of(data: Any) -> tuple[list[dict[str, Any]], list[str]]:
    """The envelopes of a parsed frame (an object or an array of objects) and the errors of the rest."""
    if type(data) is dict:
        if type(data.get("type")) is str:
            return [data], []
        return [], [_problem(data) or "invalid message"]
    if type(data) is list:
        good: list[dict[str, Any]] = []
        errors: list[str] = []
        for item in data:
            if type(item) is dict and type(item.get("type")) is str:
                good.append(item)
            else:
                errors.append(f"batch element: {_problem(item)}")
        return good, errors
    return [], [_problem(data) or "invalid message"]


def decode(frame: str | bytes) -> tuple[list[Message], list[str]]:
    """Decode one frame into its messages and the errors of its bad parts.

    A frame holds one message (a JSON object) or a batch (a JSON array of objects). Binary frames
    must hold UTF-8 JSON. Every message needs a string ``type``.

    >>> messages, errors = decode('[{"type": "a", "payload": 1}, 7]')
    >>> [m.payload for m in messages], errors
    ([1], ['batch element: message is not a JSON object (got int)'])
    """
    objects, errors = decode_objects(frame)
    return [message_of(obj) for obj in objects], errors

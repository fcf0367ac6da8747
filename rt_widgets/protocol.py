"""The wire envelope: ``{"type": str, "payload": any, "timestamp": ISO-8601}``, one per frame or a batch.

Pure logic: decoding never raises on bad input; it returns the good messages and one error string per bad
element, so the connection can count them and stay up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson

__all__ = ["Message", "decode", "encode", "make_message", "now_iso", "redact_url"]


@dataclass(frozen=True, slots=True)
class Message:
    """One decoded message. ``"*"`` handlers receive these; typed handlers receive ``payload`` only."""

    type: str
    payload: Any = None
    timestamp: str | None = None
    seq: int | None = None
    id: Any = None


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


def _to_message(obj: Any) -> Message | str:
    if not isinstance(obj, dict):
        return f"message is not a JSON object (got {_describe(obj)})"
    kind = obj.get("type")
    if not isinstance(kind, str):
        return "message has no string 'type'" if kind is None else (
            f"message 'type' must be a string (got {_describe(kind)})"
        )
    ts = obj.get("timestamp")
    seq = obj.get("seq")
    return Message(
        kind,
        obj.get("payload"),
        ts if isinstance(ts, str) else None,
        seq if isinstance(seq, int) and not isinstance(seq, bool) else None,
        obj.get("id"),
    )


def decode(frame: str | bytes) -> tuple[list[Message], list[str]]:
    """Decode one frame into its messages and the errors of its bad parts.

    A frame holds one message (a JSON object) or a batch (a JSON array of objects). Binary frames
    must hold UTF-8 JSON. Every message needs a string ``type``.

    >>> messages, errors = decode('[{"type": "a", "payload": 1}, 7]')
    >>> [m.payload for m in messages], errors
    ([1], ['batch element: message is not a JSON object (got int)'])
    """
    try:
        data = orjson.loads(frame)
    except orjson.JSONDecodeError as exc:
        kind = "binary frame is not UTF-8 JSON" if isinstance(frame, bytes) else "invalid JSON"
        return [], [f"{kind}: {exc}"]
    except RecursionError:  # pragma: no cover - orjson bounds nesting itself
        return [], ["invalid JSON: nested too deeply"]
    if isinstance(data, list):
        messages: list[Message] = []
        errors: list[str] = []
        for item in data:
            result = _to_message(item)
            if isinstance(result, str):
                errors.append(f"batch element: {result}")
            else:
                messages.append(result)
        return messages, errors
    result = _to_message(data)
    if isinstance(result, str):
        return [], [result]
    return [result], []


_SECRET_WORDS = ("token", "key", "secret", "password", "passwd", "auth", "signature", "sig",
                 "credential", "session", "jwt", "bearer", "code")


def _is_secret(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in _SECRET_WORDS)


def redact_url(url: str) -> str:
    """The URL with credentials masked: userinfo and secret-looking query values become ``***``.

    >>> redact_url("wss://bob:pw@example.com/ws?token=abc&room=1")
    'wss://***@example.com/ws?token=***&room=1'
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid url>"
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode(
            [(k, "***" if _is_secret(k) else v) for k, v in pairs], safe="*"
        )
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))

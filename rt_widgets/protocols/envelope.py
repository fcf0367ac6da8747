"""The envelope protocol: ``{"type": str, "payload": any, "timestamp": ISO-8601}``, one per frame or
a JSON array of them (``messages="envelope"``); what the bundled demo feed speaks.

Anything else is a decode error: counted, reported, never fatal. Its application ping is
``{"type": "ping", "timestamp": ...}`` (or the ``heartbeat_message`` given) and a ``pong`` message
answers it; pongs are consumed here, not dispatched.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from ..link import Outgoing
from ..protocol import encode, make_message, message_of, now_iso, objects_of, undecodable
from .base import FrameProtocol, Payload

__all__ = ["DEFAULT_PING", "Envelope"]

DEFAULT_PING: dict[str, Any] = {"type": "ping"}
_PONG = "pong"


class Envelope(FrameProtocol):
    """The strict envelope. ``heartbeat_message``: the application ping (a dict with a string
    ``type``; a ``timestamp`` is added when absent and the pong echoing it measures latency), or
    ``None`` for none."""

    def __init__(self, heartbeat_message: Mapping[str, Any] | None = DEFAULT_PING) -> None:
        super().__init__()
        if heartbeat_message is not None and not (
            isinstance(heartbeat_message, Mapping) and isinstance(heartbeat_message.get("type"), str)
        ):
            raise ValueError("heartbeat_message must be None or a dict with a string 'type'")
        self._ping = dict(heartbeat_message) if heartbeat_message is not None else None

    def receive(self, data: Payload) -> int:
        # The hot path: no Message is built unless a "*" handler wants one.
        dispatcher = self.dispatcher
        try:
            value = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            self._decode_error(undecodable(exc))
            return 0
        kind = value.get("type") if type(value) is dict else None
        if type(kind) is str:
            # The common frame, one well-formed message: no list, no second pass.
            if kind == _PONG:
                self._pong(value)
            else:
                dispatcher.dispatch_object(value, kind)
            return 1
        if type(value) is list and dispatcher.dispatch_batch(value, _PONG):
            # A batch of well-formed messages whose handlers all take batches (the widgets').
            return len(value)
        objects, errors = objects_of(value)
        if errors:
            self._decode_error(errors[-1], len(errors))
        for pong in dispatcher.dispatch_objects(objects, _PONG):
            self._pong(pong)
        return len(objects)

    def _pong(self, obj: dict[str, Any]) -> None:
        if self.host is None:
            return
        message = message_of(obj)
        key = message.timestamp
        if key is None and isinstance(message.payload, dict):
            candidate = message.payload.get("timestamp")
            key = candidate if isinstance(candidate, str) else None
        self.host.on_app_pong(key)

    def message(self, type_or_message: str | Mapping[str, Any], payload: Any = None) -> dict[str, Any]:
        """The envelope dict ``send(type_or_message, payload)`` sends (stamped with the time)."""
        if isinstance(type_or_message, str):
            return make_message(type_or_message, payload)
        if isinstance(type_or_message, Mapping):
            if payload is not None:
                raise TypeError("pass either a message dict or (type, payload), not both")
            if not isinstance(type_or_message.get("type"), str) or not type_or_message["type"]:
                raise ValueError("a message dict needs a non-empty string 'type'")
            message = dict(type_or_message)
            message.setdefault("timestamp", now_iso())
            return message
        raise TypeError(f"send() takes a type string or a message dict, got {type_or_message!r}")

    def encode(self, type_or_value: Any, payload: Any = None) -> tuple[Any, Outgoing]:
        message = self.message(type_or_value, payload)
        return message, Outgoing(_dumps(message))

    def subscription(self, type_or_value: Any, payload: Any = None) -> Outgoing:
        message = self.message(type_or_value, payload)
        message.pop("timestamp", None)
        return Outgoing(_dumps(message))

    def ping(self) -> tuple[Outgoing, str | None] | None:
        if self._ping is None:
            return None
        ping = dict(self._ping)
        stamp = ping.setdefault("timestamp", now_iso())
        return Outgoing(_dumps(ping)), stamp if isinstance(stamp, str) else None


def _dumps(message: dict[str, Any]) -> bytes:
    try:
        return encode(message)
    except TypeError as exc:
        raise TypeError(f"message is not JSON-serialisable: {exc}") from None

"""The envelope protocol: ``{"type": str, "payload": any, "timestamp": ISO-8601}``, one per frame or
a JSON array of them (``messages="envelope"``); what the bundled demo feed speaks.

Anything else is a decode error: counted, reported, never fatal. Its application ping is
``{"type": "ping", "timestamp": ...}`` (or the ``heartbeat_message`` given) and a ``pong`` message
answers it; pongs are consumed here, not dispatched.
"""

from __future__ import annotations

from typing import Any

import orjson

from ..protocol import objects_of, undecodable
from .base import FrameProtocol, Payload

__all__ = ["DEFAULT_PING", "PONG", "Envelope", "pong_key"]

DEFAULT_PING: dict[str, Any] = {"type": "ping"}
PONG = "pong"


class Envelope(FrameProtocol):
    """The strict envelope; its application ping is ``{"type": "ping", "timestamp": ...}``."""

    default_ping = DEFAULT_PING

    def describe(self) -> str:
        return "envelope"

    def receive(self, data: Payload, text: bool = True) -> int:
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
            if kind == PONG:
                self._pong(value)
            else:
                dispatcher.dispatch_object(value, kind)
            return 1
        if type(value) is list and dispatcher.dispatch_batch(value, PONG):
            # A batch of well-formed messages whose handlers all take batches (the widgets').
            return len(value)
        objects, errors = objects_of(value)
        if errors:
            self._decode_error(errors[-1], len(errors))
        for pong in dispatcher.dispatch_objects(objects, PONG):
            self._pong(pong)
        return len(objects)

    def _pong(self, obj: dict[str, Any]) -> None:
        if self.host is not None:
            self.host.on_app_pong(pong_key(obj))


def pong_key(obj: dict[str, Any]) -> str | None:
    """The key of an envelope ``pong``: the ping timestamp it echoes (at the top or in its payload)."""
    key = obj.get("timestamp")
    payload = obj.get("payload")
    if not isinstance(key, str) and isinstance(payload, dict):
        key = payload.get("timestamp")
    return key if isinstance(key, str) else None

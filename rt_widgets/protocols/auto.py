"""``messages="auto"``, the default: any JSON feed, with no configuration.

- An object with a string ``type`` and a ``payload`` key is an envelope (see :mod:`.envelope`).
- Any other object: its type is the first non-empty string value among the fields
  :data:`TYPE_FIELDS`, in that order (``"message"`` when there is none), and its payload is the
  whole object.
- A top-level array whose elements are all objects is a batch: each element is one message, as
  above. Any other JSON value is one message of type ``"message"``.
- A text frame that is not JSON is a ``"text"`` message (its string); a binary frame that is not
  UTF-8 JSON is a ``"binary"`` message (its bytes).

Nothing here is a decode error: only frames over ``max_message_size`` are (the driver counts
those). The envelope's application ping is sent only once the feed has shown it speaks the
envelope, never unsolicited to a feed that may reject it; a ``heartbeat_message`` given by the user
is always sent.

>>> from rt_widgets.dispatch import Dispatcher
>>> auto, seen = Auto(), []
>>> auto.bind(None, Dispatcher())  # type: ignore[arg-type]
>>> _ = auto.dispatcher.on("*", lambda m: seen.append((m.type, m.payload)))
>>> auto.receive(b'{"e": "trade", "s": "BTCUSDT", "p": "1.5"}'), auto.receive(b"hello")
(1, 1)
>>> seen
[('trade', {'e': 'trade', 's': 'BTCUSDT', 'p': '1.5'}), ('text', 'hello')]
"""

from __future__ import annotations

from typing import Any

import orjson

from .._batch import all_of_type
from ..link import Outgoing
from ..protocol import Message
from .base import FrameProtocol, Payload
from .envelope import DEFAULT_PING, PONG, pong_key

__all__ = ["TYPE_FIELDS", "Auto", "type_of"]

#: Where real feeds put a message's type, in the order they are tried.
TYPE_FIELDS = ("type", "event", "e", "ev", "T", "channel", "topic", "table", "stream", "op", "kind",
               "method", "action")
DEFAULT_TYPE = "message"


def type_of(obj: dict[str, Any]) -> str:
    """The type ``auto`` gives a non-envelope object."""
    for field in TYPE_FIELDS:
        value = obj.get(field)
        if type(value) is str and value:  # "" names no type (no handler can ask for it)
            return value
    return DEFAULT_TYPE


class Auto(FrameProtocol):
    """See the module docstring."""

    default_ping = DEFAULT_PING

    def describe(self) -> str:
        return "auto"

    def __init__(self) -> None:
        super().__init__()
        self.speaks_envelope = False

    def receive(self, data: Payload, text: bool = True) -> int:
        try:
            value = orjson.loads(data)
        except orjson.JSONDecodeError:
            if text:
                self.dispatcher.dispatch(Message("text", bytes(data).decode("utf-8", "replace")))
            else:
                self.dispatcher.dispatch(Message("binary", bytes(data)))
            return 1
        if type(value) is dict:
            self._one(value)
            return 1
        if type(value) is list and value:
            # A batch of envelopes whose handlers all take batches: checked in the grouping passes.
            if self.dispatcher.dispatch_batch(value, PONG, payload=True):
                self.speaks_envelope = True
                return len(value)
            if all_of_type(dict, value):
                for item in value:
                    self._one(item)
                return len(value)
        self.dispatcher.dispatch(Message(DEFAULT_TYPE, value))
        return 1

    def _one(self, obj: dict[str, Any]) -> None:
        kind = obj.get("type")
        if type(kind) is str:
            if "payload" in obj:
                self.speaks_envelope = True
                if kind != PONG:
                    self.dispatcher.dispatch_object(obj, kind)
                    return
            if kind == PONG and self.speaks_envelope:
                if self.host is not None:  # the answer to our ping
                    self.host.on_app_pong(pong_key(obj))
                return
        self.dispatcher.dispatch(Message(type_of(obj), obj))

    def ping(self) -> tuple[Outgoing, str | None] | None:
        if self._ping is None or not (self._explicit_ping or self.speaks_envelope):
            return None
        return self._ping()

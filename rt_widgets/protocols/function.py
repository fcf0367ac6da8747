"""``messages=callable``: a Python function turns each frame into messages.

``fn(value)`` is called once per frame with its decoded JSON value (arrays not split), or the
``str``/``bytes`` of a frame that is not JSON, and returns an iterable of ``(type, payload)`` pairs
or of :class:`~rt_widgets.Message`. An exception (or a result of another shape) is counted like a
failing handler (``stats()["handler_errors"]``) and loses that frame only.

>>> from rt_widgets.dispatch import Dispatcher
>>> kraken = Function(lambda v: [(v[2], v[1])] if isinstance(v, list) else [(v["event"], v)])
>>> kraken.bind(None, Dispatcher())  # type: ignore[arg-type]
>>> seen = []
>>> _ = kraken.dispatcher.on("*", lambda m: seen.append(m.type))
>>> kraken.receive(b'[0, [["5541.2", "0.15"]], "trade", "XBT/USD"]'), seen
(1, ['trade'])
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import orjson

from ..protocol import Message
from .base import FrameProtocol, Payload

__all__ = ["Function"]

Decoder = Callable[[Any], Iterable[Any]]


class Function(FrameProtocol):
    """Frames decoded by a user function; see the module docstring."""

    sets_actions = True  # the function may give Messages with an action

    def __init__(self, fn: Decoder) -> None:
        super().__init__()
        if not callable(fn):
            raise TypeError(f"messages= takes 'auto', 'envelope', a Fields(...) or a callable, got {fn!r}")
        self.fn = fn

    def __repr__(self) -> str:
        return f"Function({getattr(self.fn, '__qualname__', self.fn)!r})"

    def receive(self, data: Payload, text: bool = True) -> int:
        value: Any
        try:
            value = orjson.loads(data)
        except orjson.JSONDecodeError:
            value = bytes(data).decode("utf-8", "replace") if text else bytes(data)
        try:
            messages = [_message_of(item) for item in self.fn(value)]
        except Exception as exc:
            self.dispatcher.report(exc, self.fn, Message("frame", value))
            return 0
        dispatch = self.dispatcher.dispatch
        for message in messages:
            dispatch(message)
        return len(messages)


def _message_of(item: Any) -> Message:
    if isinstance(item, Message):
        return item
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str) and item[0]:
        return Message(item[0], item[1])
    raise TypeError(
        f"a messages= function must yield (type, payload) pairs with a non-empty str type, or "
        f"Message objects; it yielded {item!r}"
    )

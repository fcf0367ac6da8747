"""Routing decoded messages to handlers by type.

Pure logic. For each message: the handlers of its type in registration order, then the ``"*"`` handlers
in registration order. Typed handlers get the payload, ``"*"`` handlers get the whole ``Message``. A handler
that raises is counted and reported; every other handler still runs.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from .protocol import Message, message_of

__all__ = ["Dispatcher", "Handler"]

Handler = Callable[[Any], Any]
Tap = Callable[[str, Any], None]
ErrorHook = Callable[[BaseException, Callable[..., Any], Message], None]
Scheduler = Callable[[Coroutine[Any, Any, Any], Handler, Message], None]

logger = logging.getLogger("rt_widgets")

# Logging every failure of a handler that raises on each of 20,000 messages a second would drown the
# process; the first few are logged in full, then one in every thousand.
_LOG_FIRST = 5
_LOG_EVERY = 1000


class Dispatcher:
    """Handlers by message type, plus ``"*"`` for every message.

    >>> d = Dispatcher()
    >>> seen = []
    >>> unsubscribe = d.on("tick", seen.append)
    >>> d.dispatch(Message("tick", 1)); seen
    [1]
    """

    __slots__ = ("_by_type", "_on_error", "_schedule", "_taps", "_wildcard", "handler_errors")

    def __init__(self, on_error: ErrorHook | None = None, schedule: Scheduler | None = None) -> None:
        # Tuples replaced on change, never mutated: dispatch iterates a stable snapshot even when a
        # handler subscribes or unsubscribes, from this thread or another.
        self._by_type: dict[str, tuple[Handler, ...]] = {}
        self._wildcard: tuple[Handler, ...] = ()
        self._taps: tuple[Tap, ...] = ()
        self._on_error = on_error
        self._schedule = schedule
        self.handler_errors = 0

    def on(self, type: str, handler: Handler) -> Callable[[], None]:
        """Call ``handler`` for every message of ``type`` (``"*"``: every message). Returns a function
        that unsubscribes it."""
        if not isinstance(type, str) or not type:
            raise ValueError(f"message type must be a non-empty string or '*', got {type!r}")
        if not callable(handler):
            raise TypeError(f"handler must be callable, got {handler!r}")
        if type == "*":
            self._wildcard = (*self._wildcard, handler)
        else:
            self._by_type[type] = (*self._by_type.get(type, ()), handler)

        def unsubscribe() -> None:
            if type == "*":
                self._wildcard = tuple(h for h in self._wildcard if h is not handler)
            else:
                remaining = tuple(h for h in self._by_type.get(type, ()) if h is not handler)
                if remaining:
                    self._by_type[type] = remaining
                else:
                    self._by_type.pop(type, None)

        return unsubscribe

    def tap(self, handler: Tap) -> Callable[[], None]:
        """Call ``handler(type, payload)`` for every message, after its typed handlers and before the
        ``"*"`` handlers: a ``"*"`` handler that needs no ``Message`` (none is built for it). Returns a
        function that unsubscribes it."""
        if not callable(handler):
            raise TypeError(f"handler must be callable, got {handler!r}")
        self._taps = (*self._taps, handler)

        def unsubscribe() -> None:
            self._taps = tuple(h for h in self._taps if h is not handler)

        return unsubscribe

    def dispatch(self, message: Message) -> None:
        """Deliver one message to its handlers; never raises because of a handler."""
        typed = self._by_type.get(message.type)
        if typed:
            self._call(typed, message.payload, message)
        if self._taps:
            self._call_taps(message.type, message.payload, message)
        if self._wildcard:
            self._call(self._wildcard, message, message)

    def dispatch_object(self, obj: dict[str, Any], type: str) -> None:
        """``dispatch`` for a decoded envelope dict (see ``protocol.decode_objects``) whose ``type``
        the caller has read: the ``Message`` is built only when a ``"*"`` handler or a failure needs
        it."""
        typed = self._by_type.get(type)
        if typed:
            # The per-message hot path: the loop of _call, inlined (a call costs as much as the rest).
            payload = obj.get("payload")
            for handler in typed:
                try:
                    result = handler(payload)
                except Exception as exc:
                    self.report(exc, handler, message_of(obj))
                else:
                    if result is not None and inspect.iscoroutine(result):
                        self._run_async(result, handler, message_of(obj))
        if self._taps:
            self._call_taps(type, obj.get("payload"), obj)
        if self._wildcard:
            message = message_of(obj)
            self._call(self._wildcard, message, message)

    def dispatch_objects(self, objects: list[dict[str, Any]], skip: str) -> list[dict[str, Any]]:
        """``dispatch_object`` for each envelope of a batch, in order, except those of type ``skip``,
        which are returned instead (the connection's own ``pong`` messages)."""
        skipped: list[dict[str, Any]] = []
        dispatch = self.dispatch_object
        for obj in objects:
            kind = obj["type"]
            if kind == skip:
                skipped.append(obj)
            else:
                dispatch(obj, kind)
        return skipped

    def _call(
        self, handlers: tuple[Handler, ...], arg: Any, source: Message | dict[str, Any]
    ) -> None:
        for handler in handlers:
            try:
                result = handler(arg)
            except Exception as exc:
                self.report(exc, handler, _as_message(source))
            else:
                if result is not None and inspect.iscoroutine(result):
                    self._run_async(result, handler, _as_message(source))

    def _call_taps(self, type: str, payload: Any, source: Message | dict[str, Any]) -> None:
        for tap in self._taps:
            try:
                tap(type, payload)
            except Exception as exc:
                self.report(exc, tap, _as_message(source))

    def _run_async(self, coro: Coroutine[Any, Any, Any], handler: Handler, message: Message) -> None:
        if self._schedule is None:
            coro.close()
            self.report(
                RuntimeError("async handlers need an event loop: register them on a Connection"),
                handler,
                message,
            )
            return
        self._schedule(coro, handler, message)

    def report(self, exc: BaseException, handler: Callable[..., Any], message: Message) -> None:
        """Count and log a handler failure (also used for async handlers' tasks)."""
        self.handler_errors += 1
        n = self.handler_errors
        if n <= _LOG_FIRST or n % _LOG_EVERY == 0:
            name = getattr(handler, "__qualname__", repr(handler))
            logger.error(
                "handler %s failed on a %r message (%d handler errors so far)",
                name, message.type, n, exc_info=exc,
            )
        if self._on_error is not None:
            try:
                self._on_error(exc, handler, message)
            except Exception:  # pragma: no cover - a broken error hook must not break dispatch
                logger.exception("error hook failed")


def _as_message(source: Message | dict[str, Any]) -> Message:
    return source if isinstance(source, Message) else message_of(source)

"""Routing decoded messages to handlers by type.

Pure logic. For each message: the handlers of its type in registration order, then the ``"*"`` handlers
in registration order. Typed handlers get the payload, ``"*"`` handlers get the whole ``Message``. A handler
that raises is counted and reported; every other handler still runs.

A handler may come with a form for many payloads (:class:`Batched`): the stores behind the widgets
take a frame's rows in one call. When every handler a batch frame reaches has one, the frame is
delivered a type at a time (:meth:`Dispatcher.dispatch_batch`): each type's payloads, in order, in one
call per handler. Such handlers run no code they were not given, so nothing can tell the difference
from message-by-message delivery except the cost, which no longer grows with a Python call per message.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Coroutine
from itertools import chain, repeat
from typing import Any

from ._batch import all_of_type, group_by_type
from .protocol import Message, message_of

__all__ = ["Batched", "Dispatcher", "Handler", "Timed"]

Handler = Callable[[Any], Any]
Tap = Callable[[str, Any], None]
ErrorHook = Callable[[BaseException, Callable[..., Any], Message], None]
Scheduler = Callable[[Coroutine[Any, Any, Any], Handler, Message], None]

logger = logging.getLogger("rt_widgets")

# Logging every failure of a handler that raises on each of 20,000 messages a second would drown the
# process; the first few are logged in full, then one in every thousand.
_LOG_FIRST = 5
_LOG_EVERY = 1000
_NONE = repeat(())
_TIMESTAMP = repeat("timestamp")


class Batched:
    """A handler with a batch form: ``one(*args)`` for one message, ``many(*args)`` with a list of
    payloads in place of the payload (in arrival order) for several messages of one type at once.

    ``many`` must do what calling ``one`` for each payload in turn would do, and must call no code
    it was not given: :meth:`Dispatcher.dispatch_batch` reorders messages of different types within
    a frame when every handler they reach is batched. ``batchable``, when given, is asked before
    each batch frame: ``False`` sends the frame message by message (for instance while ``many``
    would call a user's callback).
    """

    __slots__ = ("batchable", "many", "one")

    def __init__(self, one: Callable[..., Any], many: Callable[..., Any],
                 batchable: Callable[[], bool] | None = None) -> None:
        if not callable(one) or not callable(many):
            raise TypeError(f"Batched needs two callables, got {one!r} and {many!r}")
        self.one = one
        self.many = many
        self.batchable = batchable

    def __call__(self, *args: Any) -> Any:
        return self.one(*args)

    def __repr__(self) -> str:
        return f"Batched({self.one!r}, {self.many!r})"


class Timed:
    """A handler of one type that also takes each message's own time (``Message.timestamp``: the
    envelope's ISO-8601 string, ``Fields``' epoch seconds, or ``None``): ``one(payload, timestamp)``
    for one message, ``many(payloads, timestamps)`` for several of that type at once, in arrival
    order. It runs after the plain handlers of its type, and does not stop a batch frame from being
    delivered a type at a time unless its ``batchable``, when given, says ``False`` before the
    frame (as a :class:`Batched` handler's does).

    >>> d = Dispatcher(); seen = []
    >>> _ = d.on("tick", Timed(lambda p, t: seen.append((p, t)), lambda ps, ts: None))
    >>> d.dispatch(Message("tick", 1, "2025-01-01T00:00:00Z")); seen
    [(1, '2025-01-01T00:00:00Z')]
    """

    __slots__ = ("batchable", "many", "one")

    def __init__(self, one: Callable[[Any, Any], Any],
                 many: Callable[[list[Any], list[Any]], Any],
                 batchable: Callable[[], bool] | None = None) -> None:
        if not callable(one) or not callable(many):
            raise TypeError(f"Timed needs two callables, got {one!r} and {many!r}")
        self.one = one
        self.many = many
        self.batchable = batchable

    def __call__(self, payload: Any, timestamp: Any = None) -> Any:
        return self.one(payload, timestamp)

    def __repr__(self) -> str:
        return f"Timed({self.one!r}, {self.many!r})"


def _stamp(obj: dict[str, Any]) -> str | None:
    """An envelope's timestamp as ``message_of`` reads it."""
    ts = obj.get("timestamp")
    return ts if isinstance(ts, str) else None


def _one(handler: Callable[..., Any]) -> Callable[..., Any]:
    return handler.one if type(handler) is Batched else handler


def _batch_conditions(handlers: tuple[Callable[..., Any], ...]) -> tuple[Callable[[], bool], ...]:
    return tuple(h.batchable for h in handlers if type(h) is Batched and h.batchable is not None)


class Dispatcher:
    """Handlers by message type, plus ``"*"`` for every message.

    >>> d = Dispatcher()
    >>> seen = []
    >>> unsubscribe = d.on("tick", seen.append)
    >>> d.dispatch(Message("tick", 1)); seen
    [1]
    """

    __slots__ = ("_batched_types", "_by_type", "_conditions", "_handlers", "_on_error", "_schedule",
                 "_tap_calls", "_tap_conditions", "_taps", "_taps_batched", "_timed", "_wildcard",
                 "handler_errors")

    def __init__(self, on_error: ErrorHook | None = None, schedule: Scheduler | None = None) -> None:
        # Tuples replaced on change, never mutated: dispatch iterates a stable snapshot even when a
        # handler subscribes or unsubscribes, from this thread or another.
        self._handlers: dict[str, tuple[Handler, ...]] = {}  # as registered (Batched or not)
        self._by_type: dict[str, tuple[Handler, ...]] = {}  # what one message calls
        self._batched_types: frozenset[str] = frozenset()  # types whose handlers are all Batched
        self._wildcard: tuple[Handler, ...] = ()
        self._timed: dict[str, tuple[Timed, ...]] = {}  # Timed handlers, by type
        self._taps: tuple[Tap, ...] = ()
        self._tap_calls: tuple[Tap, ...] = ()
        self._taps_batched = True
        # What Batched handlers' ``batchable`` asks before each batch frame, by type; for taps.
        self._conditions: dict[str, tuple[Callable[[], bool], ...]] = {}
        self._tap_conditions: tuple[Callable[[], bool], ...] = ()
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
        if isinstance(handler, Timed):
            return self._on_timed(type, handler)
        if type == "*":
            self._wildcard = (*self._wildcard, _one(handler))
        else:
            self._set_handlers(type, (*self._handlers.get(type, ()), handler))

        def unsubscribe() -> None:
            if type == "*":
                self._wildcard = tuple(h for h in self._wildcard if h is not _one(handler))
            else:
                self._set_handlers(
                    type, tuple(h for h in self._handlers.get(type, ()) if h is not handler))

        return unsubscribe

    def _on_timed(self, type: str, handler: Timed) -> Callable[[], None]:
        if type == "*":
            raise ValueError("a Timed handler follows one message type, not '*'")
        self._timed = {**self._timed, type: (*self._timed.get(type, ()), handler)}

        def unsubscribe() -> None:
            rest = tuple(h for h in self._timed.get(type, ()) if h is not handler)
            timed = {k: v for k, v in self._timed.items() if k != type}
            if rest:
                timed[type] = rest
            self._timed = timed

        return unsubscribe

    def _set_handlers(self, kind: str, handlers: tuple[Handler, ...]) -> None:
        if handlers:
            self._handlers[kind] = handlers
            self._by_type[kind] = tuple(map(_one, handlers))
        else:
            self._handlers.pop(kind, None)
            self._by_type.pop(kind, None)
        self._batched_types = frozenset(
            t for t, hs in self._handlers.items() if all(type(h) is Batched for h in hs))
        conditions = _batch_conditions(handlers)
        if conditions:
            self._conditions[kind] = conditions
        else:
            self._conditions.pop(kind, None)

    def tap(self, handler: Tap) -> Callable[[], None]:
        """Call ``handler(type, payload)`` for every message, after its typed handlers and before the
        ``"*"`` handlers: a ``"*"`` handler that needs no ``Message`` (none is built for it). Returns a
        function that unsubscribes it."""
        if not callable(handler):
            raise TypeError(f"handler must be callable, got {handler!r}")
        self._set_taps((*self._taps, handler))

        def unsubscribe() -> None:
            self._set_taps(tuple(h for h in self._taps if h is not handler))

        return unsubscribe

    def _set_taps(self, taps: tuple[Tap, ...]) -> None:
        self._taps = taps
        self._tap_calls = tuple(map(_one, taps))
        self._taps_batched = all(type(h) is Batched for h in taps)
        self._tap_conditions = _batch_conditions(taps)

    def dispatch(self, message: Message) -> None:
        """Deliver one message to its handlers; never raises because of a handler."""
        typed = self._by_type.get(message.type)
        if typed:
            # The per-message path of every non-envelope protocol: _call's loop, inlined (a call
            # costs as much as the rest).
            payload = message.payload
            for handler in typed:
                try:
                    result = handler(payload)
                except Exception as exc:
                    self.report(exc, handler, message)
                else:
                    if result is not None and inspect.iscoroutine(result):
                        self._run_async(result, handler, message)
        if self._timed:
            timed = self._timed.get(message.type)
            if timed:
                self._call_timed(timed, message.payload, message.timestamp, message)
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
        if self._timed:
            timed = self._timed.get(type)
            if timed:
                self._call_timed(timed, obj.get("payload"), _stamp(obj), obj)
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

    def dispatch_batch(self, data: list[Any], skip: str, payload: bool = False) -> bool:
        """Deliver a decoded array frame a type at a time (types in order of first appearance),
        handing each type's payloads to each handler's batch form in one call; ``False`` (nothing
        delivered) when it must go message by message: an element that is not an envelope (with
        ``payload=True``, also one with no ``payload`` key), a message of type ``skip``, a ``"*"``
        handler, or a handler or tap with no batch form."""
        if self._wildcard or not self._taps_batched or not (
                self._batched_types or self._taps or self._timed):
            return False
        grouped = group_by_type(data, payload)
        if grouped is None:  # an element that is not an envelope with a str type
            return False
        distinct, groups, payload_groups = grouped
        by_type = self._by_type
        batched = self._batched_types
        for kind in distinct:
            if kind == skip or (kind in by_type and kind not in batched):
                return False
        conditions = self._conditions
        if conditions:
            for condition in chain.from_iterable(map(conditions.get, distinct, _NONE)):
                if not condition():
                    return False
        for condition in self._tap_conditions:
            if not condition():
                return False
        if self._timed:
            for kind in distinct:
                for timed_handler in self._timed.get(kind, ()):
                    if timed_handler.batchable is not None and not timed_handler.batchable():
                        return False
        for kind, objects, payloads in zip(distinct, groups, payload_groups, strict=True):
            # Read at each type: a view the explorer creates for one type follows the next ones.
            handlers = self._handlers.get(kind, ())
            for handler in handlers:
                if type(handler) is Batched:
                    self._call_batched(handler, (payloads,), objects)
                else:  # subscribed from another thread since the frame was checked
                    for obj, payload in zip(objects, payloads, strict=True):
                        self._call((handler,), payload, obj)
            timed = self._timed.get(kind)
            if timed:
                # Two C-level passes when every envelope has a str timestamp (the common case).
                stamps = list(map(dict.get, objects, _TIMESTAMP))
                if not all_of_type(str, stamps):
                    stamps = list(map(_stamp, objects))
                for handler in timed:
                    try:
                        handler.many(payloads, stamps)
                    except Exception as exc:
                        self.report(exc, handler.one, message_of(objects[0]))
            for tap in self._taps:
                if type(tap) is Batched:
                    self._call_batched(tap, (kind, payloads), objects)
                else:
                    for obj, payload in zip(objects, payloads, strict=True):
                        self._call_tap(tap, kind, payload, obj)
        return True

    def _call_batched(self, handler: Batched, args: tuple[Any, ...],
                      objects: list[dict[str, Any]]) -> None:
        try:
            result = handler.many(*args)
        except Exception as exc:
            self.report(exc, handler.one, message_of(objects[0]))
        else:
            if result is not None and inspect.iscoroutine(result):
                self._run_async(result, handler.one, message_of(objects[0]))

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

    def _call_timed(self, handlers: tuple[Timed, ...], payload: Any, timestamp: Any,
                    source: Message | dict[str, Any]) -> None:
        for handler in handlers:
            try:
                handler.one(payload, timestamp)
            except Exception as exc:
                self.report(exc, handler.one, _as_message(source))

    def _call_taps(self, type: str, payload: Any, source: Message | dict[str, Any]) -> None:
        for tap in self._tap_calls:
            self._call_tap(tap, type, payload, source)

    def _call_tap(self, tap: Tap, type: str, payload: Any, source: Message | dict[str, Any]) -> None:
        try:
            tap(type, payload)
        except Exception as exc:
            self.report(exc, _one(tap), _as_message(source))

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

"""LiveStore: a value folded from the messages of one type, as an observable trait."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import traitlets

from ..sync import get_frame_clock
from ._base import (
    Flusher,
    check_fps,
    check_type,
    read_on_io,
    register_flusher,
    reject_unknown,
)

if TYPE_CHECKING:
    from ..connection import Connection

__all__ = ["LiveStore"]

Transform = Callable[[Any, Any], Any]


class LiveStore(traitlets.HasTraits):
    """``value`` follows the messages of one type: ``value = transform(payload, value)``.

    Without a transform the value is the last payload. The trait changes at most ``fps`` times a
    second (always ending on the value after the last message), so observers and
    ``traitlets.dlink`` targets are never flooded. A transform that raises is counted in ``errors``
    and in the connection's ``handler_errors``; the value is left as it was. Observers run on the
    I/O thread.

    >>> total = w.store("order", lambda p, acc: acc + p["qty"], initial=0)   # doctest: +SKIP
    >>> traitlets.dlink((total, "value"), (progress, "value"))              # doctest: +SKIP
    """

    value = traitlets.Any(None)

    def __init__(self, connection: Connection, type: str, transform: Transform | None = None,
                 initial: Any = None, *, fps: float = 20, **kwargs: Any) -> None:
        reject_unknown("LiveStore", kwargs)
        check_type("type", type)
        if transform is not None and not callable(transform):
            raise TypeError(f"transform must be callable(payload, current), got {transform!r}")
        self._fps = check_fps(fps)
        super().__init__(value=initial)
        self.type = type
        self._transform = transform
        self._pending: Any = initial
        self._has_pending = False
        self.errors = 0
        self.last_error: str | None = None
        self._flusher = Flusher(self._flush)
        self._is_closed = False
        self._unsubscribe = connection.on(type, self._on_payload)
        register_flusher(self._flusher, self._fps)

    def _on_payload(self, payload: Any) -> None:
        if self._transform is None:
            new = payload
        else:
            try:
                new = self._transform(payload, self._pending)
            except Exception as exc:
                self.errors += 1
                self.last_error = f"transform failed on a {self.type!r} message: {exc!r}"
                raise  # the dispatcher counts it in handler_errors and logs it
        self._pending = new
        self._has_pending = True
        get_frame_clock().mark_dirty(self._flusher)

    def _flush(self) -> None:
        if self._is_closed or not self._has_pending:
            return
        self._has_pending = False
        self.value = self._pending

    @property
    def closed(self) -> bool:
        return self._is_closed

    def close(self) -> None:
        """Stop following the connection; ``value`` keeps its last value."""
        # Also reached from __del__ of an object whose __init__ rejected its arguments.
        if self.__dict__.get("_is_closed", True):
            return
        self._is_closed = True
        self._unsubscribe()
        flusher = self._flusher
        with contextlib.suppress(Exception):  # the I/O thread is gone (interpreter exit)
            read_on_io(lambda: get_frame_clock().unregister(flusher))

    def __repr__(self) -> str:
        return f"LiveStore(type={self.type!r}, value={self.value!r})"

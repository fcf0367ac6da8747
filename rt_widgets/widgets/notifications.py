"""Notifications: toasts from server messages and from the connection's own events."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from .. import iothread
from ..stores import NotificationStore
from ._base import DataView, check_positive_int, check_type, log, read_on_io, reject_unknown
from ._contract import NotificationsTraits

if TYPE_CHECKING:
    from ..connection import Connection

__all__ = ["Notifications"]


class Notifications(NotificationsTraits, DataView):
    """Toasts for messages of the given types, plus connection events (reconnected, gave up,
    send queue overflow, malformed frames) and metric threshold crossings.

    Payloads: a string, or an object with ``level`` (info, success, warning, error), ``title`` and
    ``message``. Server text is shown as text, never as HTML.

    >>> n = w.notifications()                              # doctest: +SKIP
    >>> n.on_notification(lambda item: print(item["level"], item["message"]))  # doctest: +SKIP
    """

    _bundled = False  # events: see DataView._bundled

    def __init__(
        self,
        connection: Connection,
        types: Iterable[str] = ("notification",),
        *,
        limit: int = 200,
        fps: float = 20,
        **kwargs: Any,
    ) -> None:
        reject_unknown("Notifications", kwargs)
        if isinstance(types, str):
            types = (types,)
        self.types = tuple(check_type("types", t) for t in types)
        check_positive_int("limit", limit)
        self._notes = NotificationStore(limit)
        super().__init__(self._notes, connection, fps, ",".join(self.types))
        for type in self.types:
            self._subscribe(type, self._on_payload)

    def _on_payload(self, payload: Any) -> None:
        self._notes.apply(payload, source="server")
        self._changed()

    def _apply(self, payloads: list[Any]) -> None:
        for payload in payloads:
            self._on_payload(payload)

    def notify(self, level: str = "info", title: str = "", message: str = "",
               source: str = "kernel") -> None:
        """Add a notification from Python, from any thread, without waiting (on the I/O thread it
        is added at once, so notices sent from there keep their order).

        >>> n.notify("warning", "Disk", "92% full")        # doctest: +SKIP
        """
        def add() -> None:
            self._notes.add(level, title, message, source)
            self._changed()

        if iothread.in_io_thread():
            add()
        else:
            iothread.call_soon(add)

    @property
    def items(self) -> list[dict[str, Any]]:
        """Copies of the kept notifications, oldest first."""
        return read_on_io(lambda: self._notes.items)

    def on_notification(self, callback: Callable[[dict[str, Any]], None]) -> Callable[[], None]:
        """Call ``callback(item)`` (on the I/O thread) for each new notification; returns a
        function that stops it."""
        if not callable(callback):
            raise TypeError(f"callback must be callable, got {callback!r}")

        def guarded(item: dict[str, Any]) -> None:
            # A failing callback must not lose the notification for the view or other callbacks.
            try:
                callback(dict(item))
            except Exception:
                log.exception("rt_widgets: on_notification callback %r failed", callback)

        return self._notes.subscribe(guarded)

    def __repr__(self) -> str:
        return f"Notifications(types={self.types!r}, items={len(self._notes)})"

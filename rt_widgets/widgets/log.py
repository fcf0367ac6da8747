"""LiveLog: the last messages of one type (or of every type), newest first, as text."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final

from .. import iothread
from ..dispatch import Batched, Timed
from ..stores import LogStore
from ..sync import get_frame_clock
from ._base import DataView, check_fps, check_positive_int, check_type, read_on_io, reject_unknown
from ._contract import ENTRY, LogTraits, parse_entry_request

if TYPE_CHECKING:
    from ..connection import Connection

__all__ = ["ALL_TYPES", "LOG_FPS", "LiveLog"]

#: The ``message_type`` of a log of every type.
ALL_TYPES: Final = "*"
#: A log is read, not watched: it is redrawn at most this often (its entries are the bulkiest
#: updates a view gets).
LOG_FPS: Final = 4.0


class LiveLog(LogTraits, DataView):
    """The last ``limit`` messages of ``type`` (``None``: of every type), shown newest first, each
    as pretty JSON text: searchable, with long names and values cut short and the whole text of an
    entry on demand. Server text is shown as text, never as HTML.

    Created by :meth:`RealtimeWidget.log`; the explorer makes one for every type that has no other
    view, so that no type is only a count.

    >>> log = w.log("heartbeat", limit=50)                  # doctest: +SKIP
    >>> log.entries[-1]["text"]                               # doctest: +SKIP
    '{"type": "heartbeat", "sequence": 90}'
    >>> w.log()                        # every type            # doctest: +SKIP
    """

    _bundled = False  # events: see DataView._bundled

    def __init__(
        self,
        connection: Connection,
        type: str | None = None,
        *,
        limit: int = 200,
        fps: float = 20,
        **kwargs: Any,
    ) -> None:
        reject_unknown("LiveLog", kwargs)
        if type is not None:
            check_type("type", type)
        check_positive_int("limit", limit)
        self._log = LogStore(limit)
        self._type = type
        super().__init__(self._log, connection, min(check_fps(fps), LOG_FPS),
                         ALL_TYPES if type is None else type)
        if type is None:
            self._unsubscribe.append(connection.on_any(Batched(self._on_any, self._on_any_many)))
        else:
            self._subscribe(type, Timed(self._on_message, self._on_messages))

    # -- I/O thread ---------------------------------------------------------------------------

    def _on_message(self, payload: Any, timestamp: float | str | None = None) -> None:
        assert self._type is not None
        self._log.add(self._type, payload, timestamp)
        self._changed()

    def _on_messages(self, payloads: list[Any], timestamps: list[Any] | None = None) -> None:
        assert self._type is not None
        self._log.add_many(self._type, payloads, timestamps)
        self._changed(len(payloads))

    def _on_any(self, type: str, payload: Any) -> None:
        self._log.add(type, payload)
        self._changed()

    def _on_any_many(self, type: str, payloads: list[Any]) -> None:
        self._log.add_many(type, payloads)
        self._changed(len(payloads))

    def _apply(self, payloads: list[Any]) -> None:
        self._log.add_many(self._type or "message", payloads)
        self._changed(len(payloads))

    def _answer_entry(self, id: int) -> None:
        if self._is_closed:
            return
        self.send({"kind": ENTRY, "id": id, "text": self._log.full(id)})
        get_frame_clock().spend()

    # -- any thread ---------------------------------------------------------------------------

    def _on_front_end(self, widget: Any, content: Any, buffers: Any) -> None:
        request = parse_entry_request(content)
        if request is not None:
            iothread.call_soon(self._answer_entry, request["id"])
        else:
            super()._on_front_end(widget, content, buffers)

    @property
    def type(self) -> str | None:
        """The type logged (``None``: every type)."""
        return self._type

    @property
    def limit(self) -> int:
        return self._log.limit

    @property
    def total(self) -> int:
        """Messages logged since the log was made (it keeps the last ``limit``)."""
        return read_on_io(lambda: self._log.total)

    @property
    def entries(self) -> list[dict[str, Any]]:
        """The kept entries, oldest first: ``{"id", "type", "time", "text", "truncated",
        "size"}`` (``text`` as the view shows it, cut short where it is long)."""
        return read_on_io(lambda: self._log.entries)

    def text(self, id: int) -> str | None:
        """The whole text of entry ``id`` (``None``: no longer kept)."""
        return read_on_io(lambda: self._log.full(id))

    def feed(self, payloads: Iterable[Any]) -> None:
        """Log ``payloads`` as messages of this log's type (``"message"`` for a log of every
        type), in order."""
        super().feed(payloads)

    def __len__(self) -> int:
        return read_on_io(lambda: len(self._log))

    def __bool__(self) -> bool:
        return True

    def __repr__(self) -> str:
        shown = "every type" if self._type is None else repr(self._type)
        return f"LiveLog({shown}, entries={len(self)}, limit={self.limit})"

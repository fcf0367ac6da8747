"""The views a RealtimeWidget made: one get-or-create for every kind, the explorer's tabs, and
closing them all with their owner."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Protocol, TypeVar

from ._base import log

__all__ = ["ChildViews"]


class Child(Protocol):
    @property
    def closed(self) -> bool: ...

    def close(self) -> None: ...


V = TypeVar("V", bound=Child)


class ChildViews:
    """Views by class and key (a table by its message type, notifications by their types...).

    :meth:`get_or_create` returns the open view of that class and key, or makes one; a closed view
    is replaced. :attr:`tabs` is what the explorer shows as tabs: per message type, the first open
    view made for it. Any thread; ``make`` runs under the lock, so two callers never make two views
    for one key.

    >>> views = ChildViews(on_tabs_changed=lambda: None, closed_message="closed")
    >>> views.get_or_create(LiveTable, "trade", lambda: LiveTable(conn, "trade"), tab="trade")
    ... # doctest: +SKIP
    (LiveTable(type='trade', key='id', rows=0, max_rows=10000), True)
    """

    def __init__(self, on_tabs_changed: Callable[[], None], closed_message: str, *,
                 on_new: Callable[[Child], None] | None = None) -> None:
        self._lock = threading.RLock()
        self._keyed: dict[tuple[type, Hashable], Child] = {}
        self._others: list[Child] = []
        self._tabs: dict[str, Child] = {}
        self._on_tabs_changed = on_tabs_changed
        self._closed_message = closed_message
        self._closed = False
        # Called with every view made or added (under the lock, before it is handed out).
        self._on_new = on_new

    def check_open(self) -> None:
        """Raise the ``closed_message`` RuntimeError once :meth:`close_all` ran."""
        if self._closed:
            raise RuntimeError(self._closed_message)

    def get_or_create(self, cls: type[V], key: Hashable, make: Callable[[], V], *,
                      tab: str | None = None,
                      check: Callable[[V], None] | None = None,
                      take_tab: bool = False) -> tuple[V, bool]:
        """The open ``cls`` view for ``key`` and ``False``, or a new one from ``make()`` and
        ``True``. ``check(existing)`` may raise when the existing view does not fit the request;
        a new view becomes the tab of ``tab`` unless that type already has an open one (or
        ``take_tab``: it replaces that one as the tab, a table found for a logged type, say)."""
        with self._lock:
            existing = self._keyed.get((cls, key))
            if isinstance(existing, cls) and not existing.closed:
                if check is not None:
                    check(existing)
                return existing, False
            self.check_open()
            view = make()
            if self._on_new is not None:
                self._on_new(view)
            self._keyed[(cls, key)] = view
            if tab is not None:
                current = self._tabs.get(tab)
                if current is None or current.closed or take_tab:
                    self._tabs[tab] = view
                    changed = True
                else:
                    changed = False
            else:
                changed = False
        if changed:
            self._on_tabs_changed()
        return view, True

    def add(self, view: V) -> V:
        """Keep a view that is never shared (a store, a status indicator) to close it with the
        rest."""
        with self._lock:
            self.check_open()
            if self._on_new is not None:
                self._on_new(view)
            self._others.append(view)
        return view

    def of(self, cls: type[V]) -> list[V]:
        """The open views of ``cls``."""
        with self._lock:
            return [v for v in self._keyed.values() if isinstance(v, cls) and not v.closed]

    @property
    def tabs(self) -> dict[str, Child]:
        """A copy of the explorer's tabs: message type -> view."""
        with self._lock:
            return dict(self._tabs)

    def close_all(self) -> None:
        """Close every view; from now on :meth:`get_or_create` and :meth:`add` raise."""
        with self._lock:
            self._closed = True
            views = [*self._keyed.values(), *self._others]
            self._keyed.clear()
            self._others.clear()
            self._tabs.clear()
        for view in views:
            try:
                view.close()
            except Exception:
                log.exception("rt_widgets: closing %r failed", view)

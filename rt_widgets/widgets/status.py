"""ConnectionStatus: a status indicator of any widget that syncs a connection's status."""

from __future__ import annotations

from typing import Any

from ._base import BaseWidget, reject_unknown
from ._contract import POSITIONS, ConnectionTraits, StatusTraits

__all__ = ["ConnectionStatus"]


class ConnectionStatus(StatusTraits, BaseWidget):
    """A status dot with the state, retry countdown, latency and the reconnect button.

    It shows the status traits of its ``source`` (a widget with the contract's
    ``ConnectionTraits``, such as a RealtimeWidget) and sends its button and browser events to
    that widget. ``position="fixed"`` pins it to a corner of the page.

    >>> w.status_indicator(details=False)                  # doctest: +SKIP
    """

    def __init__(self, source: ConnectionTraits, *, details: bool = True,
                 position: str = "inline", **kwargs: Any) -> None:
        reject_unknown("ConnectionStatus", kwargs)
        if not isinstance(source, ConnectionTraits) or not isinstance(source, BaseWidget):
            raise TypeError(f"source must be a widget with a connection's status (such as a "
                            f"RealtimeWidget), got {source!r}")
        if not isinstance(details, bool):
            raise ValueError(f"details must be True or False, got {details!r}")
        if position not in POSITIONS:
            raise ValueError(f"position must be one of {', '.join(POSITIONS)}, got {position!r}")
        super().__init__(source=source, details=details, position=position)

    def __repr__(self) -> str:
        return f"ConnectionStatus(details={self.details!r}, position={self.position!r})"

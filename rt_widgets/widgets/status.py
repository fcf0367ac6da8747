"""ConnectionStatus: the status indicator of a RealtimeWidget, displayable on its own."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import traitlets
from ipywidgets import widget_serialization

from ._base import BaseWidget, reject_unknown

if TYPE_CHECKING:
    from .realtime import RealtimeWidget

__all__ = ["ConnectionStatus"]

POSITIONS = ("inline", "fixed")


class ConnectionStatus(BaseWidget):
    """A status dot with the state, retry countdown, latency and the reconnect button.

    It shows the status traits of its ``source`` RealtimeWidget and sends its button and browser
    events through it. ``position="fixed"`` pins it to a corner of the page.

    >>> w.status_indicator(details=False)                  # doctest: +SKIP
    """

    _view = traitlets.Unicode("status").tag(sync=True)
    source = traitlets.Instance(BaseWidget, allow_none=True).tag(
        sync=True, echo_update=False, **widget_serialization)
    details = traitlets.Bool(True).tag(sync=True)
    position = traitlets.Enum(POSITIONS, "inline").tag(sync=True)

    def __init__(self, source: RealtimeWidget, *, details: bool = True,
                 position: str = "inline", **kwargs: Any) -> None:
        reject_unknown("ConnectionStatus", kwargs)
        if not isinstance(details, bool):
            raise ValueError(f"details must be True or False, got {details!r}")
        if position not in POSITIONS:
            raise ValueError(f"position must be one of {', '.join(POSITIONS)}, got {position!r}")
        super().__init__(source=source, details=details, position=position)

    def __repr__(self) -> str:
        return f"ConnectionStatus(details={self.details!r}, position={self.position!r})"

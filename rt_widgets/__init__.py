"""rt_widgets: live WebSocket data in Jupyter notebooks.

>>> from rt_widgets import RealtimeWidget
>>> w = RealtimeWidget("ws://127.0.0.1:8765/ws")  # doctest: +SKIP
>>> w  # doctest: +SKIP

The connection needs no Jupyter: ``from rt_widgets import Connection`` imports neither IPython,
ipywidgets nor anywidget (scripts, services and tests stay light). The widgets are imported the first
time one of their names is used.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .backoff import Backoff
from .connection import Connection, ConnectionState, LinkError
from .outbox import QueueFullError, SendHandle, SendState
from .protocol import Message
from .protocols.fields import Fields
from .recording import Recording

if TYPE_CHECKING:
    from .widgets import (
        ConnectionStatus,
        LiveChart,
        LiveLog,
        LiveMetrics,
        LiveStore,
        LiveSummary,
        LiveTable,
        Notifications,
        RealtimeWidget,
    )

__all__ = [
    "Backoff",
    "Connection",
    "ConnectionState",
    "ConnectionStatus",
    "Fields",
    "LinkError",
    "LiveChart",
    "LiveLog",
    "LiveMetrics",
    "LiveStore",
    "LiveSummary",
    "LiveTable",
    "Message",
    "Notifications",
    "QueueFullError",
    "RealtimeWidget",
    "Recording",
    "SendHandle",
    "SendState",
]

__version__ = "0.1.0"

# Public names served by a module that imports the Jupyter stack: loaded on first use.
_LAZY = {
    "ConnectionStatus": ".widgets",
    "LiveChart": ".widgets",
    "LiveLog": ".widgets",
    "LiveMetrics": ".widgets",
    "LiveStore": ".widgets",
    "LiveSummary": ".widgets",
    "LiveTable": ".widgets",
    "Notifications": ".widgets",
    "RealtimeWidget": ".widgets",
}


if not TYPE_CHECKING:  # type checkers see the imports above, and flag a misspelt name

    def __getattr__(name: str) -> Any:
        module = _LAZY.get(name)
        if module is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(import_module(module, __name__), name)
        globals()[name] = value  # later lookups are plain attribute reads
        return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

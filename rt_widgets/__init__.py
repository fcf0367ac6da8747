"""rt_widgets: live WebSocket data in Jupyter notebooks.

>>> from rt_widgets import RealtimeWidget
>>> w = RealtimeWidget("ws://127.0.0.1:8765/ws")  # doctest: +SKIP
>>> w  # doctest: +SKIP
"""

from .backoff import Backoff
from .connection import Connection, ConnectionState, LinkError
from .outbox import QueueFullError, SendHandle, SendState
from .protocol import Message
from .widgets import (
    ConnectionStatus,
    LiveMetrics,
    LiveStore,
    LiveTable,
    Notifications,
    RealtimeWidget,
)

__all__ = [
    "Backoff",
    "Connection",
    "ConnectionState",
    "ConnectionStatus",
    "LinkError",
    "LiveMetrics",
    "LiveStore",
    "LiveTable",
    "Message",
    "Notifications",
    "QueueFullError",
    "RealtimeWidget",
    "SendHandle",
    "SendState",
]

__version__ = "0.1.0"


"""The notebook widgets: a connection's explorer and status, and live tables, metrics,
notifications and stores fed by its messages."""

from .metrics import LiveMetrics
from .notifications import Notifications
from .realtime import RealtimeWidget
from .status import ConnectionStatus
from .store import LiveStore
from .table import LiveTable

__all__ = [
    "ConnectionStatus",
    "LiveMetrics",
    "LiveStore",
    "LiveTable",
    "Notifications",
    "RealtimeWidget",
]

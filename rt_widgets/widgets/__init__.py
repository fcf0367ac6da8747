"""The notebook widgets: a connection's explorer and status, and live tables, metrics,
notifications, charts and stores fed by its messages."""

from .chart import LiveChart
from .metrics import LiveMetrics
from .notifications import Notifications
from .realtime import RealtimeWidget
from .status import ConnectionStatus
from .store import LiveStore
from .table import LiveTable

__all__ = [
    "ConnectionStatus",
    "LiveChart",
    "LiveMetrics",
    "LiveStore",
    "LiveTable",
    "Notifications",
    "RealtimeWidget",
]

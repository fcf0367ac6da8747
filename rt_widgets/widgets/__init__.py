"""The notebook widgets: a connection's explorer and status, and live tables, metrics,
notifications, charts, message logs and stores fed by its messages."""

from .chart import LiveChart
from .log import LiveLog
from .metrics import LiveMetrics
from .notifications import Notifications
from .realtime import RealtimeWidget
from .status import ConnectionStatus
from .store import LiveStore
from .summary import LiveSummary
from .table import LiveTable

__all__ = [
    "ConnectionStatus",
    "LiveChart",
    "LiveLog",
    "LiveMetrics",
    "LiveStore",
    "LiveSummary",
    "LiveTable",
    "Notifications",
    "RealtimeWidget",
]

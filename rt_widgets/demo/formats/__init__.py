"""Local replicas of public market-data feeds, in their documented shapes (``python -m
rt_widgets.demo --format NAME``), to point rt_widgets at "real" data with no network.

Each replica speaks its service's message shapes, answers the subscription message the real
service expects and keeps the link alive the way the real one does; it is seeded and records the
exact bytes of every frame each way. :data:`CONFIG` holds, per format, the one line of rt_widgets
configuration that reads it, and :data:`SUBSCRIPTION` what to subscribe with::

    from rt_widgets import Connection
    from rt_widgets.demo.formats import FORMATS, FormatServer

    with FormatServer("binance", port=0, seed=1) as feed:
        fmt = FORMATS["binance"]
        conn = Connection(feed.url, **fmt.options())   # messages=Fields(type="data.e", ...)
        conn.subscribe(fmt.subscription[0])            # {"method": "SUBSCRIBE", "params": [..], "id": 1}
        conn.on("trade", print)
        conn.start()

========  ===========================================================================================
binance   Binance combined streams ``{"stream", "data": {"e": "trade", ...}}``, SUBSCRIBE/result, WS pings
coinbase  Coinbase Exchange ticker and heartbeat channels, subscribe within 5 s, ``sequence`` per product
kraken    Kraken v2 ``{"channel", "type", "data": [..]}``, subscribe/result, idle heartbeat, ping/pong
kraken1   Kraken v1 arrays ``[channelID, payload, name, pair]``, subscriptionStatus, heartbeat, ping/pong
bitmex    BitMEX orderBookL2 partial/insert/update/delete and trades, text ``ping``/``pong``
finnhub   Finnhub ``{"type": "trade", "data": [..]}``, token in the URL, server ``{"type": "ping"}``
polygon   Polygon/Massive top-level arrays ``[{"ev": "T", ...}]``, auth then subscribe
========  ===========================================================================================
"""

from __future__ import annotations

from typing import Any

from ._core import Format, Out, Session, Update
from ._server import FormatServer, Frame
from .binance import Binance
from .bitmex import BitMEX
from .coinbase import Coinbase
from .finnhub import Finnhub
from .kraken import Kraken
from .kraken1 import KrakenV1
from .polygon import Polygon

__all__ = ["CONFIG", "FORMATS", "SUBSCRIPTION", "Format", "FormatServer", "Frame", "Out", "Session",
           "Update"]

#: Every replica by name.
FORMATS: dict[str, type[Format]] = {
    cls.name: cls for cls in (Binance, Coinbase, Kraken, KrakenV1, BitMEX, Finnhub, Polygon)
}

#: Per format, the one line of rt_widgets configuration (``Connection``/``RealtimeWidget`` keyword
#: arguments) that reads it; ``FORMATS[name].options()`` builds those arguments from this text.
CONFIG: dict[str, str] = {name: cls.config for name, cls in FORMATS.items()}

#: Per format, the subscription frames its real service expects, in order.
SUBSCRIPTION: dict[str, tuple[Any, ...]] = {name: cls.subscription for name, cls in FORMATS.items()}
